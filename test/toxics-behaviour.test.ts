// Each toxic's own behaviour over real sockets, per the Toxiproxy fact sheet (section 2.2) and
// the issue: slow_close, timeout, reset_peer, slicer, limit_data, noop, and a toxic added to
// and removed from a live connection. Latency and bandwidth accuracy are in toxics-timing.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lag } from './_helpers/lag.js';
import type net from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { connect, pattern, readAll, readBytes, sleep } from './_helpers/net.js';
import { median, mismatch, rtts, watchClose, withRig, within, type Rig } from './_helpers/toxics.js';

const echo = (s: net.Socket) => s.pipe(s);
const idle = () => {};

test('slow_close upstream: data passes at once, the FIN reaches the upstream `delay` later', () => withRig(idle, async (rig) => {
  await rig.toxic({ type: 'slow_close', stream: 'upstream', attributes: { delay: 300 } });
  const client = await connect(rig.port);
  client.write('hello');
  await sleep(50);
  assert.is(rig.received[0]?.toString(), 'hello', 'data is not held back');
  const t0 = performance.now();
  client.end();
  await within(once(rig.upstream.sockets[0]!, 'end'), 2000, 'upstream FIN');
  const ms = rig.ended[0]! - t0;
  assert.ok(ms >= 295 && ms <= 420 + lag.worst(), `FIN after ${ms} ms, want ~300 (timer lag ${lag.worst()} ms)`);
  client.destroy();
}));

test('slow_close downstream: the client sees the server\'s FIN `delay` later, after the data', () =>
  withRig((s) => s.end('bye'), async (rig) => {
    await rig.toxic({ type: 'slow_close', attributes: { delay: 200 } });
    const client = await connect(rig.port);
    const t0 = performance.now();
    let dataAt = -1;
    client.once('data', () => { dataAt = performance.now() - t0; });
    const got = await within(readAll(client), 2000, 'client EOF');
    const ms = performance.now() - t0;
    assert.is(got.toString(), 'bye');
    assert.ok(dataAt >= 0 && dataAt < 100, `data after ${dataAt} ms`);
    assert.ok(ms >= 195 && ms <= 320 + lag.worst(), `FIN after ${ms} ms, want ~200 (timer lag ${lag.worst()} ms)`);
    client.destroy();
  }));

test('timeout 0 drops data in its direction and never closes; removing it closes with FIN', () =>
  withRig((s) => s.write('srv'), async (rig) => {
    await rig.toxic({ type: 'timeout', stream: 'upstream', attributes: { timeout: 0 } });
    const client = await connect(rig.port);
    const closed = watchClose(client);
    const fromServer = readBytes(client, 3);
    client.write('hello');
    assert.is((await within(fromServer, 1000, 'downstream data')).toString(), 'srv', 'the other direction still flows');
    await sleep(300);
    assert.is(rig.received[0]?.length, 0, 'upstream got data through a timeout toxic');
    assert.not.ok(closed.settled, `closed (${closed.kind}) with timeout 0`);
    const t0 = performance.now();
    assert.is(await rig.remove('timeout_upstream'), 204);
    const how = await within(closed.done, 1000, 'close on removal');
    assert.is(how.kind, 'end', 'removal must close with FIN, not RST');
    assert.ok(performance.now() - t0 < 200);
    await within(once(rig.upstream.sockets[0]!, 'end'), 1000, 'upstream FIN');
    client.destroy();
  }));

test('timeout 150 closes after 150 ms without data (FIN); data re-arms it', () => withRig(idle, async (rig) => {
  await rig.toxic({ type: 'timeout', stream: 'upstream', attributes: { timeout: 150 } });
  const quiet = await connect(rig.port);
  const quietClose = watchClose(quiet);
  const busy = await connect(rig.port);
  // Measured on the absolute clock, so it can be compared with the time of the last write.
  const busyClose = watchClose(busy, 0);
  let last = 0;
  for (let i = 0; i < 6; i++) {
    busy.write('x');
    last = performance.now();
    await sleep(60);
  }
  assert.not.ok(busyClose.settled, 'closed while data kept arriving');
  const q = await within(quietClose.done, 1000, 'idle close');
  assert.is(q.kind, 'end');
  assert.ok(q.ms >= 145 && q.ms <= 300 + lag.worst(), `idle connection closed after ${q.ms} ms, want ~150 (timer lag ${lag.worst()} ms)`);
  const b = await within(busyClose.done, 1000, 'busy close');
  const sinceLast = b.ms - last;
  assert.ok(sinceLast >= 145 && sinceLast <= 300, `closed ${sinceLast} ms after the last data, want ~150`);
  assert.is(b.kind, 'end');
  assert.is(rig.received.reduce((n, r) => n + r.length, 0), 0, 'timeout must drop the data');
  quiet.destroy();
  busy.destroy();
}));

