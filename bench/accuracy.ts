// The timing-accuracy part of `npm run bench`: how close faultline's delaying toxics come to
// the delay and rate they were asked for. faultline runs alone in a child process
// (bench/child.ts `faultline`), so its timers do not share an event loop with the clients that
// measure them; the echo and sink servers run here, beside the clients, and the time they add
// is measured without a proxy in the same way and subtracted.
//
//   TCP latency   latency 50 ms on the downstream of a proxy in front of an echo server.
//                 Ten connections at once (started 5 ms apart, so their timers spread over the
//                 50 ms period), each doing sequential ping-pongs of 1 byte: 500+ samples in
//                 about 3 s. Error of one sample = its round trip - the median direct round
//                 trip (same ten connections, same way, no proxy) - 50 ms.
//                 The same runs go, in alternating blocks, through a reference: a minimal Node
//                 proxy delaying by 50 ms (servers.ts delayProxy) alone in another child process.
//                 Its error is what the machine, loopback, two processes and this harness cost;
//                 on a loaded 2-core machine that is most of a 3 ms p99 budget, so the reference
//                 tells a slow toxic from a slow machine (reported, not a target).
//   TCP bandwidth rate 10000 KB/s on the upstream of a proxy in front of a sink; one connection
//                 writes 20,000,000 bytes as fast as back-pressure allows. The clock runs from
//                 the first write to the sink's receipt of the last byte (2 s expected).
//   UDP latency   latency 30 ms on the downstream of a UDP proxy in front of a UDP echo server.
//                 One socket keeps 10 datagrams in flight (each reply releases the next; the
//                 first ten leave 3 ms apart), each datagram numbered, so every reply gives one
//                 round trip: 500+ samples. Error as for TCP, against a direct run done alike.
//
// Both latency measurements also run through a proxy with no toxic, to show how much of the
// error is the extra hop rather than the timer (reported, not a target).
//
// Run alone with `node dist/bench/accuracy.js [--quick] [--json]`; run.ts includes it.

import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { median, percentile, pingPong } from './measure.js';
import { echoServer, type Endpoint } from './servers.js';
import { api, createProxy, spawnChild, type ChildHost } from './targets.js';
import { faultlineUdpProxy, udpEchoServer } from './udp.js';
import { runIfMain } from './standalone.js';

const HOST = '127.0.0.1';

export interface AccuracySettings {
  tcpLatencyMs: number;
  tcpConnections: number;
  /** Blocks, alternating between faultline and the reference, fresh connections each. */
  tcpBlocks: number;
  /** Recorded ping-pongs per connection per block, after `warmup` unrecorded ones. */
  tcpRounds: number;
  warmup: number;
  bandwidthRate: number;
  bandwidthBytes: number;
  udpLatencyMs: number;
  udpWindow: number;
  /** Recorded datagrams in all, after `udpWindow * warmup` unrecorded ones. */
  udpSamples: number;
}

export const accuracySettings = (quick: boolean): AccuracySettings => ({
  tcpLatencyMs: 50,
  tcpConnections: 10,
  tcpBlocks: quick ? 2 : 3,
  tcpRounds: quick ? 25 : 20,
  warmup: 3,
  bandwidthRate: 10_000,
  bandwidthBytes: 20_000_000,
  udpLatencyMs: 30,
  udpWindow: 10,
  udpSamples: quick ? 500 : 600,
});

/** Quantiles of an error in ms: a round trip minus the median direct one minus the latency. */
export interface ErrorStats {
  /** Median round trip. */
  rttMedianMs: number;
  /** Signed error (positive: later than asked). */
  error: { min: number; p1: number; p50: number; p99: number; max: number };
  /** Absolute error: what the targets are checked on. */
  absError: { p50: number; p99: number; max: number };
}

/** A latency toxic's accuracy, and (TCP) the reference's measured alike. */
export interface LatencyAccuracy extends ErrorStats {
  latencyMs: number;
  samples: number;
  /** Datagrams that never came back (UDP only; 0 expected). */
  lost: number;
  /** Median round trip without a proxy, subtracted from every sample. */
  directMedianMs: number;
  /** Median round trip through a proxy with no toxic, minus the direct median: the hop's cost. */
  hopMedianMs: number;
  /** A minimal delaying proxy in its own process, same latency, same runs (TCP only). */
  reference?: ErrorStats & { samples: number };
}

