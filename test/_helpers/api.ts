// Helpers for the REST API tests: a server per test, Toxiproxy's error shape, raw HTTP requests
// (so a request can go without a User-Agent), and quick checks that a proxy passes data.

import http from 'node:http';
import net from 'node:net';
import * as assert from 'uvu/assert';
import { connect, echoServer, pattern, readBytes, startServer, type ApiResponse, type TestServer, type Upstream } from './net.js';

/** Runs `fn` with a fresh server and echo upstream, closing both afterwards. */
export async function withServer(fn: (server: TestServer, echo: Upstream) => Promise<void>): Promise<void> {
  const echo = await echoServer();
  const server = await startServer();
  try {
    await fn(server, echo);
  } finally {
    await server.close();
    await echo.close();
  }
}

/** Toxiproxy's error: the HTTP status, `{"error": message, "status": N}` (keys first, in that
 *  order; faultline may add more keys after them) and a trailing newline. */
export function assertError(res: ApiResponse, status: number, message: string | RegExp): void {
  assert.is(res.status, status, `status of ${res.text}`);
  assert.ok(res.json !== undefined, `JSON error body expected, got ${JSON.stringify(res.text)}`);
  assert.equal(Object.keys(res.json).slice(0, 2), ['error', 'status']);
  assert.is(res.json.status, status);
  if (typeof message === 'string') assert.is(res.json.error, message);
  else assert.match(res.json.error, message);
  assert.ok(res.text.endsWith('}\n'), 'error body ends with a newline');
}

/** Sends `size` pattern bytes through an open socket to an echo upstream and checks them back. */
export async function assertEchoes(socket: net.Socket, size = 64 * 1024, seed = 0): Promise<void> {
  const data = pattern(size, seed);
  const got = readBytes(socket, size);
  socket.write(data);
  const back = await got;
  assert.is(back.length, size);
  assert.ok(back.equals(data), 'echoed bytes match');
}

/** Opens a connection to `port`, checks a round trip, and closes it. */
export async function assertPasses(port: number, size = 4096): Promise<void> {
  const socket = await connect(port);
  try {
    await assertEchoes(socket, size, port & 0xff);
  } finally {
    socket.destroy();
  }
}

/** Resolves with the error code of a connection attempt ('connected' if it succeeded). */
export function tryConnect(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => { socket.destroy(); resolve('connected'); });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** A request through node:http, which sends no User-Agent unless one is given. */
export function rawRequest(
  url: string, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url + path, { method, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(parts).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
