// The client's toxic methods come from the registry (toxics/index.ts): one camelCase method per
// toxic type, with its attribute types, so a toxic added there cannot be missing from the
// client. These tests fail if the two ever disagree, at compile time where types can tell.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TOXICS, TOXICS_BY_TYPE } from '../toxics/index.js';
import { startFaultline, type BaseProxyHandle, type ToxicMethodName, type ToxicType } from '../src/index.js';
import { camelCase, TOXIC_METHODS, TOXIC_TYPES } from '../src/client/toxic-types.js';
import { echoServer } from './_helpers/net.js';

/** True only when A and B are the same type. */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;

test('the registry is keyed by each toxic\'s wire name, in the catalog\'s order', () => {
  for (const [key, definition] of Object.entries(TOXICS_BY_TYPE)) assert.is(definition.type, key, `registry key ${key}`);
  assert.equal(TOXICS.map((t) => t.type), Object.keys(TOXICS_BY_TYPE));
  assert.equal(TOXIC_TYPES, TOXICS.map((t) => t.type));
});

test('one method per toxic type, named in camelCase', () => {
  assert.equal([...TOXIC_METHODS.keys()], TOXICS.map((t) => t.type));
  assert.equal([...TOXIC_METHODS.values()], TOXICS.map((t) => camelCase(t.type)));
  assert.is(camelCase('slow_close'), 'slowClose');
  assert.is(camelCase('reset_peer'), 'resetPeer');
  assert.is(camelCase('a_b_c'), 'aBC');
  // The types agree with the run time: the method names the compiler knows are these.
  const names: Record<ToxicMethodName, ToxicType> = {
    latency: 'latency', bandwidth: 'bandwidth', slowClose: 'slow_close', timeout: 'timeout', resetPeer: 'reset_peer',
    slicer: 'slicer', limitData: 'limit_data', packetLoss: 'packet_loss', duplicate: 'duplicate', reorder: 'reorder',
    corrupt: 'corrupt', halfOpen: 'half_open', partition: 'partition', slowOpen: 'slow_open', limitTime: 'limit_time',
    httpAbort: 'http_abort', httpDelay: 'http_delay', httpReset: 'http_reset', noop: 'noop',
  };
  assert.equal(new Map(Object.entries(names).map(([m, t]) => [t, m])), TOXIC_METHODS);
  const noClash: Same<Extract<ToxicMethodName, keyof BaseProxyHandle>, never> = true;
  assert.ok(noClash, 'no toxic method shadows a member of the proxy handle');
});

test("the README's Library section names every toxic method", () => {
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  const library = readme.slice(readme.indexOf('\n## Library\n'), readme.indexOf('\n## Recipes\n'));
  assert.ok(library.length > 100, 'README.md has a Library section followed by Recipes');
  const missing = [...TOXIC_METHODS.values()].filter((m) => !new RegExp(`\`${m}[\`(]`).test(library));
  assert.equal(missing, [], `toxic methods the Library section does not name: ${missing.join(', ')}`);
});

test('every method exists on a live proxy handle and adds a toxic of its type', async () => {
  const faultline = await startFaultline();
  const echo = await echoServer();
  try {
    const proxy = await faultline.proxy({ upstream: echo.address });
    for (const [type, method] of TOXIC_METHODS) {
      const fn = (proxy as unknown as Record<string, (o: object) => Promise<{ type: string; attributes: object }>>)[method];
      assert.type(fn, 'function', `proxy.${method}`);
      const definition = TOXICS_BY_TYPE[type];
      if (!definition.protocols.includes('tcp')) continue;
      const toxic = await fn!.call(proxy, { name: `t-${type}` });
      assert.is(toxic.type, type);
      assert.equal(Object.keys(toxic.attributes).sort(),
        Object.entries(definition.attributes).filter(([, spec]) => spec.protocols?.includes('tcp') ?? true).map(([k]) => k).sort());
    }
    assert.is((await proxy.toxics()).length, TOXICS.filter((t) => t.protocols.includes('tcp')).length);
  } finally {
    await faultline.close();
    await echo.close();
  }
});

test('attribute types follow the definitions (checked by the compiler)', async () => {
  const faultline = await startFaultline();
  try {
    const proxy = await faultline.proxy({ upstream: '127.0.0.1:9' });
    const loss = await proxy.packetLoss({ mode: 'retransmit', model: 'gilbert_elliott', p: 0.1 });
    const mode: 'drop' | 'retransmit' = loss.attributes.mode;
    assert.is(mode, 'retransmit');
    const slicer = await proxy.slicer({ average_size: 10, size_variation: 2 });
    const size: number = slicer.attributes.average_size;
    assert.is(size, 10);
    const limit = await proxy.limitTime();
    assert.is(limit.attributes.duration, 60_000);
    // @ts-expect-error -- mode is 'drop' | 'retransmit'
    void (() => proxy.packetLoss({ mode: 'sometimes' }));
    // @ts-expect-error -- latency is a number
    void (() => proxy.latency({ latency: '100ms' }));
    // @ts-expect-error -- drop is a boolean
    void (() => proxy.partition({ drop: 1 }));
    // @ts-expect-error -- stream is upstream or downstream
    void (() => proxy.timeout({ stream: 'both' }));
    // @ts-expect-error -- slow_close has delay, not latency
    void (() => proxy.slowClose({ latency: 1 }));
    // @ts-expect-error -- a spec names a known type
    void (() => proxy.addToxic({ type: 'lag' }));
    // @ts-expect-error -- and takes only that type's attributes
    void (() => proxy.addToxic({ type: 'bandwidth', latency: 1 }));
  } finally {
    await faultline.close();
  }
});

test.run();
