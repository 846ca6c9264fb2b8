// Helpers for the data-path tests: self-checking byte streams, a writer that honours 'drain'
// and notices when it is blocked, a forced GC for memory measurements, and an IPv6 probe.

import net from 'node:net';
import { once } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as assert from 'uvu/assert';

/** Index of the first differing byte, or -1; makes a mismatch message useful. */
export function firstDiff(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

export function assertSame(got: Buffer, want: Buffer, what: string): void {
  const at = firstDiff(got, want);
  assert.is(at, -1, `${what}: ${got.length} of ${want.length} bytes; first difference at byte ${at}`);
}

/**
 * `size` bytes of 4-byte big-endian words `(tag << 24) | index`. Unlike pattern(), which
 * repeats every 64 KiB, no two words within 16 M of each other are equal, so a lost,
 * duplicated or reordered block anywhere shows as a mismatch, and a tag tells streams apart.
 */
export function counters(size: number, tag = 0): Buffer {
  const buf = Buffer.alloc(size);
  const words = Math.floor(size / 4);
  for (let i = 0; i < words; i++) buf.writeUInt32BE((((tag & 0xff) << 24) | (i & 0xffffff)) >>> 0, i * 4);
  return buf;
}

/** A block of the big stream: a fixed 64 KiB body stamped with its index in the first 4 bytes. */
export const BLOCK = 64 * 1024;
const BODY = counters(BLOCK, 0x5a);

export function block(index: number): Buffer {
  const b = Buffer.allocUnsafe(BLOCK);
  BODY.copy(b);
  b.writeUInt32BE(index >>> 0, 0);
  return b;
}

/**
 * Checks a stream of block()s as it arrives, in whatever pieces the socket delivers.
 * `error` names the first bad block; `bytes` counts everything seen.
 */
export class BlockChecker {
  bytes = 0;
  error: string | null = null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private next = 0;

  push(data: Buffer): void {
    this.bytes += data.length;
    if (this.error !== null) return;
    this.pending.push(data);
    this.pendingBytes += data.length;
    if (this.pendingBytes < BLOCK) return;
    let all = Buffer.concat(this.pending);
    let at = 0;
    while (all.length - at >= BLOCK) {
      const got = all.subarray(at, at + BLOCK);
      if (!got.equals(block(this.next))) {
        this.error = `block ${this.next} (bytes ${this.next * BLOCK}..) differs; it starts with index ${got.readUInt32BE(0)}`;
        return;
      }
      this.next++;
      at += BLOCK;
    }
    all = all.subarray(at);
    this.pending = all.length > 0 ? [all] : [];
    this.pendingBytes = all.length;
  }
}

/**
 * Writes `total` bytes of block()s as fast as write() allows, waiting for 'drain' when it
 * returns false. `onStall` runs once, the first time a 'drain' fails to come within `ms`;
 * the writer waits for it to resolve before going on.
 */
export function floodWriter(socket: net.Socket, total: number, ms: number, onStall: (written: number) => Promise<void>): Promise<number | null> {
  return new Promise((resolve, reject) => {
    let written = 0;
    let index = 0;
    let stalledAt: number | null = null;
    socket.once('error', reject);
    const pump = async () => {
      while (written < total) {
        const ok = socket.write(block(index++));
        written += BLOCK;
        if (ok) continue;
        const drained = once(socket, 'drain').then(() => true);
        const timedOut = new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref());
        if (!(await Promise.race([drained, timedOut])) && stalledAt === null) {
          stalledAt = written;
          await onStall(written);
          await drained;
        }
      }
      socket.end();
      resolve(stalledAt);
    };
    pump().catch(reject);
  });
}

let gcFn: (() => void) | null = null;

/** Runs a full GC (exposing it on first use) so memory figures count live buffers only. */
export function collectGarbage(): void {
  if (gcFn === null) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
}

/**
 * Bytes held off the V8 heap (Buffers and other external memory; `external` includes
 * `arrayBuffers`), after full GCs with pauses between them, since freed backing stores are
 * released a little after the collection that found them dead.
 */
export async function bufferMemory(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    collectGarbage();
    await new Promise((r) => setTimeout(r, 20));
  }
  return process.memoryUsage().external;
}

/** True if this machine can listen on ::1. */
export async function hasIPv6Loopback(): Promise<boolean> {
  const server = net.createServer();
  try {
    server.listen(0, '::1');
    await once(server, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    if (server.listening) await new Promise<void>((r) => server.close(() => r()));
  }
}

/** A port that refuses connections: bound once on loopback, then closed. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Resolves with the connect error code (e.g. 'ECONNREFUSED'), or 'connected'. */
export function tryConnect(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    s.once('connect', () => { s.destroy(); resolve('connected'); });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** Resolves with how long (ms) it takes `p` to settle, and its value. */
export async function timed<T>(p: Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await p;
  return { ms: performance.now() - t0, value };
}

/** Rejects if `p` does not settle within `ms`, naming `what`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}
