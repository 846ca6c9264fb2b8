// The live event stream (/events/stream): snapshot then events, filters, the Origin check and
// other refusals, slow clients dropped without slowing the bus or other clients, heartbeat,
// and emit-to-receive latency. Real HTTP server on 127.0.0.1:0, real EventBus, real ws clients.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { faultEvent, startHub, until, upgrade, watch, type HubFixture } from './_helpers/ws.js';
import { percentile, sleep } from './_helpers/net.js';

async function withHub(options: Parameters<typeof startHub>[0], run: (f: HubFixture) => Promise<void>): Promise<void> {
  const f = await startHub(options);
  try { await run(f); } finally { await f.close(); }
}

const tick = () => new Promise((r) => setImmediate(r));

test('a client gets the snapshot first, then every streamed bus event in order', async () => {
  let snapshots = 0;
  const snapshot = () => ({ proxies: [{ name: 'p', toxics: [{ name: 'lat', type: 'latency' }] }], counters: { n: ++snapshots } });
  await withHub({ snapshot }, async (f) => {
    const c = await watch(f.url());
    const opened = { proxy: 'p', protocol: 'tcp' as const, conn: 'c1', client: '127.0.0.1:9', upstream: '127.0.0.1:1', id: 'o1', ts: 1 };
    const fault = faultEvent({ ts: 2 });
    const folded = { id: 'f3', ts: 3, proxy: 'p', toxic: 'lat', action: 'delayed' as const, count: 7 };
    const changed = { kind: 'toxic:removed' as const, proxy: 'p', toxic: 'lat', id: 's4', ts: 4 };
    const closed = { ...opened, bytesUp: 10, bytesDown: 20, durationMs: 5, reason: 'client closed', id: 'c5', ts: 5 };
    f.bus.emit('conn:opened', opened);
    f.bus.emit('fault:injected', fault);
    f.bus.emit('fault:folded', folded);
    f.bus.emit('log:warn', { ts: 6, message: 'not streamed', context: {} });
    f.bus.emit('state:changed', changed);
    f.bus.emit('conn:closed', closed);
    // Through the Reporter side too: the bus gives the fault an id and a ts.
    f.bus.fault({ proxy: 'p', protocol: 'tcp', conn: 'c1', client: 'x', toxic: 'lat', type: 'latency', stream: 'upstream', action: 'delayed', detail: { ms: 3 } });
    const msgs = await c.next(7);
    await sleep(50);
    assert.is(c.messages.length, 7, 'log:warn is not streamed');
    assert.equal(msgs.slice(0, 6), [
      { type: 'snapshot', proxies: [{ name: 'p', toxics: [{ name: 'lat', type: 'latency' }] }], counters: { n: 1 } },
      { type: 'event', kind: 'conn:opened', event: opened },
      { type: 'event', kind: 'fault:injected', event: fault },
      { type: 'event', kind: 'fault:folded', event: folded },
      { type: 'event', kind: 'state:changed', event: changed },
      { type: 'event', kind: 'conn:closed', event: closed },
    ]);
    const last = msgs[6];
    assert.is(last.kind, 'fault:injected');
    assert.is(last.event.stream, 'upstream');
    assert.match(last.event.id, /^[\w-]{21}$/);
    assert.equal((await (await watch(f.url())).next(1))[0].counters, { n: 2 }, 'the snapshot is taken at connect');
    assert.equal(f.hub.stats(), { clients: 2, lagged: 0, sent: 8, missed: 0 });
    c.ws.close();
    await c.closed;
    await until(() => f.hub.stats().clients === 1);
  });
});