export interface BandwidthAccuracy {
  rateKBs: number;
  bytes: number;
  expectedSeconds: number;
  seconds: number;
  /** When the sink saw the first byte, after the first write (ms). */
  firstByteMs: number;
  measuredKBs: number;
  /** (measured - asked) / asked, in percent. */
  errorPercent: number;
}

export interface AccuracyResults {
  settings: AccuracySettings;
  tcpLatency: LatencyAccuracy;
  bandwidth: BandwidthAccuracy;
  udpLatency: LatencyAccuracy;
}

function errorStats(rttMs: readonly number[], directMedianMs: number, latencyMs: number): ErrorStats {
  const errors = rttMs.map((r) => r - directMedianMs - latencyMs).sort((a, b) => a - b);
  const abs = errors.map(Math.abs).sort((a, b) => a - b);
  return {
    rttMedianMs: median(rttMs),
    error: {
      min: errors[0]!,
      p1: percentile(errors, 1),
      p50: percentile(errors, 50),
      p99: percentile(errors, 99),
      max: errors[errors.length - 1]!,
    },
    absError: { p50: percentile(abs, 50), p99: percentile(abs, 99), max: abs[abs.length - 1]! },
  };
}

function summariseError(rttMs: readonly number[], directMs: readonly number[], hopMs: readonly number[], latencyMs: number, lost: number): LatencyAccuracy {
  const directMedianMs = median(directMs);
  return {
    latencyMs,
    samples: rttMs.length,
    lost,
    directMedianMs,
    hopMedianMs: median(hopMs) - directMedianMs,
    ...errorStats(rttMs, directMedianMs, latencyMs),
  };
}

/** `connections` ping-pongers of 1 byte at once, started `staggerMs` apart; every round trip in ms. */
async function concurrentPingPong(port: number, s: AccuracySettings, staggerMs: number): Promise<number[]> {
  const runs = await Promise.all(Array.from({ length: s.tcpConnections }, async (_, i) => {
    await sleep(i * staggerMs);
    return pingPong(port, s.tcpRounds, s.warmup, 1);
  }));
  return runs.flat().map((us) => us / 1000);
}

/** Counts what arrives and notes when the first and the `expected`th byte did. */
async function timedSink(expected: number): Promise<Endpoint & { done: Promise<{ first: number; last: number }> }> {
  let resolveDone!: (t: { first: number; last: number }) => void;
  let rejectDone!: (err: Error) => void;
  const done = new Promise<{ first: number; last: number }>((resolve, reject) => { resolveDone = resolve; rejectDone = reject; });
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let bytes = 0;
    let first = 0;
    socket.on('data', (d: Buffer) => {
      const now = performance.now();
      if (bytes === 0) first = now;
      bytes += d.length;
      if (bytes === expected) resolveDone({ first, last: now });
      if (bytes > expected) rejectDone(new Error(`bandwidth: the sink got ${bytes} bytes of ${expected}`));
    });
    socket.on('end', () => {
      if (bytes !== expected) rejectDone(new Error(`bandwidth: the sink got ${bytes} bytes of ${expected}`));
      socket.end();
    });
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    done,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Writes `bytes` to `port` honouring back-pressure; ms from the first write to the sink's last byte. */
async function timedTransfer(port: number, sink: Awaited<ReturnType<typeof timedSink>>, bytes: number): Promise<{ ms: number; firstByteMs: number }> {
  const socket = net.connect({ port, host: HOST, noDelay: true, allowHalfOpen: true });
  await once(socket, 'connect');
  const block = Buffer.alloc(64 * 1024, 0x61);
  const start = performance.now();
  let left = bytes;
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(block.length, left);
        left -= n;
        if (!socket.write(n === block.length ? block : block.subarray(0, n))) { socket.once('drain', pump); return; }
      }
      socket.end();
      resolve();
    };
    pump();
  });
  const { first, last } = await sink.done;
  socket.destroy();
  return { ms: last - start, firstByteMs: first - start };
}

