// An oversized body gets a 413 that the client can read, even a client that writes its whole
// body before it reads anything: the server drains the rest (up to a bound) before it answers
// and closes, instead of closing under a client still writing (EPIPE or ECONNRESET, and the
// 413 lost). Real clients over loopback: a raw socket, Node's http.request and fetch.

import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createApiServer } from '../src/api/http.js';
import type { ApiContext } from '../src/api/routes.js';
import { startServer, type TestServer } from './_helpers/net.js';

const MB = 1024 * 1024;
const TOO_LARGE = { error: 'request body too large: the limit is 1048576 bytes', status: 413, code: 'ERR_BODY_TOO_LARGE' };

interface Answer { status: number; json: unknown; error: string | null; closed: 'end' | 'reset' | 'open' }

/**
 * POSTs `size` bytes on a raw socket that reads nothing until the kernel has taken the whole
 * body (as a client that writes first does), then reads the answer to the end. `declared`
 * defaults to `size`.
 */
function rawPost(port: number, path: string, size: number, opts: { declared?: number; chunked?: boolean } = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.pause();
    const parts: Buffer[] = [];
    let error: string | null = null;
    let closed: Answer['closed'] = 'open';
    socket.on('data', (d: Buffer) => parts.push(d));
    socket.on('end', () => { closed = 'end'; });
    socket.on('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; closed = 'reset'; });
    socket.on('close', () => {
      const text = Buffer.concat(parts).toString();
      const [head = '', body = ''] = text.split('\r\n\r\n');
      let json: unknown;
      try { json = JSON.parse(body); } catch { json = undefined; }
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0), json, error, closed });
    });
    const framing = opts.chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${opts.declared ?? size}`;
    socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${framing}\r\n\r\n`);
    const body = Buffer.alloc(size, 0x20);
    const payload = opts.chunked ? Buffer.concat([Buffer.from(`${size.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]) : body;
    socket.write(payload, (err) => {
      if (err) error = `write: ${(err as NodeJS.ErrnoException).code}`;
      // Only now start reading: an early reset would have thrown the answer away by then.
      setTimeout(() => socket.resume(), 50);
    });
  });
}

const big = suite<{ server: TestServer }>('413 for oversized bodies', {} as { server: TestServer });
big.before(async (ctx) => { ctx.server = await startServer({ db: false }); });
big.after(async (ctx) => { await ctx.server?.close(); });

big('a client that writes 10 MB before reading gets the 413 JSON and a clean close', async ({ server }) => {
  for (let i = 0; i < 2; i++) {
    const answer = await rawPost(server.port, '/proxies', 10 * MB);
    assert.equal(answer, { status: 413, json: TOO_LARGE, error: null, closed: 'end' });
  }
  assert.is((await server.api('GET', '/version')).status, 200);
});

big('a chunked body past the limit gets the same', async ({ server }) => {
  const answer = await rawPost(server.port, '/populate', 3 * MB, { chunked: true });
  assert.equal(answer, { status: 413, json: TOO_LARGE, error: null, closed: 'end' });
});

big("Node's http.request writing 10 MB reads the 413", async ({ server }) => {
  const answer = await new Promise<{ status: number; json: unknown; error: string | null }>((resolve) => {
    let error: string | null = null;
    const req = http.request(`${server.url}/proxies`, { method: 'POST', headers: { 'Content-Length': 10 * MB } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => setTimeout(() => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(parts).toString()), error }), 50));
    });
    req.on('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; resolve({ status: 0, json: null, error }); });
    req.end(Buffer.alloc(10 * MB, 0x20));
  });
  assert.equal(answer, { status: 413, json: TOO_LARGE, error: null });
});

big('fetch sending 10 MB reads the 413', async ({ server }) => {
  const res = await fetch(`${server.url}/proxies`, { method: 'POST', body: Buffer.alloc(10 * MB, 0x20) });
  assert.is(res.status, 413);
  assert.equal(await res.json(), TOO_LARGE);
  assert.is(res.headers.get('connection'), 'close');
});

big.run();

// ---- the bounds of the drain, on an API server with small ones ----

const bounds = suite<{ url: string; port: number; close(): Promise<void> }>('413 drain bounds', {} as never);
bounds.before(async (ctx) => {
  const server = createApiServer({} as ApiContext, () => {}, { drain: { bytes: 4 * MB, ms: 300 } });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  ctx.port = (server.address() as net.AddressInfo).port;
  ctx.url = `http://127.0.0.1:${ctx.port}`;
  ctx.close = () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
});
bounds.after(async (ctx) => { await ctx.close?.(); });

bounds('a Content-Length past the drain bound is answered before any body is sent', async ({ port }) => {
  const answer = await rawPost(port, '/populate', 0, { declared: 5 * MB });
  assert.is(answer.status, 413);
  assert.equal(answer.json, TOO_LARGE);
});

bounds('a body past the drain bound is cut after the 413', async ({ port }) => {
  const answer = await rawPost(port, '/populate', 6 * MB, { declared: 6 * MB });
  // The 413 may be lost to the reset: what matters is that the server stops reading.
  assert.ok(answer.status === 413 || answer.closed === 'reset', JSON.stringify(answer));
});

bounds('a sender that stalls past the time bound gets the 413 then', async ({ port }) => {
  const started = Date.now();
  const answer = await new Promise<{ status: number; ms: number }>((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const parts: Buffer[] = [];
    socket.on('data', (d: Buffer) => parts.push(d));
    socket.on('error', () => {});
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(Buffer.concat(parts).toString())?.[1] ?? 0), ms: Date.now() - started }));
    // Declares 3 MB, sends 2 and stalls.
    socket.write(`POST /populate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${3 * MB}\r\n\r\n`);
    socket.write(Buffer.alloc(2 * MB, 0x20));
  });
  assert.is(answer.status, 413);
  assert.ok(answer.ms >= 250, `answered after ${answer.ms} ms, before the 300 ms bound`);
  assert.ok(answer.ms < 10_000, `answered after ${answer.ms} ms`);
});

bounds.run();