test('filters: proxy, type and kind each narrow the stream, and all must match', async () => {
  await withHub({}, async (f) => {
    const queries = {
      all: '', a: '?proxy=a', latency: '?type=latency', conns: '?kind=conn:opened,conn:closed',
      aTimeout: '?proxy=a&type=timeout', aOrBFaults: '?proxy=a&proxy=b&kind=fault:injected',
    };
    const clients = Object.fromEntries(await Promise.all(Object.entries(queries).map(
      async ([k, q]) => [k, await watch(f.url(q))] as const)));
    await Promise.all(Object.values(clients).map((c) => c.next(1)));
    const info = (proxy: string, ts: number) => ({ proxy, protocol: 'tcp' as const, conn: 'c', client: 'x', upstream: 'u', id: `i${ts}`, ts });
    f.bus.emit('fault:injected', faultEvent({ ts: 1, proxy: 'a', type: 'latency' }));
    f.bus.emit('fault:injected', faultEvent({ ts: 2, proxy: 'b', type: 'latency' }));
    f.bus.emit('fault:injected', faultEvent({ ts: 3, proxy: 'a', type: 'timeout' }));
    f.bus.emit('conn:opened', info('a', 4));
    f.bus.emit('conn:closed', { ...info('b', 5), bytesUp: 0, bytesDown: 0, durationMs: 0, reason: '' });
    f.bus.emit('fault:folded', { id: 'f6', ts: 6, proxy: 'a', toxic: 't', action: 'delayed', count: 1 });
    f.bus.emit('state:changed', { kind: 'proxy:deleted', proxy: 'c', id: 's7', ts: 7 });
    const expected: Record<string, number[]> = {
      all: [1, 2, 3, 4, 5, 6, 7], a: [1, 3, 4, 6], latency: [1, 2], conns: [4, 5], aTimeout: [3], aOrBFaults: [1, 2, 3],
    };
    for (const [k, want] of Object.entries(expected)) await clients[k]!.next(1 + want.length);
    await sleep(50);
    for (const [k, want] of Object.entries(expected)) {
      assert.equal(clients[k]!.messages.slice(1).map((m) => m.event.ts), want, `filter ${k}: ${queries[k as keyof typeof queries]}`);
    }
    assert.equal(await upgrade(f.url('?kind=fault:injected,bogus')), {
      status: 400,
      body: 'unknown kind bogus; kinds are fault:injected, fault:folded, conn:opened, conn:closed, state:changed, scenario:started, scenario:step, scenario:finished, session:started, session:stopped',
    });
    for (const c of Object.values(clients)) c.ws.close();
  });
});

test('Origin must match Host; no Origin is allowed; other paths get 404; authorize gives 401', async () => {
  await withHub({ authorize: (req) => req.headers.authorization !== 'Bearer wrong' }, async (f) => {
    const host = `127.0.0.1:${f.port}`;
    assert.equal(await upgrade(f.url(), { origin: 'http://evil.example' }), { status: 403, body: 'Origin does not match Host' });
    assert.is((await upgrade(f.url(), { origin: 'null' })).status, 403);
    assert.is((await upgrade(f.url(), { origin: `http://127.0.0.1:${f.port + 1}` })).status, 403, 'another port is another origin');
    assert.is((await upgrade(f.url(), { origin: `ftp://${host}` })).status, 403);
    assert.is((await upgrade(f.url(), { origin: `http://${host}` })).status, 101);
    assert.is((await upgrade(f.url(), { origin: `https://${host}` })).status, 101);
    assert.is((await upgrade(f.url())).status, 101, 'non-browser clients send no Origin');
    assert.is((await upgrade(f.url('?proxy=a'))).status, 101);
    assert.is((await upgrade(f.url('', '/events/streamx'))).status, 404);
    assert.is((await upgrade(f.url('', '/'))).status, 404);
    assert.is((await upgrade(f.url(), { headers: { authorization: 'Bearer wrong' } })).status, 401);
    assert.is((await upgrade(f.url(), { origin: 'http://evil.example', headers: { authorization: 'Bearer wrong' } })).status, 403);
    await until(() => f.hub.stats().clients === 0);
    assert.is(f.hub.stats().sent, 4, 'only the four accepted clients got a snapshot');
  });
});