/**
 * A window of `window` numbered datagrams in flight on one socket, each reply releasing the
 * next, the first `window` sent `staggerMs` apart; the round trips in ms of all but the first
 * `skip`. A datagram not back after 2 s is counted lost and replaced.
 */
async function udpWindowedPingPong(port: number, window: number, total: number, skip: number, staggerMs: number): Promise<{ rtt: number[]; lost: number }> {
  const socket = dgram.createSocket('udp4');
  socket.on('error', () => {});
  socket.bind(0, HOST);
  await once(socket, 'listening');
  socket.connect(port, HOST);
  await once(socket, 'connect');
  const count = skip + total;
  const sentAt = new Float64Array(count).fill(-1);
  const rtt: number[] = [];
  let next = 0;
  let settled = 0;
  let lost = 0;
  const send = (): void => {
    if (next >= count) return;
    const message = Buffer.alloc(16, 0x75);
    message.writeUInt32BE(next, 0);
    sentAt[next++] = performance.now();
    socket.send(message);
  };
  await new Promise<void>((resolve) => {
    const watchdog = setInterval(() => {
      const now = performance.now();
      for (let i = 0; i < next; i++) {
        if (sentAt[i]! >= 0 && now - sentAt[i]! > 2000) { sentAt[i] = -1; lost++; settled++; send(); }
      }
      if (settled === count) finish();
    }, 250);
    const finish = (): void => { clearInterval(watchdog); resolve(); };
    socket.on('message', (data: Buffer) => {
      const now = performance.now();
      const seq = data.readUInt32BE(0);
      const at = sentAt[seq];
      if (at === undefined || at < 0) return; // already counted lost
      sentAt[seq] = -1;
      if (seq >= skip) rtt.push(now - at);
      settled++;
      if (settled === count) { finish(); return; }
      send();
    });
    for (let i = 0; i < window; i++) setTimeout(send, i * staggerMs);
  });
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return { rtt, lost };
}

