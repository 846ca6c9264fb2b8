// The measurements (bench/aggregate.ts adds the many-connection one). Each takes the port to
// connect to (the server itself, or a proxy in front of it) and returns plain numbers; the
// callers decide what to compare.

import net from 'node:net';
import { DATA_BYTE, END_MARK } from './servers.js';

const HOST = '127.0.0.1';

export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: HOST, allowHalfOpen: true, noDelay: true });
    socket.once('connect', () => { socket.off('error', reject); resolve(socket); });
    socket.once('error', reject);
  });
}

/**
 * One-directional bulk transfer into a sink for `ms` milliseconds, honouring back-pressure.
 * The clock stops when the sink acknowledges the count after our FIN, so every byte counted
 * has really arrived. Returns MB/s (1 MB = 10^6 bytes).
 */
export async function bulkThroughput(sinkPort: number, ms: number): Promise<number> {
  const { bytes, seconds } = await bulkTransfer(sinkPort, ms);
  return bytes / 1e6 / seconds;
}

/** bulkThroughput's transfer: the bytes the sink acknowledged and the seconds they took. */
export async function bulkTransfer(sinkPort: number, ms: number): Promise<{ bytes: number; seconds: number }> {
  const socket = await connect(sinkPort);
  const start = process.hrtime.bigint();
  const bytes = await pumpUntil(socket, start + BigInt(ms) * 1_000_000n);
  return { bytes, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

/**
 * Writes 64 KB blocks into a connected sink socket until `stopAt` (hrtime), honouring
 * back-pressure, then sends the sink's end mark and waits for its count (servers.ts sinkServer).
 * Resolves with the bytes sent, once the sink has acknowledged every one of them. It ends with
 * the mark rather than a half-close so that the count comes back through Toxiproxy too.
 */
export async function pumpUntil(socket: net.Socket, stopAt: bigint): Promise<number> {
  const block = Buffer.alloc(64 * 1024, DATA_BYTE);
  const reply: Buffer[] = [];
  let received = 0;
  const counted = new Promise<void>((resolve, reject) => {
    socket.on('data', (d: Buffer) => {
      reply.push(d);
      received += d.length;
      if (received >= 8) resolve();
    });
    socket.once('end', () => reject(new Error(`bulk: the connection ended with ${received} of the sink's 8 bytes`)));
    socket.once('error', reject);
  });
  // Awaited below; until then a failure is the write loop's to report.
  counted.catch(() => {});
  let sent = 0;
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    const pump = (): void => {
      while (process.hrtime.bigint() < stopAt) {
        sent += block.length;
        if (!socket.write(block)) { socket.once('drain', pump); return; }
      }
      socket.write(Buffer.of(END_MARK));
      resolve();
    };
    pump();
  });
  try {
    await counted;
  } finally {
    socket.destroy();
  }
  const ack = Buffer.concat(reply);
  const count = ack.length === 8 ? Number(ack.readBigUInt64BE(0)) : -1;
  if (count !== sent) throw new Error(`bulk: sent ${sent} bytes but the sink counted ${count} (${ack.length} bytes of reply)`);
  return sent;
}

export interface RttResult {
  p50: number;
  p99: number;
  mean: number;
}

/** Ping-pong of `size`-byte messages through an echo server; µs per round trip, one per round. */
export async function pingPong(echoPort: number, rounds: number, warmup: number, size = 64): Promise<number[]> {
  const socket = await connect(echoPort);
  const message = Buffer.alloc(size, 0x62);
  const samples = new Float64Array(rounds);
  await new Promise<void>((resolve, reject) => {
    let i = -warmup;
    let got = 0;
    let t0 = 0n;
    const send = (): void => {
      got = 0;
      t0 = process.hrtime.bigint();
      socket.write(message);
    };
    socket.on('data', (d: Buffer) => {
      got += d.length;
      if (got < size) return;
      if (got > size) { reject(new Error(`ping-pong: ${got} bytes echoed for ${size}`)); return; }
      if (i >= 0) samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
      if (++i === rounds) { resolve(); return; }
      send();
    });
    socket.once('error', reject);
    send();
  });
  socket.destroy();
  return Array.from(samples);
}

export function summarise(samples: readonly number[]): RttResult {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
  };
}

/**
 * Connections per second: connect, one small echo round trip, half-close, and wait for the
 * server's FIN, `total` times with `concurrency` connections in flight. Returns the seconds taken.
 */
export async function connectionRate(echoPort: number, total: number, concurrency: number): Promise<number> {
  let next = 0;
  const one = async (): Promise<void> => {
    const socket = await connect(echoPort);
    const done = new Promise<void>((resolve, reject) => {
      let got = 0;
      socket.on('data', (d: Buffer) => {
        got += d.length;
        if (got === 1) socket.end();
      });
      socket.once('end', () => (got === 1 ? resolve() : reject(new Error(`cps: echoed ${got} bytes`))));
      socket.once('error', reject);
    });
    socket.write('x');
    await done;
    socket.destroy();
  };
  const worker = async (): Promise<void> => {
    while (next++ < total) await one();
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Opens `count` idle connections to `port`, `batch` connects at a time. */
export async function openIdle(port: number, count: number, batch: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  for (let opened = 0; opened < count; ) {
    const n = Math.min(batch, count - opened);
    const group = await Promise.all(Array.from({ length: n }, () => connect(port)));
    for (const s of group) s.on('error', () => {});
    sockets.push(...group);
    opened += n;
  }
  return sockets;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
