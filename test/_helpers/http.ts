// HTTP upstreams and clients for the http proxy tests: an HTTP/1.1 server and an HTTP/2 server
// that count the connections and requests they see, keep-alive requests on one socket, and an
// http proxy on an ephemeral port. Loopback only.

import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import type { TestServer } from './net.js';
import { portOf } from './net.js';

export interface Seen {
  port: number;
  address: string;
  /** Connections accepted so far. */
  connections: number;
  /** Requests handled, in order: `METHOD path`. */
  requests: string[];
  close(): Promise<void>;
}

/** An HTTP/1.1 server; `handle` answers (default: 200 with "ok METHOD path" after reading the body). */
export async function h1Upstream(handle?: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void): Promise<Seen & { server: http.Server }> {
  const seen = { connections: 0, requests: [] as string[] };
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      seen.requests.push(`${req.method} ${req.url}`);
      const body = Buffer.concat(parts);
      if (handle !== undefined) return handle(req, res, body);
      res.setHeader('content-type', 'text/plain');
      res.end(`ok ${req.method} ${req.url} ${body.length}\n`);
    });
  });
  server.on('connection', () => { seen.connections++; });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return Object.assign(seen, {
    port, address: `127.0.0.1:${port}`, server,
    close: async () => { server.closeAllConnections(); await new Promise<void>((r) => server.close(() => r())); },
  });
}

/** An HTTP/2 (cleartext) server answering every stream with "h2 METHOD path", unless `handle` does. */
export async function h2Upstream(handle?: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void): Promise<Seen & { sessions: number }> {
  const seen = { connections: 0, sessions: 0, requests: [] as string[] };
  const server = http2.createServer();
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => { seen.connections++; sockets.add(s); s.on('close', () => sockets.delete(s)); });
  server.on('session', () => { seen.sessions++; });
  server.on('stream', (stream, headers) => {
    seen.requests.push(`${headers[':method']} ${headers[':path']}`);
    stream.on('error', () => {});
    if (handle !== undefined) return handle(stream, headers);
    stream.resume();
    stream.on('end', () => {
      if (stream.closed) return;
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end(`h2 ${headers[':method']} ${headers[':path']}\n`);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return Object.assign(seen, {
    port, address: `127.0.0.1:${port}`,
    close: async () => { for (const s of sockets) s.destroy(); await new Promise<void>((r) => server.close(() => r())); },
  });
}

/** Creates an http proxy on 127.0.0.1:0 and returns its port. */
export async function httpProxy(fl: TestServer, name: string, upstream: string): Promise<number> {
  const res = await fl.api('POST', '/proxies', { name, listen: '127.0.0.1:0', upstream, protocol: 'http' });
  if (res.status !== 201) throw new Error(`create http proxy failed: ${res.status} ${res.text}`);
  return portOf(res.json.listen);
}

export interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One request through `agent` (keep-alive: the same socket each time with maxSockets 1). */
export function request(port: number, agent: http.Agent | false, path: string, options: http.RequestOptions & { body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const { body, ...rest } = options;
    const req = http.request({ host: '127.0.0.1', port, path, agent, ...rest }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A keep-alive agent holding one socket, so every request shares one connection. */
export function oneSocket(): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: 1 });
}

/** An HTTP/2 request on `session`; resolves with the status and body, or the stream's error code. */
export function h2Request(session: http2.ClientHttp2Session, path: string, headers: http2.OutgoingHttpHeaders = {}, body?: string): Promise<{ status: number; body: string; error?: string; rst?: number }> {
  return new Promise((resolve) => {
    const stream = session.request({ ':path': path, ...(body !== undefined ? { ':method': 'POST' } : {}), ...headers });
    let status = 0;
    let text = '';
    stream.on('response', (h) => { status = Number(h[':status']); });
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => { text += d; });
    stream.on('end', () => resolve({ status, body: text }));
    stream.on('error', (err: NodeJS.ErrnoException) => resolve({ status, body: text, error: err.code ?? err.message, rst: stream.rstCode }));
    stream.end(body);
  });
}

/** Waits until `check` holds, polling; throws with `what` after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
