// One contract suite, run against every toxic in the registry: whatever a toxic does, its API
// surface, its validation, toxicity 0 and live changes must behave the same way. A new toxic
// joins these tests by being listed in TOXICS and given a fixture in VISIBLE (and in LIVE if it
// never drops data by design). Request toxics (HTTP) have their own suite in
// http-toxic-contract.test.ts.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { lag } from './_helpers/lag.js';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { TOXICS } from '../toxics/index.js';
import { isDnsToxic, isRequestToxic, type AnyToxicDefinition, type AttributeSpec, type Attributes } from '../src/toxic.js';
import { connect, pattern, readAll, sleep, startServer, tcpServer, type TestServer, type Upstream } from './_helpers/net.js';
import { mismatch, sequenced, within } from './_helpers/toxics.js';

/** Attributes under which each toxic would be impossible to miss if it applied. */
const VISIBLE: Record<string, Attributes> = {
  latency: { latency: 1000 },
  bandwidth: { rate: 1 },
  slow_close: { delay: 1000 },
  timeout: { timeout: 50 },
  reset_peer: { timeout: 0 },
  slicer: { average_size: 1, size_variation: 0, delay: 1000 },
  limit_data: { bytes: 1 },
  packet_loss: { loss_rate: 1 },
  duplicate: { probability: 1 },
  reorder: { probability: 1, gap: 1, max_delay: 1000 },
  corrupt: { probability: 1, bits: 8 },
  half_open: {},
  partition: { drop: false },
  slow_open: { delay: 1000 },
  limit_time: { duration: 1 },
  noop: {},
};

/** Toxics that never drop data on purpose: attributes to add them with, and an update. */
const LIVE: Record<string, { attributes: Attributes; update: Attributes }> = {
  latency: { attributes: { latency: 20, jitter: 5 }, update: { latency: 40 } },
  bandwidth: { attributes: { rate: 1000 }, update: { rate: 2000 } },
  slow_close: { attributes: { delay: 20 }, update: { delay: 50 } },
  slicer: { attributes: { average_size: 256, size_variation: 128, delay: 200 }, update: { average_size: 512, size_variation: 64 } },
  // Retransmit mode stalls lost chunks instead of dropping them.
  packet_loss: { attributes: { loss_rate: 0.3, mode: 'retransmit', rto: 5 }, update: { loss_rate: 0.1, rto: 10 } },
  // Held data is delivered in order once the partition is removed.
  partition: { attributes: { drop: false }, update: { drop: false } },
  slow_open: { attributes: { delay: 50 }, update: { delay: 100 } },
  limit_time: { attributes: { duration: 60_000 }, update: { duration: 120_000 } },
  noop: { attributes: {}, update: {} },
};

// The list of toxics with no meaning on datagrams; every other toxic applies to both.
const TCP_ONLY = ['slow_close', 'slicer', 'half_open', 'reset_peer', 'limit_time', 'slow_open'];

type Ctx = { server: TestServer; echo: Upstream; upstreamErrors: string[] };

/** The attributes a toxic has on a TCP proxy, where this suite runs: UDP-only ones are left out. */
function specs(def: AnyToxicDefinition): [string, AttributeSpec][] {
  return (Object.entries(def.attributes) as [string, AttributeSpec][]).filter(([, s]) => !s.protocols || s.protocols.includes('tcp'));
}

function assertNamesField(res: { status: number; json: any; text: string }, field: string, what: string): void {
  assert.is(res.status, 400, `${what}: ${res.text}`);
  assert.is(res.json?.status, 400, `${what}: ${res.text}`);
  assert.type(res.json?.error, 'string', what);
  assert.match(res.json.error, new RegExp(`\\b${field}\\b`), `${what}: error should name ${field}: ${res.json.error}`);
}

