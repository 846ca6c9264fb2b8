// UDP helpers for the UDP proxy and UDP toxic tests (issue 4): loopback sockets on ephemeral
// ports with large kernel buffers, an echo upstream and a recording upstream that note which
// source ports they saw, numbered datagrams, and windowed sending, which keeps the kernel from
// dropping anything so every missing datagram is one the proxy dropped.

import dgram from 'node:dgram';
import { once } from 'node:events';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { FaultEvent } from '../../src/index.js';
import type { FaultAction } from '../../src/toxic.js';
import { portOf, startServer, type TestServer } from './net.js';

/** Kernel buffers asked for on every test socket, so bursts are not lost before we read them. */
const BUFFER = 4 * 1024 * 1024;

export interface Datagram {
  data: Buffer;
  /** Source port and address of the sender. */
  port: number;
  address: string;
  /** performance.now() on arrival. */
  at: number;
}

export interface UdpPeer {
  socket: dgram.Socket;
  port: number;
  host: string;
  /** `host:port`, bracketed for IPv6, as an upstream field wants it. */
  address: string;
  close(): Promise<void>;
}

/** A UDP socket bound to `host`:0 with 4 MiB buffers; `onMessage` sees every datagram. */
export async function udpSocket(host = '127.0.0.1', onMessage?: (d: Datagram, socket: dgram.Socket) => void): Promise<UdpPeer> {
  const socket = dgram.createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4', recvBufferSize: BUFFER, sendBufferSize: BUFFER });
  socket.on('error', () => {}); // ICMP errors on a connected socket; tests look at data, not this
  if (onMessage !== undefined) {
    socket.on('message', (data, rinfo) => onMessage({ data, port: rinfo.port, address: rinfo.address, at: performance.now() }, socket));
  }
  socket.bind(0, host);
  try {
    await once(socket, 'listening');
  } catch (err) {
    socket.close();
    throw err;
  }
  const port = socket.address().port;
  let closed = false;
  return {
    socket, port, host,
    address: isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`,
    close: () => new Promise<void>((resolve) => {
      if (closed) return resolve();
      closed = true;
      socket.close(() => resolve());
    }),
  };
}

/** `count`: datagrams received; `sources`: source ports, in order of first appearance; `messages`: when recording. */
export interface UdpUpstream extends UdpPeer { count: number; sources: number[]; messages: Datagram[] }

/** An upstream that records what arrives and, with `echo`, sends every datagram back to its sender. */
export async function udpUpstream(options: { echo?: boolean; record?: boolean; host?: string } = {}): Promise<UdpUpstream> {
  const seen = new Set<number>();
  let up: UdpUpstream | undefined;
  const peer = await udpSocket(options.host ?? '127.0.0.1', (d, socket) => {
    if (up === undefined) return;
    up.count++;
    if (!seen.has(d.port)) { seen.add(d.port); up.sources.push(d.port); }
    if (options.record) up.messages.push(d);
    if (options.echo) socket.send(d.data, d.port, d.address);
  });
  up = Object.assign(peer, { count: 0, sources: [] as number[], messages: [] as Datagram[] });
  return up;
}

export const udpEcho = (host = '127.0.0.1') => udpUpstream({ echo: true, host });

/** A client socket that queues what it receives; `next()` takes the oldest datagram. */
export interface UdpClient extends UdpPeer {
  received: Datagram[];
  send(data: Buffer | string, port: number, host?: string): void;
  /** The next unread datagram, waiting up to `ms` for it. */
  next(ms?: number): Promise<Datagram>;
}

export async function udpClient(host = '127.0.0.1'): Promise<UdpClient> {
  const received: Datagram[] = [];
  let read = 0;
  let waiter: (() => void) | null = null;
  const peer = await udpSocket(host, (d) => { received.push(d); waiter?.(); });
  return Object.assign(peer, {
    received,
    send(data: Buffer | string, port: number, to = host) { peer.socket.send(data, port, to); },
    async next(ms = 2000): Promise<Datagram> {
      const deadline = performance.now() + ms;
      while (read >= received.length) {
        const left = deadline - performance.now();
        if (left <= 0) throw new Error(`no datagram within ${ms} ms (${received.length} received so far)`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => { waiter = null; resolve(); }, left);
          waiter = () => { clearTimeout(timer); waiter = null; resolve(); };
        });
      }
      return received[read++]!;
    },
  });
}

/** Creates a UDP proxy on `listen` (default 127.0.0.1:0) and returns its JSON and bound port. */
export async function udpProxy(
  server: TestServer, name: string, upstream: string, extra: Record<string, unknown> = {},
): Promise<{ port: number; json: any }> {
  const res = await server.api('POST', '/proxies', { name, listen: '127.0.0.1:0', upstream, protocol: 'udp', ...extra });
  if (res.status !== 201) throw new Error(`create udp proxy failed: ${res.status} ${res.text}`);
  return { port: portOf(res.json.listen), json: res.json };
}

export async function sessions(server: TestServer, name: string): Promise<number> {
  const res = await server.api('GET', `/proxies/${encodeURIComponent(name)}`);
  if (res.status !== 200) throw new Error(`GET proxy ${name}: ${res.status} ${res.text}`);
  return res.json.sessions as number;
}

/** Datagram `i`: its number (4 bytes, big-endian), then `size - 4` bytes derived from it. */
export function seqDatagram(i: number, size = 100): Buffer {
  const buf = Buffer.alloc(Math.max(size, 4));
  buf.writeUInt32BE(i >>> 0, 0);
  for (let j = 4; j < buf.length; j++) buf[j] = (i * 7 + j * 13 + (i >> 8)) & 0xff;
  return buf;
}

export const seqOf = (data: Buffer): number => data.readUInt32BE(0);

/** Polls `cond` until it holds; rejects after `ms`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 2000, what = 'condition'): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Faults counted (never rate-limited) on proxy `proxy` for `action`, optionally of one toxic type. */
export function faultCount(server: TestServer, proxy: string, action: FaultAction, type?: string): number {
  return server.events.faultCounts()
    .filter((c) => c.proxy === proxy && c.action === action && (type === undefined || c.type === type))
    .reduce((sum, c) => sum + c.count, 0);
}

/**
 * Sends `total` datagrams with at most `window` unsettled at a time. `settled()` says how many
 * have been accounted for (arrived, or dropped by the proxy on purpose). Checks between event
 * loop turns, so drops, which have no callback, are noticed too. Rejects if nothing settles for
 * `stallMs`: a datagram went missing.
 */
export function pump(opts: {
  total: number; window: number; send: (i: number) => void; settled: () => number; stallMs?: number;
}): Promise<void> {
  const { total, window, send, settled } = opts;
  const stallMs = opts.stallMs ?? 2000;
  let sent = 0;
  let last = -1;
  let progressAt = performance.now();
  return new Promise((resolve, reject) => {
    const step = (): void => {
      const done = settled();
      if (done !== last) { last = done; progressAt = performance.now(); }
      if (done >= total) return resolve();
      if (performance.now() - progressAt > stallMs) {
        return reject(new Error(`stalled: ${sent} sent, ${done} settled, nothing for ${stallMs} ms`));
      }
      while (sent < total && sent - done < window) send(sent++);
      setImmediate(step);
    };
    step();
  });
}

/**
 * Echo traffic through `port`: `total` numbered datagrams of `size` bytes, `window` in flight,
 * each next one sent when a reply arrives. Returns the sequence numbers of the replies in
 * arrival order; throws if a reply does not match what was sent or the flow stalls.
 */
export async function windowedEcho(port: number, total: number, window: number, size = 100, host = '127.0.0.1'): Promise<Uint32Array> {
  const order = new Uint32Array(total);
  let got = 0;
  let sent = 0;
  let bad = '';
  // Each reply releases the next datagram straight from the receive callback.
  let send = (): void => {};
  let done = (): void => {};
  const client = await udpSocket(host, (d) => {
    const i = seqOf(d.data);
    if (got < total) order[got] = i;
    got++;
    if (bad === '' && !d.data.equals(seqDatagram(i, size))) bad = `reply ${got} (seq ${i}) differs from what was sent`;
    if (sent < total) send();
    else if (got === total) done();
  });
  send = () => client.socket.send(seqDatagram(sent++, size), port, host);
  try {
    let last = -1;
    await new Promise<void>((resolve, reject) => {
      const watchdog = setInterval(() => {
        if (got === last) { clearInterval(watchdog); reject(new Error(`stalled: ${sent} sent, ${got} replies`)); }
        last = got;
      }, 1000);
      done = () => { clearInterval(watchdog); resolve(); };
      while (sent < Math.min(window, total)) send();
    });
    await new Promise((r) => setTimeout(r, 20)); // let any duplicate show up
  } finally {
    await client.close();
  }
  if (bad !== '') throw new Error(bad);
  if (got !== total) throw new Error(`${got} replies for ${total} datagrams`);
  return order;
}

/** Runs of consecutive missing numbers in 0..total-1, given the numbers that arrived. */
export function lossBursts(arrived: Iterable<number>, total: number): number[] {
  const seen = new Uint8Array(total);
  for (const i of arrived) seen[i] = 1;
  const bursts: number[] = [];
  let run = 0;
  for (let i = 0; i < total; i++) {
    if (seen[i] === 0) run++;
    else if (run > 0) { bursts.push(run); run = 0; }
  }
  if (run > 0) bursts.push(run);
  return bursts;
}

/** Whether ::1 can be bound here. */
export async function hasIPv6(): Promise<boolean> {
  try {
    await (await udpSocket('::1')).close();
    return true;
  } catch {
    return false;
  }
}

/** A UDP port with nothing bound to it: bound, then closed at once. */
export async function deadUdpPort(host = '127.0.0.1'): Promise<number> {
  const peer = await udpSocket(host);
  const port = peer.port;
  await peer.close();
  return port;
}

export interface UdpRig {
  server: TestServer;
  upstream: UdpUpstream;
  client: UdpClient;
  /** The UDP proxy `u`'s port. */
  port: number;
  /** Every fault:injected event, in order (under 50 per toxic and action, none is folded). */
  events: FaultEvent[];
  /** Session ids, in order of conn:opened. */
  opened: string[];
  /** Adds a toxic to `u`, throwing unless 200; returns the JSON. */
  toxic(body: Record<string, unknown>): Promise<any>;
  /** Faults counted on `u` for `action`, optionally of one toxic type. */
  count(action: FaultAction, type?: string): number;
}

/** A server seeded with `seed`, a UDP proxy `u` to a recording (optionally echoing) upstream, and a client. */
export async function withUdpRig(options: { seed?: number; echo?: boolean }, fn: (rig: UdpRig) => Promise<void>): Promise<void> {
  const server = await startServer({ seed: options.seed ?? 1 });
  const upstream = await udpUpstream({ echo: options.echo ?? false, record: true });
  const client = await udpClient();
  const events: FaultEvent[] = [];
  const opened: string[] = [];
  const offs = [
    server.events.on('fault:injected', (e) => events.push(e)),
    server.events.on('conn:opened', (e) => opened.push(e.conn)),
  ];
  try {
    const { port } = await udpProxy(server, 'u', upstream.address);
    await fn({
      server, upstream, client, port, events, opened,
      async toxic(body) {
        const res = await server.toxic('u', body);
        if (res.status !== 200) throw new Error(`add toxic: ${res.status} ${res.text}`);
        return res.json;
      },
      count: (action, type) => faultCount(server, 'u', action, type),
    });
  } finally {
    for (const off of offs) off();
    await client.close();
    await server.close();
    await upstream.close();
  }
}
