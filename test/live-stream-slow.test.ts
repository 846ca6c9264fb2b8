// Stream clients that stop reading or read slowly, on a real server: under real proxy traffic a
// stuck client is dropped, a normal watcher still gets every stored event in order, and the
// proxy's round trips stay as fast as without it; under a heavy stream, 30 stuck clients are
// dropped past the 4 MiB bound and the server's fds return to their baseline, while a slow reader
// is told it lagged and why.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect, echoServer, percentile, readBytes, sleep, startServer } from './_helpers/net.js';
import { ndjson, roundTrip, waitFor } from './_helpers/persistence.js';
import { faultEvent, fdCount, slowReader, stuckClients, until, watch, type Watcher } from './_helpers/ws.js';

const wsUrl = (httpUrl: string) => `${httpUrl.replace('http:', 'ws:')}/events/stream?stats=0`;

// Loopback lets the kernel hold ~4 MB for a socket nobody reads, before the hub's own 4 MiB bound
// even starts to fill. The longest name a proxy may have makes every conn:* frame ~0.6 KB, so
// the stuck client overflows within ~14,000 events (7,000 connections) instead of ~30,000.
const CHURN = `churn-${'x'.repeat(250)}`;
const CONNECTIONS = 9000; // per phase: 18,000 events, headroom for kernels that hold more
const CONCURRENCY = 8;

/** CONNECTIONS short connections through `port` (each opens, echoes a byte, closes: two events). */
async function churn(port: number, count: number): Promise<void> {
  let next = 0;
  let failed = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < count) {
      next++;
      if ((await roundTrip(port, Buffer.from('x'))) === null) failed++;
    }
  }));
  assert.is(failed, 0, 'every churn connection round-tripped');
}

/** Round trips on one long-lived connection while `work` runs: what a proxied client feels. */
async function rttDuring(socket: net.Socket, work: Promise<void>): Promise<{ p50: number; max: number; n: number }> {
  let done = false;
  const finished = work.finally(() => { done = true; });
  const samples: number[] = [];
  const ping = Buffer.alloc(32, 1);
  while (!done) {
    const t0 = performance.now();
    socket.write(ping);
    await readBytes(socket, ping.length);
    samples.push(performance.now() - t0);
  }
  await finished;
  return { p50: percentile(samples, 50), max: Math.max(...samples), n: samples.length };
}

const streamed = (w: Watcher) => w.messages.filter((m) => m.type === 'event');