test('reset_peer: the first chunk is dropped and the client gets ECONNRESET', () => withRig(idle, async (rig) => {
  await rig.toxic({ type: 'reset_peer', stream: 'upstream' });
  const client = await connect(rig.port);
  const closed = watchClose(client);
  client.write('boom');
  const how = await within(closed.done, 1000, 'reset');
  assert.is(how.kind, 'reset');
  assert.ok(how.ms < 200 + lag.worst(), `reset after ${how.ms} ms (timer lag ${lag.worst()} ms)`);
  assert.is(rig.received[0]?.length ?? 0, 0, 'the triggering chunk must not reach the upstream');
}));

test('reset_peer downstream: the server\'s first chunk resets the client', () => withRig((s) => s.write('hi'), async (rig) => {
  await rig.toxic({ type: 'reset_peer' });
  const client = await connect(rig.port);
  const how = await within(watchClose(client).done, 1000, 'reset');
  assert.is(how.kind, 'reset');
  assert.is(how.bytes, 0, 'the client must see the reset, not the data');
}));

test('reset_peer timeout 200: the reset comes 200 ms after the first chunk', () => withRig(idle, async (rig) => {
  await rig.toxic({ type: 'reset_peer', stream: 'upstream', attributes: { timeout: 200 } });
  const client = await connect(rig.port);
  const closed = watchClose(client);
  await sleep(20);
  const t0 = performance.now();
  client.write('boom');
  const how = await within(closed.done, 2000, 'reset');
  const ms = performance.now() - t0;
  assert.is(how.kind, 'reset');
  assert.ok(ms >= 195 && ms <= 350 + lag.worst(), `reset after ${ms} ms, want ~200 (timer lag ${lag.worst()} ms)`);
}));

test('reset_peer: nothing happens without data; the other direction flows', () => withRig((s) => s.write('hi'), async (rig) => {
  await rig.toxic({ type: 'reset_peer', stream: 'upstream' });
  const client = await connect(rig.port);
  const hi = readBytes(client, 2);
  const closed = watchClose(client);
  assert.is((await within(hi, 1000, 'downstream data')).toString(), 'hi');
  await sleep(300);
  assert.not.ok(closed.settled, `closed (${closed.kind}) with no data sent`);
  client.write('now');
  assert.is((await within(closed.done, 1000, 'reset')).kind, 'reset');
}));

test('reset_peer added to an open connection resets it too', () => withRig(echo, async (rig) => {
  const client = await connect(rig.port);
  const pong = readBytes(client, 4);
  client.write('ping');
  assert.is((await within(pong, 1000, 'echo')).toString(), 'ping');
  const closed = watchClose(client);
  await rig.toxic({ type: 'reset_peer', stream: 'upstream' });
  client.write('boom');
  assert.is((await within(closed.done, 1000, 'reset')).kind, 'reset');
}));

/** Sends `data` through the echo rig and records the size of every read the client makes. */
async function readSizes(rig: Rig, data: Buffer): Promise<{ sizes: number[]; got: Buffer }> {
  const client = await connect(rig.port);
  client.setNoDelay(true);
  const sizes: number[] = [];
  client.on('data', (d: Buffer) => sizes.push(d.length));
  const reply = readBytes(client, data.length);
  client.write(data);
  const got = await within(reply, 3000, 'sliced data');
  client.destroy();
  return { sizes, got };
}

/** True if a read of `n` bytes can be k whole pieces of [lo, hi] bytes each (k >= 1). */
function wholePieces(n: number, lo: number, hi: number): boolean {
  for (let k = 1; k * lo <= n; k++) if (n <= k * hi) return true;
  return false;
}

// Client and proxy share one event loop here. A reader held up longer than the slicer's delay
// gets two pieces in one read, so a read may hold several whole pieces; most reads must still be
// single pieces. (Their spacing is checked in toxics-slicer-timing.)
test('slicer: 1000 bytes arrive intact as reads of average_size ± size_variation', () => withRig(echo, async (rig) => {
  await rig.toxic({ type: 'slicer', attributes: { average_size: 100, size_variation: 20, delay: 15_000 } });
  const data = pattern(1000, 9);
  const { sizes, got } = await readSizes(rig, data);
  const list = sizes.join(',');
  assert.is(mismatch(got, data), null);
  assert.ok(sizes.length >= 5 && sizes.length <= 13, `reads ${list}`);
  for (const n of sizes.slice(0, -1)) assert.ok(wholePieces(n, 80, 120), `read of ${n} bytes: ${list}`);
  const single = sizes.filter((n) => n >= 80 && n <= 120);
  assert.ok(single.length * 2 >= sizes.length, `most reads should be one piece: ${list}`);
  assert.ok(new Set(single).size > 1, `size_variation had no effect: ${list}`);
}));

