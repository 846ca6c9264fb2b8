// The four measurements. Each takes the port to connect to (the server itself, or a proxy in
// front of it) and returns plain numbers; run.ts decides what to compare.

import net from 'node:net';
import { once } from 'node:events';

const HOST = '127.0.0.1';

function connect(port: number): Promise<net.Socket> {
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
  const block = Buffer.alloc(64 * 1024, 0x61);
  const reply: Buffer[] = [];
  socket.on('data', (d: Buffer) => reply.push(d));
  const ended = once(socket, 'end');
  const start = process.hrtime.bigint();
  const stopAt = start + BigInt(ms) * 1_000_000n;
  let sent = 0;
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    const pump = (): void => {
      while (process.hrtime.bigint() < stopAt) {
        sent += block.length;
        if (!socket.write(block)) { socket.once('drain', pump); return; }
      }
      socket.end();
      resolve();
    };
    pump();
  });
  await ended;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  socket.destroy();
  const ack = Buffer.concat(reply);
  const received = ack.length === 8 ? Number(ack.readBigUInt64BE(0)) : -1;
  if (received !== sent) throw new Error(`bulk: sent ${sent} bytes but the sink counted ${received}`);
  return { bytes: sent, seconds };
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
