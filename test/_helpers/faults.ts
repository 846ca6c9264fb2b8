// Helpers for the fault toxics (issue 3): numbered frames, a rig that records what the upstream
// receives and which faults were injected, and lockstep sending, which makes chunking exact.
//
// A TCP chunk is whatever one socket read returned, so frames written back to back may
// coalesce into one chunk and the toxic rolls once for all of them. In lockstep only one frame
// is in flight: the next is written once the previous one has reached the upstream (whole,
// once or twice) or the proxy has counted it as dropped. The proxy's read of a 16-byte write
// on loopback is then exactly that frame, and `step` asserts that it was (a split read would
// show as a partial frame at the upstream), so chunks and frames correspond one to one.

import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import * as assert from 'uvu/assert';
import type { FaultEvent } from '../../src/index.js';
import type { FaultAction } from '../../src/toxic.js';
import { connect, startServer, tcpServer, type TestServer, type Upstream } from './net.js';

export const FRAME = 16;

/** Frame `i`: its number (4 bytes, big-endian), then 12 bytes derived from it. All distinct. */
export function frame(i: number, size = FRAME): Buffer {
  const buf = Buffer.alloc(size);
  buf.writeUInt32BE(i >>> 0, 0);
  for (let j = 4; j < size; j++) buf[j] = (i * 7 + j * 13 + (i >> 8)) & 0xff;
  return buf;
}

/** The numbers of the frames in `data`, which must be a whole number of frames. */
export function frameIds(data: Buffer, size = FRAME): number[] {
  assert.is(data.length % size, 0, `${data.length} bytes is not a whole number of ${size}-byte frames`);
  const ids: number[] = [];
  for (let at = 0; at < data.length; at += size) ids.push(data.readUInt32BE(at));
  return ids;
}

/** Set bits in a XOR b (equal lengths). */
export function flippedBits(a: Buffer, b: Buffer): number {
  assert.is(a.length, b.length, 'corruption must not change the length');
  let bits = 0;
  for (let i = 0; i < a.length; i++) {
    let x = a[i]! ^ b[i]!;
    while (x !== 0) { bits += x & 1; x >>= 1; }
  }
  return bits;
}

export interface FaultRig {
  server: TestServer;
  upstream: Upstream;
  port: number;
  /** Every fault:injected event, in order (under 50 per toxic and action, none is folded). */
  events: FaultEvent[];
  /** Every state:changed event, in order, with when it came on the performance clock. */
  changes: { kind: string; toxic?: string; ts: number; at: number }[];
  /** How many bytes each upstream socket has received, in accept order. */
  bytes: number[];
  /** Everything upstream socket `conn` has received. */
  data(conn?: number): Buffer;
  /** Socket reads each upstream socket made: one per proxy write when frames go in lockstep. */
  reads: number[];
  /** When each upstream socket was accepted (performance clock). */
  acceptedAt: number[];
  /** How each upstream socket finished, in accept order ('' while open). */
  upstreamClosed: string[];
  /** Faults counted (never rate-limited) for `action`, optionally of one toxic type. */
  count(action: FaultAction, type?: string): number;
  /** Adds a toxic to proxy `p`, asserting 200; returns the JSON. */
  toxic(body: Record<string, unknown>): Promise<any>;
  patch(name: string, body: Record<string, unknown>): Promise<{ status: number; json: any; text: string }>;
  remove(name: string): Promise<number>;
}

