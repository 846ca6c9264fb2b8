// Real sockets on loopback and ephemeral ports, shared by the test files.

import net from 'node:net';
import { once } from 'node:events';
import { createServer, type FaultlineServer, type ServerOptions } from '../../src/server.js';

export interface Upstream {
  port: number;
  address: string;
  /** Sockets accepted so far, newest last. */
  sockets: net.Socket[];
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1:0 with allowHalfOpen; `onSocket` decides what it does. */
export async function tcpServer(onSocket: (socket: net.Socket) => void): Promise<Upstream> {
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on('error', () => {});
    onSocket(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    address: `127.0.0.1:${port}`,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Echoes every byte back; half-closes when the client half-closes. */
export function echoServer(): Promise<Upstream> {
  return tcpServer((s) => s.pipe(s));
}

/** A faultline server on an ephemeral port, plus a tiny JSON client for its API. */
export interface TestServer extends FaultlineServer {
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  /** Creates a proxy on 127.0.0.1:0 to `upstream` and returns its bound port. */
  proxy(name: string, upstream: string): Promise<number>;
  toxic(proxy: string, body: Record<string, unknown>): Promise<ApiResponse>;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON, or undefined when the body is empty or not JSON. */
  json: any;
}

export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const server = await createServer({ seed: 1, ...options });
  const api = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const res = await fetch(server.url + path, init);
    const text = await res.text();
    let json: any;
    try { json = text === '' ? undefined : JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, headers: res.headers, text, json };
  };
  return Object.assign(server, {
    api,
    async proxy(name: string, upstream: string) {
      const res = await api('POST', '/proxies', { name, listen: '127.0.0.1:0', upstream });
      if (res.status !== 201) throw new Error(`create proxy failed: ${res.status} ${res.text}`);
      return portOf(res.json.listen);
    },
    toxic: (proxy: string, body: Record<string, unknown>) => api('POST', `/proxies/${encodeURIComponent(proxy)}/toxics`, body),
  });
}

export function portOf(listen: string): number {
  return Number(listen.slice(listen.lastIndexOf(':') + 1));
}

export async function connect(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  const socket = net.connect({ port, host, allowHalfOpen: true, noDelay: true });
  await once(socket, 'connect');
  return socket;
}

/** Collects everything a socket sends until it ends; rejects on error. */
export function readAll(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    socket.on('data', (d: Buffer) => parts.push(d));
    socket.once('end', () => resolve(Buffer.concat(parts)));
    socket.once('error', reject);
  });
}

/** Resolves once `n` bytes have arrived (data beyond n is kept in the result). */
export function readBytes(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const onData = (d: Buffer) => {
      parts.push(d);
      size += d.length;
      if (size >= n) { cleanup(); resolve(Buffer.concat(parts)); }
    };
    const onEnd = () => { cleanup(); reject(new Error(`ended after ${size} of ${n} bytes`)); };
    const onError = (e: Error) => { cleanup(); reject(e); };
    const cleanup = () => { socket.off('data', onData); socket.off('end', onEnd); socket.off('error', onError); };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
  });
}

/** How a socket finished: 'end' (FIN), 'reset' (ECONNRESET), or another error code. */
export function closeKind(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.on('data', () => {});
    socket.once('end', () => resolve('end'));
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNRESET' ? 'reset' : e.code ?? e.message));
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A deterministic byte pattern, so loss, duplication and reordering all show as mismatches. */
export function pattern(size: number, seed = 0): Buffer {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 31 + seed + (i >> 8)) & 0xff;
  return buf;
}

/** Percentile of a sorted-or-not array of numbers. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