function contract(def: AnyToxicDefinition): void {
  const type = def.type;
  const t = suite<Ctx>(`toxic contract: ${type}`, {} as Ctx);
  let proxies = 0;
  const newProxy = async (ctx: Ctx) => {
    const name = `${type}-${++proxies}`;
    return { name, port: await ctx.server.proxy(name, ctx.echo.address), path: `/proxies/${name}/toxics` };
  };

  t.before(async (ctx) => {
    ctx.upstreamErrors = [];
    ctx.server = await startServer();
    ctx.echo = await tcpServer((s) => {
      s.on('error', (e: NodeJS.ErrnoException) => ctx.upstreamErrors.push(e.code ?? e.message));
      s.pipe(s);
    });
  });
  t.after(async (ctx) => {
    await ctx.server?.close();
    await ctx.echo?.close();
  });

  t('(a) created with no attributes, GET shows every attribute with its declared default', async (ctx) => {
    const p = await newProxy(ctx);
    const expected: Attributes = {};
    for (const [name, spec] of specs(def)) expected[name] = spec.default;
    const created = await ctx.server.toxic(p.name, { type });
    assert.is(created.status, 200, created.text);
    assert.equal(created.json.attributes, expected);
    const got = await ctx.server.api('GET', `${p.path}/${type}_downstream`);
    assert.is(got.status, 200, got.text);
    assert.equal(got.json, { attributes: expected, name: `${type}_downstream`, type, stream: 'downstream', toxicity: 1 });
    assert.equal(Object.keys(got.json.attributes).sort(), specs(def).map(([name]) => name).sort());
  });

  t('(b) a negative, a string or a fractional value gives 400 naming the attribute', async (ctx) => {
    const p = await newProxy(ctx);
    const numeric = specs(def).filter(([, s]) => s.kind === 'integer' || s.kind === 'number');
    for (const [name, spec] of numeric) {
      const bad: unknown[] = [-1, String(Number(spec.default) + 1), ...(spec.kind === 'integer' ? [1.5] : [])];
      for (const value of bad) {
        const what = `create ${type} with ${name}=${JSON.stringify(value)}`;
        assertNamesField(await ctx.server.toxic(p.name, { type, attributes: { [name]: value } }), name, what);
      }
    }
    const none = await ctx.server.api('GET', p.path);
    assert.equal(none.json, [], 'a rejected create must not leave a toxic behind');
    // The same checks hold when an update merges the bad value into a valid toxic.
    assert.is((await ctx.server.toxic(p.name, { type, name: 'ok' })).status, 200);
    const before = (await ctx.server.api('GET', `${p.path}/ok`)).json;
    for (const [name] of numeric) {
      const what = `update ${type} with ${name}=-1`;
      assertNamesField(await ctx.server.api('PATCH', `${p.path}/ok`, { attributes: { [name]: -1 } }), name, what);
    }
    assert.equal((await ctx.server.api('GET', `${p.path}/ok`)).json, before, 'a rejected update changes nothing');
  });

  t('(c) toxicity 0 on both streams has no effect: intact, fast, FIN, removal harmless', async (ctx) => {
    const attributes = VISIBLE[type];
    assert.ok(attributes !== undefined, `add a VISIBLE fixture for ${type}`);
    const p = await newProxy(ctx);
    for (const stream of ['upstream', 'downstream']) {
      const res = await ctx.server.toxic(p.name, { type, name: `${type}_${stream}`, stream, toxicity: 0, attributes });
      assert.is(res.status, 200, res.text);
      assert.is(res.json.toxicity, 0);
    }
    const errorsBefore = ctx.upstreamErrors.length;
    const other = await connect(p.port);
    const client = await connect(p.port);
    const closed = new Promise<boolean>((resolve) => client.once('close', resolve));
    const data = pattern(200_000, 7);
    const start = performance.now();
    const got = readAll(client);
    client.end(data);
    const reply = await within(got, 5000, `${type} at toxicity 0`);
    const ms = performance.now() - start;
    assert.is(mismatch(reply, data), null);
    assert.ok(ms < 700 + lag.worst(), `${type} at toxicity 0 took ${ms.toFixed(0)} ms for 200 KB (timer lag ${lag.worst()} ms)`);
    assert.is(await closed, false, 'the client socket closed with an error');
    // Removing an inactive toxic is a no-op too (an active timeout would close the connection).
    for (const stream of ['upstream', 'downstream']) {
      assert.is((await ctx.server.api('DELETE', `${p.path}/${type}_${stream}`)).status, 204);
    }
    const small = pattern(1000, 1);
    const otherReply = readAll(other);
    other.end(small);
    assert.is(mismatch(await within(otherReply, 2000, `${type} after removal`), small), null);
    await sleep(20);
    assert.equal(ctx.upstreamErrors.slice(errorsBefore), [], 'the upstream saw an error (reset?)');
  });

  const live = LIVE[type];
  if (live !== undefined) {
    t('(d) update and removal mid-transfer lose and reorder nothing', async (ctx) => {
      const p = await newProxy(ctx);
      const client = await connect(p.port);
      const streams = ['upstream', 'downstream'];
      for (const stream of streams) {
        const res = await ctx.server.toxic(p.name, { type, name: `${type}_${stream}`, stream, attributes: live.attributes });
        assert.is(res.status, 200, res.text);
      }
      const writes = 120;
      const words = 512;
      const got = readAll(client);
      await transfer(client, writes, words, async (i) => {
        if (i === writes / 3) {
          for (const stream of streams) {
            const res = await ctx.server.api('PATCH', `${p.path}/${type}_${stream}`, { attributes: live.update });
            assert.is(res.status, 200, res.text);
          }
        } else if (i === (2 * writes) / 3) {
          for (const stream of streams) {
            const res = await ctx.server.api('DELETE', `${p.path}/${type}_${stream}`);
            assert.is(res.status, 204, res.text);
          }
        }
      });
      client.end();
      const reply = await within(got, 8000, `${type} transfer`);
      assert.is(mismatch(reply, sequenced(writes * words)), null);
      assert.equal((await ctx.server.api('GET', p.path)).json, []);
    });
  }

  t('(e) protocols are declared and GET /toxics reports them with the attributes', async (ctx) => {
    assert.ok(def.protocols.length > 0, 'no protocols declared');
    assert.is(new Set(def.protocols).size, def.protocols.length, 'duplicate protocols');
    for (const proto of def.protocols) assert.ok(proto === 'tcp' || proto === 'udp', `unknown protocol ${proto}`);
    assert.equal([...def.protocols], TCP_ONLY.includes(type) ? ['tcp'] : ['tcp', 'udp']);
    // And the server enforces it: a UDP proxy takes exactly the toxics that declare udp.
    const udp = await ctx.server.api('POST', '/proxies', { name: `udp_${type}`, protocol: 'udp', listen: '127.0.0.1:0', upstream: '127.0.0.1:9' });
    assert.is(udp.status, 201, udp.text);
    const added = await ctx.server.toxic(`udp_${type}`, { type, toxicity: 0 });
    if (TCP_ONLY.includes(type)) {
      assert.is(added.status, 400, added.text);
      assert.match(added.json.error, new RegExp(`${type}.*udp`));
    } else {
      assert.is(added.status, 200, added.text);
    }
    const res = await ctx.server.api('GET', '/toxics');
    assert.is(res.status, 200, res.text);
    const entries = (res.json as any[]).filter((e) => e.type === type);
    assert.is(entries.length, 1, `GET /toxics lists ${type} ${entries.length} times`);
    const entry = entries[0];
    assert.equal(entry.protocols, [...def.protocols]);
    assert.equal(Object.keys(entry.attributes).sort(), Object.keys(def.attributes).sort());
    for (const [name, spec] of specs(def)) {
      assert.is(entry.attributes[name].default, spec.default, `${type}.${name} default`);
      assert.is(entry.attributes[name].kind, spec.kind, `${type}.${name} kind`);
      if ('unit' in spec) assert.is(entry.attributes[name].unit, spec.unit, `${type}.${name} unit`);
    }
  });

  t.run();
}

/** Writes `writes` sequenced blocks of `words` counters, 1 ms apart, calling `at(i)` before each. */
async function transfer(client: net.Socket, writes: number, words: number, at: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < writes; i++) {
    await at(i);
    client.write(sequenced(words, i * words));
    await sleep(1);
  }
}

const registry = suite('toxic contract: registry');
registry('TOXICS has unique types, and GET /toxics lists exactly them', async () => {
  const types = TOXICS.map((d) => d.type);
  assert.is(new Set(types).size, types.length);
  for (const t of ['latency', 'bandwidth', 'slow_close', 'timeout', 'reset_peer', 'slicer', 'limit_data', 'noop']) {
    assert.ok(types.includes(t), `missing ${t}`);
  }
  const server = await startServer();
  try {
    const res = await server.api('GET', '/toxics');
    assert.equal((res.json as any[]).map((e) => e.type), types);
  } finally {
    await server.close();
  }
});
registry.run();

for (const def of TOXICS.filter((d) => !isRequestToxic(d) && !isDnsToxic(d))) contract(def);