/** A server seeded with `seed`, a proxy `p` and an upstream that records and runs `onSocket`. */
export async function withFaultRig(
  options: { seed?: number; onSocket?: (s: net.Socket) => void },
  fn: (rig: FaultRig) => Promise<void>,
): Promise<void> {
  const parts: Buffer[][] = [];
  const bytes: number[] = [];
  const acceptedAt: number[] = [];
  const reads: number[] = [];
  const upstreamClosed: string[] = [];
  const upstream = await tcpServer((s) => {
    const i = parts.push([]) - 1;
    bytes[i] = 0;
    acceptedAt[i] = performance.now();
    reads[i] = 0;
    upstreamClosed[i] = '';
    s.on('data', (d: Buffer) => { parts[i]!.push(d); bytes[i]! += d.length; reads[i]!++; });
    s.on('end', () => { upstreamClosed[i] ||= 'end'; });
    s.on('error', (e: NodeJS.ErrnoException) => { upstreamClosed[i] ||= e.code === 'ECONNRESET' ? 'reset' : e.code ?? 'error'; });
    s.on('close', () => { upstreamClosed[i] ||= 'close'; });
    options.onSocket?.(s);
  });
  const server = await startServer({ seed: options.seed ?? 1 });
  const events: FaultEvent[] = [];
  const changes: FaultRig['changes'] = [];
  server.events.on('fault:injected', (e) => events.push(e));
  server.events.on('state:changed', (e: any) => changes.push({ kind: e.kind, toxic: e.toxic, ts: e.ts, at: performance.now() }));
  try {
    const port = await server.proxy('p', upstream.address);
    await fn({
      server, upstream, port, events, changes, bytes, reads,
      data: (conn = 0) => Buffer.concat(parts[conn] ?? []), acceptedAt, upstreamClosed,
      count: (action, type) => server.events.faultCounts()
        .filter((c) => c.action === action && (type === undefined || c.type === type))
        .reduce((n, c) => n + c.count, 0),
      async toxic(body) {
        const res = await server.toxic('p', body);
        assert.is(res.status, 200, res.text);
        return res.json;
      },
      patch: (name, body) => server.api('PATCH', `/proxies/p/toxics/${name}`, body),
      remove: async (name) => (await server.api('DELETE', `/proxies/p/toxics/${name}`)).status,
    });
  } finally {
    await server.close();
    await upstream.close();
  }
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Writes one frame and waits until the upstream (socket `conn`) has it, twice if a duplicate
 * was counted meanwhile, or until a 'dropped' fault was counted. Asserts the chunk was whole.
 */
export async function step(rig: FaultRig, client: net.Socket, data: Buffer, conn = 0, limitMs = 3000): Promise<'delivered' | 'dropped'> {
  const before = rig.bytes[conn] ?? 0;
  const drops = rig.count('dropped');
  const dups = rig.count('duplicated');
  client.write(data);
  const start = performance.now();
  for (;;) {
    await tick();
    const got = (rig.bytes[conn] ?? 0) - before;
    if (rig.count('dropped') > drops) {
      assert.is(got, 0, 'a dropped chunk was partly delivered: the frame was split across reads');
      return 'dropped';
    }
    const want = data.length * (1 + rig.count('duplicated') - dups);
    if (got >= want) {
      assert.is(got, want, 'more bytes arrived than one frame (and its duplicate)');
      return 'delivered';
    }
    if (performance.now() - start > limitMs) throw new Error(`frame neither delivered nor dropped after ${limitMs} ms (${got} bytes)`);
  }
}

/** Connects to the rig's proxy and waits until the upstream has accepted the connection. */
export async function connectRig(rig: FaultRig, conn = rig.bytes.length): Promise<net.Socket> {
  const client = await connect(rig.port);
  const start = performance.now();
  while (rig.bytes.length <= conn) {
    if (performance.now() - start > 3000) throw new Error('the upstream never saw the connection');
    await tick();
  }
  return client;
}

/** Resolves once `cond()` holds, polling every event-loop turn; rejects after `limitMs`. */
export async function until(cond: () => boolean, limitMs: number, what: string): Promise<number> {
  const start = performance.now();
  while (!cond()) {
    if (performance.now() - start > limitMs) throw new Error(`${what}: not after ${limitMs} ms`);
    await tick();
  }
  return performance.now() - start;
}

/**
 * The exact two-sided interval [lo, hi] holding at least `confidence` of Binomial(n, p): lo is
 * the largest k with P(X < k) <= (1 - confidence) / 2, hi the smallest with P(X > hi) <= that.
 */
export function binomialInterval(n: number, p: number, confidence = 0.99): [number, number] {
  const tail = (1 - confidence) / 2;
  const logOdds = Math.log(p / (1 - p));
  let logPmf = n * Math.log(1 - p);
  const pmf: number[] = [];
  for (let k = 0; k <= n; k++) {
    pmf.push(Math.exp(logPmf));
    logPmf += Math.log((n - k) / (k + 1)) + logOdds;
  }
  let lo = 0;
  for (let below = 0; below + pmf[lo]! <= tail; lo++) below += pmf[lo]!;
  let hi = n;
  for (let above = 0; above + pmf[hi]! <= tail; hi--) above += pmf[hi]!;
  return [lo, hi];
}

/** Lengths of the runs of '1' in a string of '0'/'1' outcomes. */
export function bursts(outcomes: string): number[] {
  return outcomes.split('0').filter((run) => run.length > 0).map((run) => run.length);
}