test('a stuck client is dropped; a fast one gets every event; emitting never waits', async () => {
  await withHub({ lagGraceMs: 200 }, async (f) => { // the default queue: 1000 messages
    const fast = await watch(f.url());
    // A raw socket that completes the handshake and then never reads.
    const stuck = net.connect(f.port, '127.0.0.1');
    stuck.on('error', () => {});
    stuck.write(`GET /events/stream HTTP/1.1\r\nHost: 127.0.0.1:${f.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    stuck.pause();
    await until(() => f.hub.stats().clients === 2);
    const N = 20_000;
    const pad = 'x'.repeat(1000);
    const batches: number[] = [];
    const j0 = (i: number) => 1 + i + 250; // messages emitted so far, the snapshot included
    for (let i = 0; i < N; i += 250) {
      const t0 = performance.now();
      for (let j = i; j < i + 250; j++) f.bus.emit('fault:injected', faultEvent({ detail: { seq: j, pad } }));
      batches.push(performance.now() - t0);
      // The fast reader shares this process: let it catch up to within half the queue before the
      // next batch, so that "fast" holds however loaded the machine is. The stuck one never reads.
      await until(() => fast.messages.length >= j0(i) - 500, 10_000, () => `the fast client at ${fast.messages.length} of ${j0(i)}`);
    }
    const total = batches.reduce((a, b) => a + b, 0);
    await fast.next(1 + N, 10_000);
    const seqs = fast.messages.slice(1).map((m) => m.event.detail.seq);
    assert.ok(seqs.every((s, i) => s === i), 'the fast client got every event, in order');
    await until(() => f.hub.stats().clients === 1, 3000, () => `the stuck client dropped: ${JSON.stringify(f.hub.stats())}`);
    const stats = f.hub.stats();
    console.log(`  20k events (1 KB) to a fast and a stuck client: emit total ${total.toFixed(0)} ms, ` +
      `batch p50 ${percentile(batches, 50).toFixed(2)} ms, max ${Math.max(...batches).toFixed(1)} ms; ${JSON.stringify(stats)}`);
    assert.is(stats.lagged, 1);
    assert.ok(stats.missed > 0 && stats.missed < N, `missed ${stats.missed}`);
    assert.ok(total < 3000, `emitting 20k events took ${total.toFixed(0)} ms`);
    assert.ok(Math.max(...batches) < 500, 'no batch of 250 emits ever stalls');
    stuck.resume();
    await once(stuck, 'close'); // the server ended it: the kernel's backlog, then EOF
    assert.equal(f.hub.stats().clients, 1);
    fast.ws.close();
  });
});

test('a synchronous burst beyond the queue limit does not drop a client the kernel keeps up with', async () => {
  await withHub({ queueLimit: 20 }, async (f) => {
    const c = await watch(f.url());
    await c.next(1);
    // 300 messages in one tick: every send callback is still pending, but the socket took them all.
    for (let i = 0; i < 300; i++) f.bus.emit('fault:injected', faultEvent({ detail: { seq: i } }));
    await c.next(301);
    assert.equal(c.messages.slice(1).map((m) => m.event.detail.seq), [...Array(300).keys()]);
    assert.equal(f.hub.stats(), { clients: 1, lagged: 0, sent: 301, missed: 0 });
    c.ws.close();
  });
});

test('a slow client that recovers gets a lagged notice with exactly what it missed, then close 1013', async () => {
  await withHub({ queueLimit: 100, lagGraceMs: 5000 }, async (f) => {
    const slow = await watch(f.url());
    await slow.next(1);
    const socket = (slow.ws as unknown as { _socket: net.Socket })._socket;
    socket.pause();
    let emitted = 0;
    while (f.hub.stats().lagged === 0) {
      if (emitted > 200_000) assert.unreachable('the paused client never lagged');
      f.bus.emit('fault:injected', faultEvent({ detail: { seq: emitted++, pad: 'y'.repeat(1000) } }));
      if (emitted % 100 === 0) await tick();
    }
    const delivered = emitted;
    for (let i = 0; i < 250; i++) f.bus.emit('fault:injected', faultEvent({ detail: { seq: emitted++ } }));
    assert.equal(f.hub.stats().missed, 250);
    socket.resume();
    const { code } = await slow.closed;
    assert.is(code, 1013);
    const events = slow.messages.slice(1, -1);
    assert.is(events.length, delivered, 'everything queued before the lag arrives');
    assert.ok(events.every((m, i) => m.type === 'event' && m.event.detail.seq === i));
    assert.equal(slow.messages.at(-1), { type: 'lagged', missed: 250 });
    await until(() => f.hub.stats().clients === 0);
  });
});

test('heartbeat: a client that does not answer pings is terminated; one that does stays', async () => {
  await withHub({ heartbeatMs: 100 }, async (f) => {
    const mute = await watch(f.url(), { autoPong: false });
    let pings = 0;
    mute.ws.on('ping', () => pings++);
    const live = await watch(f.url());
    const t0 = performance.now();
    const { code } = await mute.closed;
    const elapsed = performance.now() - t0;
    assert.is(code, 1006, 'terminated, not closed');
    assert.ok(pings >= 1, 'it was pinged first');
    assert.ok(elapsed >= 80 && elapsed < 2000, `terminated after ${elapsed.toFixed(0)} ms`);
    await sleep(350);
    assert.is(live.ws.readyState, WebSocket.OPEN);
    assert.is(f.hub.stats().clients, 1);
    f.hub.close();
    assert.is((await live.closed).code, 1006, 'close() terminates everyone');
    assert.is(f.hub.stats().clients, 0);
  });
});

test('latency: events reach a client within 50 ms at p99 under ~1,000 events/s', async () => {
  await withHub({}, async (f) => {
    const c = await watch(f.url());
    await c.next(1);
    const N = 1000;
    let sent = 0;
    const start = performance.now();
    const timer = setInterval(() => {
      if (sent < N) f.bus.emit('fault:injected', faultEvent({ detail: { t: performance.now(), i: sent++ } }));
    }, 1);
    try { await c.next(1 + N, 10_000); } finally { clearInterval(timer); }
    const rate = N / ((performance.now() - start) / 1000);
    const lat = c.messages.slice(1).map((m, i) => c.arrivals[i + 1]! - m.event.detail.t);
    const p50 = percentile(lat, 50), p99 = percentile(lat, 99);
    console.log(`  ${N} events at ${rate.toFixed(0)}/s: latency p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${Math.max(...lat).toFixed(1)} ms`);
    assert.ok(rate > 400, `emitted at only ${rate.toFixed(0)}/s`);
    assert.ok(p99 < 50, `p99 ${p99.toFixed(1)} ms`);
    c.ws.close();
  });
});

test.run();