export async function measureAccuracy(quick: boolean, log: (line: string) => void): Promise<AccuracyResults> {
  const s = accuracySettings(quick);
  const echo = await echoServer();
  const udpEcho = await udpEchoServer();
  const sink = await timedSink(s.bandwidthBytes);
  let child: ChildHost | undefined;
  let refChild: ChildHost | undefined;
  try {
    child = await spawnChild(['faultline']);
    const base = String(child.hello.url);
    refChild = await spawnChild(['delay', String(s.tcpLatencyMs), String(echo.port)]);
    const refPort = (refChild.hello.ports as number[])[0]!;

    // TCP latency.
    const bare = await createProxy(base, 'acc_bare', echo.port, false);
    const delayed = await createProxy(base, 'acc_latency', echo.port, false);
    await api(base, 'POST', '/proxies/acc_latency/toxics', {
      type: 'latency', stream: 'downstream', attributes: { latency: s.tcpLatencyMs, jitter: 0 },
    });
    const stagger = s.tcpLatencyMs / s.tcpConnections;
    const all = { ...s, tcpRounds: s.tcpRounds * s.tcpBlocks };
    await concurrentPingPong(bare, { ...s, tcpRounds: 50 }, 0); // JIT warm-up, here and in the child
    const direct = await concurrentPingPong(echo.port, all, stagger);
    const hop = await concurrentPingPong(bare, all, stagger);
    // Alternating blocks (the order flipped each time), so machine load drifts over both alike.
    const tcpRtt: number[] = [];
    const refRtt: number[] = [];
    for (let block = 0; block < s.tcpBlocks; block++) {
      const order = block % 2 === 0 ? [delayed, refPort] : [refPort, delayed];
      for (const port of order) (port === delayed ? tcpRtt : refRtt).push(...await concurrentPingPong(port, s, stagger));
    }
    const tcpLatency = summariseError(tcpRtt, direct, hop, s.tcpLatencyMs, 0);
    tcpLatency.reference = { samples: refRtt.length, ...errorStats(refRtt, tcpLatency.directMedianMs, s.tcpLatencyMs) };
    log(`[accuracy] tcp latency ${s.tcpLatencyMs} ms: ${tcpLatency.samples} samples, error p50 ${tcpLatency.error.p50.toFixed(2)} ms, `
      + `p99 ${tcpLatency.error.p99.toFixed(2)} ms, max ${tcpLatency.error.max.toFixed(2)} ms (direct ${tcpLatency.directMedianMs.toFixed(3)} ms; `
      + `reference p50 ${tcpLatency.reference.error.p50.toFixed(2)} ms, p99 ${tcpLatency.reference.error.p99.toFixed(2)} ms)`);

    // TCP bandwidth.
    const limited = await createProxy(base, 'acc_bandwidth', sink.port, false);
    await api(base, 'POST', '/proxies/acc_bandwidth/toxics', {
      type: 'bandwidth', stream: 'upstream', attributes: { rate: s.bandwidthRate },
    });
    const t = await timedTransfer(limited, sink, s.bandwidthBytes);
    const measuredKBs = s.bandwidthBytes / 1000 / (t.ms / 1000);
    const bandwidth: BandwidthAccuracy = {
      rateKBs: s.bandwidthRate,
      bytes: s.bandwidthBytes,
      expectedSeconds: s.bandwidthBytes / 1000 / s.bandwidthRate,
      seconds: t.ms / 1000,
      firstByteMs: t.firstByteMs,
      measuredKBs,
      errorPercent: ((measuredKBs - s.bandwidthRate) / s.bandwidthRate) * 100,
    };
    log(`[accuracy] tcp bandwidth ${s.bandwidthRate} KB/s: ${bandwidth.seconds.toFixed(3)} s for ${s.bandwidthBytes} bytes, `
      + `${measuredKBs.toFixed(0)} KB/s (${bandwidth.errorPercent.toFixed(2)} %)`);

    // UDP latency.
    const udpBare = await faultlineUdpProxy(base, 'acc_udp_bare', udpEcho.port);
    const udpDelayed = await faultlineUdpProxy(base, 'acc_udp_latency', udpEcho.port);
    await api(base, 'POST', '/proxies/acc_udp_latency/toxics', {
      type: 'latency', stream: 'downstream', attributes: { latency: s.udpLatencyMs, jitter: 0 },
    });
    const skip = s.udpWindow * s.warmup;
    const udpStagger = s.udpLatencyMs / s.udpWindow;
    await udpWindowedPingPong(udpBare, s.udpWindow, 500, 0, 0); // warm-up
    const udpDirect = await udpWindowedPingPong(udpEcho.port, s.udpWindow, s.udpSamples, skip, udpStagger);
    const udpHop = await udpWindowedPingPong(udpBare, s.udpWindow, s.udpSamples, skip, udpStagger);
    const udpRun = await udpWindowedPingPong(udpDelayed, s.udpWindow, s.udpSamples, skip, udpStagger);
    const udpLatency = summariseError(udpRun.rtt, udpDirect.rtt, udpHop.rtt, s.udpLatencyMs, udpRun.lost);
    log(`[accuracy] udp latency ${s.udpLatencyMs} ms: ${udpLatency.samples} samples${udpRun.lost ? ` (${udpRun.lost} lost)` : ''}, `
      + `error p50 ${udpLatency.error.p50.toFixed(2)} ms, p99 ${udpLatency.error.p99.toFixed(2)} ms, max ${udpLatency.error.max.toFixed(2)} ms`);

    return { settings: s, tcpLatency, bandwidth, udpLatency };
  } finally {
    await child?.stop();
    await refChild?.stop();
    await sink.close();
    await udpEcho.close();
    await echo.close();
  }
}

// `node dist/bench/accuracy.js [--quick] [--json]`: the accuracy part alone.
runIfMain(import.meta.url, {
  measure: measureAccuracy,
  render: async () => {
    const report = await import('./report.js');
    return { format: report.formatAccuracy, checks: report.accuracyChecks };
  },
});
