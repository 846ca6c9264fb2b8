// Helpers for the toxic test files: sequenced data, ping-pong timing and close observation.

import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import * as assert from 'uvu/assert';
import { percentile, readBytes, startServer, tcpServer, type TestServer, type Upstream } from './net.js';

/** `words` 4-byte big-endian counters 0, 1, 2, ...: any loss, duplication or reorder shows. */
export function sequenced(words: number, start = 0): Buffer {
  const buf = Buffer.alloc(words * 4);
  for (let i = 0; i < words; i++) buf.writeUInt32BE((start + i) >>> 0, i * 4);
  return buf;
}

/** Describes how `got` differs from `want`, or returns null when they are equal. */
export function mismatch(got: Buffer, want: Buffer): string | null {
  if (got.equals(want)) return null;
  const n = Math.min(got.length, want.length);
  let i = 0;
  while (i < n && got[i] === want[i]) i++;
  return `got ${got.length} bytes, want ${want.length}; first difference at byte ${i}`;
}

/** One ping-pong round trip over an echoing connection, in ms. */
export async function rtt(socket: net.Socket, size = 16): Promise<number> {
  const payload = Buffer.alloc(size, 0x61);
  const start = performance.now();
  const reply = readBytes(socket, size);
  socket.write(payload);
  const got = await reply;
  const ms = performance.now() - start;
  if (got.length !== size) throw new Error(`ping got ${got.length} bytes, want ${size}`);
  return ms;
}

/** `n` sequential round trips (after `warmup` unmeasured ones). */
export async function rtts(socket: net.Socket, n: number, warmup = 2): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await rtt(socket);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await rtt(socket));
  return out;
}

export const median = (values: number[]): number => percentile(values, 50);

export const round = (ms: number, digits = 2): number => Number(ms.toFixed(digits));

/**
 * Observes how a socket finishes, recording when: resolves with 'end' (FIN), 'reset'
 * (ECONNRESET) or the error code, plus the time since `since` and the bytes read meanwhile.
 * `settled` lets a test check that nothing has happened yet.
 */
export function watchClose(socket: net.Socket, since = performance.now()) {
  const state = { settled: false, kind: '', ms: -1, bytes: 0 };
  const done = new Promise<{ kind: string; ms: number; bytes: number }>((resolve) => {
    const finish = (kind: string) => {
      if (state.settled) return;
      state.settled = true;
      state.kind = kind;
      state.ms = performance.now() - since;
      resolve({ kind, ms: state.ms, bytes: state.bytes });
    };
    socket.on('data', (d: Buffer) => { state.bytes += d.length; });
    socket.once('end', () => finish('end'));
    socket.once('error', (e: NodeJS.ErrnoException) => finish(e.code === 'ECONNRESET' ? 'reset' : e.code ?? e.message));
    socket.once('close', () => finish('close'));
  });
  return Object.assign(state, { done });
}

/** Rejects if `promise` does not settle within `ms`, so a hang fails the test instead of uvu. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

export interface Rig {
  server: TestServer;
  upstream: Upstream;
  port: number;
  /** Adds a toxic to proxy `p`, asserting 200. */
  toxic(body: Record<string, unknown>): Promise<void>;
  patch(name: string, body: Record<string, unknown>): Promise<number>;
  remove(name: string): Promise<number>;
  /** Bytes the upstream has received on its sockets, in accept order. */
  received: Buffer[];
  /** When each upstream socket saw FIN (ms, performance clock), in accept order. */
  ended: number[];
}

/** A faultline proxy `p` in front of an upstream that records what it gets and runs `onSocket`. */
export async function withRig(onSocket: (s: net.Socket) => void, fn: (rig: Rig) => Promise<void>): Promise<void> {
  const received: Buffer[] = [];
  const ended: number[] = [];
  const upstream = await tcpServer((s) => {
    const i = received.push(Buffer.alloc(0)) - 1;
    s.on('data', (d: Buffer) => { received[i] = Buffer.concat([received[i]!, d]); });
    s.on('end', () => { ended[i] = performance.now(); });
    onSocket(s);
  });
  const server = await startServer();
  try {
    const port = await server.proxy('p', upstream.address);
    await fn({
      server, upstream, port, received, ended,
      async toxic(body) {
        const res = await server.toxic('p', body);
        assert.is(res.status, 200, res.text);
      },
      patch: async (name, body) => (await server.api('PATCH', `/proxies/p/toxics/${name}`, body)).status,
      remove: async (name) => (await server.api('DELETE', `/proxies/p/toxics/${name}`)).status,
    });
  } finally {
    await server.close();
    await upstream.close();
  }
}
