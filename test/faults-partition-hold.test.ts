// A full partition (partition toxics on both streams) holds new connections: accepted, not
// forwarded, reported as held, and released when it heals. Toxicity is rolled per connection
// from the seeded source, the same roll the connection's own stages make.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Random } from '../src/random.js';
import { connect, readBytes, sleep } from './_helpers/net.js';
import { watchClose, within } from './_helpers/toxics.js';
import { until, withFaultRig, type FaultRig } from './_helpers/faults.js';

const echo = (s: net.Socket) => s.pipe(s);

test('full partition: a new connection is held and reported, forwarded when it heals, then flows', () =>
  withFaultRig({ onSocket: echo }, async (rig) => {
    await rig.toxic({ name: 'up', type: 'partition', stream: 'upstream' });
    await rig.toxic({ name: 'down', type: 'partition', stream: 'downstream' });
    const t0 = performance.now();
    const client = await within(connect(rig.port), 1000, 'client connect');
    assert.ok(performance.now() - t0 < 200, 'the client is accepted at once');
    const closed = watchClose(client);
    client.write('hello');
    await sleep(300);
    assert.is(rig.bytes.length, 0, 'the upstream saw a connection through a full partition');
    const conn = rig.events[0]?.conn ?? '';
    const client0 = `127.0.0.1:${client.localPort}`;
    const seen = () => rig.events.map((e) => [e.toxic, e.stream, e.action, e.detail, e.conn, e.client]);
    assert.equal(seen(), [
      ['up', 'upstream', 'held', { connection: true }, conn, client0],
      ['down', 'downstream', 'held', { connection: true }, conn, client0],
    ]);
    // Half healed: the connection goes through, and only the server's reply is held.
    assert.is(await rig.remove('up'), 204);
    const heldFor = performance.now() - t0;
    await until(() => (rig.bytes[0] ?? 0) >= 5, 1000, 'client data after the upstream heals');
    assert.is(rig.data(0).toString(), 'hello');
    await sleep(200);
    assert.is(closed.bytes, 0, 'the reply crossed the downstream partition');
    const ms = Number(rig.events[2]?.detail.ms);
    assert.ok(ms >= 300 && ms <= heldFor + 1, `released after ${ms} ms, want 300 to ${heldFor.toFixed(0)}`);
    // The same connection id throughout: the hold, its release, and its stage holding data.
    assert.equal(seen().slice(2), [
      ['up', 'upstream', 'released', { connection: true, ms }, conn, client0],
      ['down', 'downstream', 'released', { connection: true, ms }, conn, client0],
      ['down', 'downstream', 'held', { bytes: 5 }, conn, client0],
    ]);
    const reply = readBytes(client, 5);
    assert.is(await rig.remove('down'), 204);
    assert.is((await within(reply, 1000, 'reply after the heal')).toString(), 'hello');
    assert.not.ok(closed.settled, `client saw ${closed.kind}`);
    client.destroy();
  }));

const N = 40;
const SEED = 7;

/**
 * One letter per connection, in connection order: H held, U or D forwarded with only the
 * upstream or downstream partition active on it, - forwarded with neither, B forwarded with both
 * (which would be a connection the proxy let through a partition its stages then enforce).
 */
async function holdPattern(rig: FaultRig, clients: net.Socket[]): Promise<string> {
  const index = new Map(clients.map((c, i) => [`127.0.0.1:${c.localPort}`, i]));
  const letters: string[] = Array(clients.length).fill('?');
  for (const e of rig.events) if (e.action === 'held') letters[index.get(e.client)!] = 'H';
  const live = (await rig.server.api('GET', '/connections')).json.proxies[0].connections;
  for (const c of live as { client: string; toxics: { upstream: string[]; downstream: string[] } }[]) {
    const up = c.toxics.upstream.includes('up');
    const down = c.toxics.downstream.includes('down');
    letters[index.get(c.client)!] = up && down ? 'B' : up ? 'U' : down ? 'D' : '-';
  }
  return letters.join('');
}

/** Connects N clients through a partition of toxicity 0.5 on both streams; heals with toxicity 0. */
async function seededRun(heal: boolean): Promise<string> {
  let pattern = '';
  await withFaultRig({ seed: SEED }, async (rig) => {
    await rig.toxic({ name: 'up', type: 'partition', stream: 'upstream', toxicity: 0.5 });
    await rig.toxic({ name: 'down', type: 'partition', stream: 'downstream', toxicity: 0.5 });
    const clients: net.Socket[] = [];
    // One at a time, so client i is the proxy's connection i, whose rolls are named after i.
    for (let i = 0; i < N; i++) clients.push(await connect(rig.port));
    await until(() => rig.bytes.length + rig.count('held') / 2 === N, 3000, 'every connection forwarded or held');
    await sleep(200);
    pattern = await holdPattern(rig, clients);
    const held = pattern.split('H').length - 1;
    assert.is(rig.bytes.length, N - held, 'a held connection reached the upstream');
    assert.is(rig.count('held'), 2 * held, 'one held event per partition toxic and held connection');
    if (heal) {
      // Toxicity 0: no connection rolls the partition any more, so every held one is released.
      for (const name of ['up', 'down']) assert.is((await rig.patch(name, { toxicity: 0 })).status, 200);
      await until(() => rig.bytes.length === N, 2000, 'held connections forwarded at toxicity 0');
      assert.is(rig.count('released'), 2 * held);
      for (let i = 0; i < 5; i++) clients.push(await connect(rig.port));
      await until(() => rig.bytes.length === N + 5, 2000, 'new connections forwarded at toxicity 0');
      assert.is(rig.count('held'), 2 * held, 'a connection was held at toxicity 0');
    }
    for (const c of clients) c.destroy();
  });
  return pattern;
}

test('partition toxicity is rolled per connection, seeded: some held, the same ones each run', async () => {
  const first = await seededRun(true);
  // The proxy's rolls, recomputed: proxy p's fork, then one stream per connection and toxic.
  const rolls = new Random(SEED).fork('proxy/p');
  const on = (i: number, stream: string, toxic: string) => rolls.fork(`${i}/${stream}/${toxic}`).chance(0.5);
  const expected = Array.from({ length: N }, (_, i) => {
    const up = on(i, 'upstream', 'up');
    const down = on(i, 'downstream', 'down');
    return up && down ? 'H' : up ? 'U' : down ? 'D' : '-';
  }).join('');
  console.log(`  partition 0.5/0.5 over ${N} connections, seed ${SEED}: ${first}`);
  assert.is(first, expected);
  const held = first.split('H').length - 1;
  assert.ok(held > 0 && held < N, `${held} of ${N} held`);
  assert.is(await seededRun(false), first, 'the same seed held different connections');
});

test.run();
