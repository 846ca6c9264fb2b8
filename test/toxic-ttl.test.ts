// Faults that heal themselves: a top-level `ttl` (ms) on create or update, `expires_at` in the
// JSON, removal on expiry with a 'toxic:expired' event, extension and clearing by update, 400
// on a bad ttl, and Toxiproxy clients that never send one are unaffected.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lag } from './_helpers/lag.js';
import { performance } from 'node:perf_hooks';
import { sleep } from './_helpers/net.js';
import { connectRig, until, withFaultRig, type FaultRig } from './_helpers/faults.js';

const path = (name: string) => `/proxies/p/toxics/${name}`;
const get = (rig: FaultRig, name: string) => rig.server.api('GET', path(name));
const expiredAt = (rig: FaultRig, name: string) => rig.changes.find((c) => c.kind === 'toxic:expired' && c.toxic === name)?.at;

/** Asserts `iso` is an ISO-8601 instant `ttl` ms after a request made between `from` and `to`. */
function assertExpiry(iso: unknown, from: number, to: number, ttl: number): void {
  assert.type(iso, 'string');
  assert.match(iso as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const at = Date.parse(iso as string);
  assert.ok(at >= from + ttl && at <= to + ttl, `expires_at ${iso} is not ${ttl} ms after the request`);
}

test('ttl 300: expires_at ~300 ms ahead, the effect stops on a live connection, the toxic is gone', () =>
  withFaultRig({}, async (rig) => {
    const client = await connectRig(rig);
    const from = Date.now();
    const t0 = performance.now();
    const created = await rig.toxic({ name: 'cut', type: 'partition', stream: 'upstream', ttl: 300 });
    const to = Date.now();
    assert.equal(Object.keys(created), ['attributes', 'name', 'type', 'stream', 'toxicity', 'expires_at']);
    assertExpiry(created.expires_at, from, to, 300);
    const shown = await get(rig, 'cut');
    assert.equal(shown.json, created);
    assert.equal((await rig.server.api('GET', '/proxies/p')).json.toxics, [created]);
    client.write('held until the ttl runs out');
    await sleep(150);
    assert.is(rig.bytes[0], 0, 'the partition is not in effect');
    await until(() => rig.bytes[0]! > 0, 1000, 'data after expiry');
    const healed = performance.now() - t0;
    assert.is(rig.data(0).toString(), 'held until the ttl runs out');
    const gone = await get(rig, 'cut');
    assert.is(gone.status, 404);
    assert.is(gone.json.error, 'toxic not found');
    assert.equal((await rig.server.api('GET', '/proxies/p/toxics')).json, []);
    const expired = rig.changes.filter((c) => c.kind === 'toxic:expired');
    assert.equal(expired.map((c) => c.toxic), ['cut']);
    assert.not.ok(rig.changes.some((c) => c.kind === 'toxic:removed'), 'an expiry is not reported as a removal');
    const ms = expiredAt(rig, 'cut')! - t0;
    console.log(`  ttl 300: expired after ${ms.toFixed(1)} ms, held data arrived after ${healed.toFixed(1)} ms`);
    // expires_at has millisecond resolution on the wall clock, hence 298.
    assert.ok(ms >= 298 && ms < 420 + lag.worst(), `expired after ${ms.toFixed(1)} ms, want ~300 (timer lag ${lag.worst()} ms)`);
    assert.ok(healed >= ms && healed < ms + 100, `data arrived ${healed.toFixed(1)} ms in, expiry at ${ms.toFixed(1)}`);
    client.destroy();
  }));

test('an update with a larger ttl extends it; one without ttl keeps it', () => withFaultRig({}, async (rig) => {
  const t0 = performance.now();
  const created = await rig.toxic({ name: 'slow', type: 'latency', attributes: { latency: 5 }, ttl: 200 });
  // An update that does not mention ttl (as any Toxiproxy client's) leaves the expiry alone.
  const kept = await rig.patch('slow', { attributes: { latency: 6 } });
  assert.is(kept.status, 200, kept.text);
  assert.is(kept.json.expires_at, created.expires_at);
  const from = Date.now();
  const sentAt = performance.now();
  const extended = await rig.patch('slow', { ttl: 600 });
  const to = Date.now();
  const patchedAt = performance.now();
  assert.is(extended.status, 200, extended.text);
  assertExpiry(extended.json.expires_at, from, to, 600);
  assert.is(extended.json.attributes.latency, 6);
  await sleep(350 - (performance.now() - t0));
  const still = await get(rig, 'slow');
  assert.is(still.status, 200, 'expired at the original ttl despite the extension');
  assert.is(still.json.expires_at, extended.json.expires_at);
  await until(() => expiredAt(rig, 'slow') !== undefined, 1500, 'expiry');
  // The server counts the ttl from when it handled the request: somewhere between sending it and
  // the answer (which waits for the change to be on disk).
  const ms = expiredAt(rig, 'slow')! - sentAt;
  const sinceAnswer = expiredAt(rig, 'slow')! - patchedAt;
  assert.ok(ms >= 590 && sinceAnswer < 720 + lag.worst(), `expired ${ms.toFixed(1)} ms after the extension was sent, ${sinceAnswer.toFixed(1)} ms after its answer, want ~600 (timer lag ${lag.worst()} ms)`);
  assert.is((await get(rig, 'slow')).status, 404);
}));

test('an update with ttl null or 0 clears it: no expires_at, still there after the old ttl', () => withFaultRig({}, async (rig) => {
  await rig.toxic({ name: 'a', type: 'latency', ttl: 200 });
  await rig.toxic({ name: 'b', type: 'latency', stream: 'upstream', ttl: 200 });
  const a = await rig.patch('a', { ttl: null });
  const b = await rig.patch('b', { ttl: 0 });
  for (const res of [a, b]) {
    assert.is(res.status, 200, res.text);
    assert.equal(Object.keys(res.json), ['attributes', 'name', 'type', 'stream', 'toxicity']);
  }
  await sleep(350);
  for (const name of ['a', 'b']) {
    const res = await get(rig, name);
    assert.is(res.status, 200, `${name} expired after its ttl was cleared`);
    assert.is(res.json.expires_at, undefined);
  }
  assert.not.ok(rig.changes.some((c) => c.kind === 'toxic:expired'));
  // And a cleared toxic can be given a ttl again.
  const again = await rig.patch('a', { ttl: 100 });
  assert.type(again.json.expires_at, 'string');
  await until(() => expiredAt(rig, 'a') !== undefined, 1000, 'the re-armed ttl');
}));

test('a bad ttl is a 400 naming ttl, on create and on update, and changes nothing', () => withFaultRig({}, async (rig) => {
  for (const ttl of [-1, 1.5, 'x', true, {}, [], 2 ** 31]) {
    const res = await rig.server.toxic('p', { name: 'bad', type: 'latency', ttl });
    assert.is(res.status, 400, `ttl ${JSON.stringify(ttl)}: ${res.text}`);
    assert.is(res.json.status, 400);
    assert.match(res.json.error, /\bttl\b/, `ttl ${JSON.stringify(ttl)}: ${res.json.error}`);
  }
  assert.equal((await rig.server.api('GET', '/proxies/p/toxics')).json, [], 'a rejected create left a toxic');
  const created = await rig.toxic({ name: 'ok', type: 'latency', ttl: 60_000 });
  for (const ttl of [-1, 1.5, 'x']) {
    const res = await rig.patch('ok', { ttl, attributes: { latency: 99 } });
    assert.is(res.status, 400, `update ttl ${JSON.stringify(ttl)}: ${res.text}`);
    assert.match(res.json.error, /\bttl\b/);
  }
  assert.equal((await get(rig, 'ok')).json, created, 'a rejected update changed the toxic');
  // 0 and null on create mean no ttl at all.
  for (const [name, ttl] of [['zero', 0], ['null', null]] as const) {
    const res = await rig.server.toxic('p', { name, type: 'latency', ttl });
    assert.is(res.status, 200, res.text);
    assert.is(res.json.expires_at, undefined, `ttl ${ttl} on create`);
  }
}));

test('Toxiproxy clients that send no ttl see the exact Toxiproxy JSON and no expiry', () => withFaultRig({}, async (rig) => {
  const res = await rig.server.toxic('p', { name: 'tp', type: 'latency', attributes: { latency: 10 } });
  assert.is(res.text, '{"attributes":{"latency":10,"jitter":0},"name":"tp","type":"latency","stream":"downstream","toxicity":1}');
  const updated = await rig.patch('tp', { attributes: { latency: 20 }, toxicity: 0.5 });
  assert.is(updated.text, '{"attributes":{"latency":20,"jitter":0},"name":"tp","type":"latency","stream":"downstream","toxicity":0.5}');
  const proxy = await rig.server.api('GET', '/proxies/p');
  assert.equal(proxy.json.toxics, [updated.json]);
  assert.is(rig.changes.filter((c) => c.kind === 'toxic:expired').length, 0);
}));

test.run();