test('slicer with no variation cuts exact pieces', () => withRig(echo, async (rig) => {
  await rig.toxic({ type: 'slicer', attributes: { average_size: 250, size_variation: 0, delay: 15_000 } });
  const data = pattern(1000, 4);
  const { sizes, got } = await readSizes(rig, data);
  assert.is(mismatch(got, data), null);
  // Ideally [250, 250, 250, 250]; a stall may merge neighbours, never cut elsewhere.
  for (const n of sizes) assert.is(n % 250, 0, `reads ${sizes.join(',')}`);
  assert.ok(sizes.length >= 3, `reads ${sizes.join(',')}`);
}));

test('slicer rejects average_size 0 and size_variation > average_size, naming the field', () => withRig(idle, async (rig) => {
  const post = (attributes: Record<string, unknown>) => rig.server.toxic('p', { type: 'slicer', attributes });
  const zero = await post({ average_size: 0 });
  assert.is(zero.status, 400, zero.text);
  assert.match(zero.json.error, /\baverage_size\b/);
  const wide = await post({ average_size: 10, size_variation: 11 });
  assert.is(wide.status, 400, wide.text);
  assert.match(wide.json.error, /\bsize_variation\b/);
  assert.is((await post({ average_size: 10, size_variation: 10 })).status, 200, 'equal is allowed');
  const patched = await rig.server.api('PATCH', '/proxies/p/toxics/slicer_downstream', { attributes: { average_size: 5 } });
  assert.is(patched.status, 400, 'an update that leaves size_variation > average_size is rejected');
  assert.match(patched.json.error, /\bsize_variation\b/);
}));

test('limit_data 10 with 7 + 9 bytes: exactly the first 10 bytes, then FIN', () =>
  withRig((s) => { s.write('0123456'); setTimeout(() => s.write('789abcdef'), 50); }, async (rig) => {
    await rig.toxic({ type: 'limit_data', attributes: { bytes: 10 } });
    const client = await connect(rig.port);
    const got = await within(readAll(client), 2000, 'limited data');
    assert.is(got.toString(), '0123456789');
    client.destroy();
  }));

test('limit_data 0 leaves an idle connection open and closes when the first chunk arrives', () => withRig(idle, async (rig) => {
  await rig.toxic({ type: 'limit_data', stream: 'upstream', attributes: { bytes: 0 } });
  const client = await connect(rig.port);
  const closed = watchClose(client);
  await sleep(250);
  assert.not.ok(closed.settled, `closed (${closed.kind}) before any data`);
  client.write('x');
  assert.is((await within(closed.done, 1000, 'close on data')).kind, 'end');
  assert.is(rig.received[0]?.length, 0);
}));

test('limit_data counts per connection across an update that raises the limit', () => withRig((s) => s.write('abcdef'), async (rig) => {
  await rig.toxic({ type: 'limit_data', attributes: { bytes: 10 } });
  const client = await connect(rig.port);
  const all = readAll(client);
  const first = readBytes(client, 6);
  assert.is((await within(first, 1000, 'first bytes')).toString(), 'abcdef');
  assert.is(await rig.patch('limit_data_downstream', { attributes: { bytes: 14 } }), 200);
  rig.upstream.sockets[0]!.write('0123456789');
  // 6 already sent + 8 more = 14: a fresh count would have passed all 10 and stayed open.
  assert.is((await within(all, 2000, 'limited data')).toString(), 'abcdef01234567');
  client.destroy();
}));

test('noop passes data through both ways, with half-close', () => withRig(echo, async (rig) => {
  await rig.toxic({ type: 'noop', stream: 'upstream' });
  await rig.toxic({ type: 'noop' });
  const shown = await rig.server.api('GET', '/proxies/p/toxics/noop_downstream');
  assert.equal(shown.json.attributes, {});
  const client = await connect(rig.port);
  const data = pattern(100_000, 2);
  const got = readAll(client);
  client.end(data);
  assert.is(mismatch(await within(got, 2000, 'noop round trip'), data), null);
}));

test('a toxic added to a live connection takes effect at once; removing it stops it', () => withRig(echo, async (rig) => {
  const client = await connect(rig.port);
  const before = median(await rtts(client, 3, 1));
  await rig.toxic({ type: 'latency', attributes: { latency: 100 } });
  const during = median(await rtts(client, 3, 0));
  assert.is(await rig.remove('latency_downstream'), 204);
  const after = median(await rtts(client, 3, 0));
  assert.ok(before < 20, `before: ${before} ms`);
  assert.ok(during >= 99 && during < 130, `with latency: ${during} ms`);
  assert.ok(after < 20, `after removal: ${after} ms`);
  client.destroy();
}));

test.run();