test('a stuck stream client is lagged and dropped; the watcher gets every event; proxy RTT unchanged', async () => {
  const echo = await echoServer();
  const s = await startServer();
  let stuck: Watcher | null = null;
  let rtt: net.Socket | null = null;
  try {
    const watcher = await watch(wsUrl(s.url));
    await watcher.next(1);
    rtt = await connect(await s.proxy('rtt', echo.address));
    const churnPort = await s.proxy(CHURN, echo.address);
    await churn(churnPort, 100); // warm-up: JIT, socket pools, the store's first batches

    const stored = async () => (await ndjson(s.url)).reverse();
    const caughtUp = (count: number) => waitFor(() => streamed(watcher).length >= count, 10_000, `the watcher at ${count} events`);
    // proxy:created x2, the rtt connection's open, two per churn connection
    let expected = 3 + 2 * 100;
    await caughtUp(expected);

    const baseline = await rttDuring(rtt, churn(churnPort, CONNECTIONS));
    expected += 2 * CONNECTIONS;
    await caughtUp(expected);
    const before = expected;

    stuck = await watch(wsUrl(s.url));
    await stuck.next(1);
    stuck.ws.pause(); // stops reading its socket: the kernel's buffers fill, then the hub's queue
    const withStuck = await rttDuring(rtt, churn(churnPort, CONNECTIONS));
    expected += 2 * CONNECTIONS;
    await caughtUp(expected);

    // The stream is live; the store writes a batch per flush interval, so its last batch may
    // still be on its way.
    let log = await stored();
    for (let tries = 0; log.length < expected && tries < 20; tries++) {
      await sleep(250);
      log = await stored();
    }
    const got = streamed(watcher).map((m) => m.event.id);
    assert.is(log.length, expected, 'stored events');
    assert.is(got.length, expected, 'streamed events: none lost, none extra');
    assert.equal(got, log.map((e) => e.id), 'the watcher got the stored log, in order');

    stuck.ws.resume();
    const closed = await Promise.race([stuck.closed, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
    assert.ok(closed !== null, 'the stuck client was closed by the server');
    const msgs = stuck.messages;
    assert.is(msgs[0].type, 'snapshot');
    const events = streamed(stuck);
    const tail = msgs.slice(1 + events.length);
    console.log(`  stuck client: ${events.length} of ${2 * CONNECTIONS} events, then ${JSON.stringify(tail)}, close ${closed.code}`);
    assert.ok(events.length > 0 && events.length < 2 * CONNECTIONS, `it fell behind (${events.length} events)`);
    assert.equal(events.map((m) => m.event.id), got.slice(before, before + events.length), 'what it got is the start of phase two, in order');
    if (closed.code === 1013) {
      // It resumed in time for the notice: how many it missed, then "reconnect for a fresh snapshot".
      assert.is(tail.length, 1);
      assert.is(tail[0].type, 'lagged');
      assert.ok(tail[0].missed > 0 && tail[0].missed <= 2 * CONNECTIONS - events.length, `missed ${tail[0].missed}`);
    } else {
      // Still stuck after the grace: cut off (no close frame), the notice lost with its socket.
      assert.is(closed.code, 1006);
      assert.equal(tail, []);
    }

    const fmt = (r: typeof baseline) => `p50 ${r.p50.toFixed(2)} ms, max ${r.max.toFixed(1)} ms (${r.n} samples)`;
    console.log(`  proxy RTT: baseline ${fmt(baseline)}; with the stuck client ${fmt(withStuck)}`);
    assert.ok(baseline.n >= 50 && withStuck.n >= 50, 'enough samples');
    assert.ok(withStuck.p50 <= 3 * baseline.p50 + 5, `p50 ${withStuck.p50.toFixed(2)} vs baseline ${baseline.p50.toFixed(2)} ms`);
    // A proxy held up by the stuck client would stall for the lag grace (seconds), far past this.
    assert.ok(withStuck.max <= 3 * baseline.max + 250, `max ${withStuck.max.toFixed(1)} vs baseline ${baseline.max.toFixed(1)} ms`);
    watcher.ws.close();
  } finally {
    stuck?.ws.terminate();
    rtt?.destroy();
    await s.close();
    await echo.close();
  }
});

const MiB = 1024 * 1024;

test('30 stuck clients are dropped past 4 MiB and their fds freed; a slow reader gets lagged and 1013; the watcher gets all', async () => {
  const s = await startServer();
  const STUCK = 30;
  // Both in child processes, started before the baseline: their pipes are fds of this process
  // from here on, and the slow one's reads do not wait on this process's busy loop.
  const stuck = stuckClients(s.port, '/events/stream?stats=0', STUCK);
  const slow = slowReader(wsUrl(s.url), 15); // 64 KiB per 15 ms at most: far behind the stream below
  let sampling = true;
  try {
    const watcher = await watch(wsUrl(s.url));
    await watcher.next(1);
    const before = fdCount();
    await stuck.connect();
    await slow.connect();
    const during = fdCount();
    assert.ok(during >= before + STUCK + 1, `fds ${before} -> ${during} with ${STUCK} stuck clients and a slow one`);

    // fds every 10 ms, with the bytes emitted so far, until the end.
    const samples: Array<{ t: number; fds: number; bytes: number }> = [];
    let bytes = 0;
    const t0 = performance.now();
    const sampler = (async () => {
      while (sampling) {
        samples.push({ t: performance.now() - t0, fds: fdCount(), bytes });
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    // 30 KB events straight onto the bus (stored and streamed like any other), in batches the
    // in-process watcher keeps up with: 30 MB in all, ~4 times what a stuck client can hold.
    const N = 1000;
    const pad = 'e'.repeat(30 * 1024);
    for (let i = 0; i < N; i += 25) {
      for (let j = i; j < i + 25; j++) {
        const event = faultEvent({ proxy: 'bulk', detail: { seq: j, pad } });
        s.events.emit('fault:injected', event);
        bytes += Buffer.byteLength(JSON.stringify({ type: 'event', kind: 'fault:injected', event }));
      }
      await until(() => watcher.messages.length >= 1 + i - 50, 10_000, () => `the watcher at ${watcher.messages.length - 1} of ${i}`);
    }
    const emitted = performance.now() - t0;
    await watcher.next(1 + N, 10_000);
    const seqs = watcher.messages.slice(1).map((m) => m.event.detail.seq);
    assert.ok(seqs.length === N && seqs.every((q, i) => q === i), 'the watcher got every event, in order');

    const got = await Promise.race([slow.result, sleep(15_000).then(() => null)]);
    assert.ok(got !== null, 'the slow reader was closed');
    await until(() => fdCount() <= before, 10_000, () => `fds back to ${before}: ${fdCount()}`);
    const back = performance.now() - t0;
    sampling = false;
    await sampler;
    const after = fdCount();
    samples.push({ t: back, fds: after, bytes });

    const firstDrop = samples.find((x) => x.fds < during - 5);
    const peak = Math.max(...samples.map((x) => x.fds));
    const queued = Number(/^lagged: (\d+) bytes queued/.exec(got.reason)?.[1] ?? NaN);
    console.log(`  ${STUCK} stuck + 1 slow client, ${(bytes / MiB).toFixed(1)} MiB emitted in ${emitted.toFixed(0)} ms: ` +
      `fds ${before} before, ${during} with the clients (peak ${peak}), ${after} after; ` +
      `the stuck began to go at ${firstDrop?.t.toFixed(0)} ms, all fds back at ${back.toFixed(0)} ms; ` +
      `slow reader: ${got.seqs.length} events (${(got.bytes / MiB).toFixed(2)} MiB read), then ${JSON.stringify(got.last)}, close ${got.code} "${got.reason}"`);
    assert.ok(firstDrop !== undefined, 'the stuck clients were dropped');
    // The grace is 2 s; the rest is margin for a loaded machine.
    assert.ok(back - emitted < 2000 + 5000, `fds back ${(back - emitted).toFixed(0)} ms after the last event`);
    assert.ok(after <= before, `fds ${after}, baseline ${before}`);

    assert.is(got.code, 1013, got.reason);
    assert.match(got.reason, /^lagged: \d+ bytes queued, over 4194304; reconnect for a fresh snapshot$/);
    assert.ok(queued > 4 * MiB && queued < 4 * MiB + 64 * 1024, `${queued} bytes queued at the lag`);
    assert.is(got.last?.type, 'lagged');
    assert.ok(got.last.missed > 0, `missed ${got.last.missed}`);
    assert.ok(got.seqs.every((q, i) => q === i), 'the slow reader got the start, in order');
    assert.ok(got.seqs.length + got.last.missed <= N);
    watcher.ws.close();
  } finally {
    sampling = false;
    await slow.kill();
    await stuck.kill();
    await s.close();
  }
});

test.run();
