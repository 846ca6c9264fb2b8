// Small services for the shipped game-day examples (scenarios/), on real loopback sockets and
// ephemeral ports: an HTTP chain that retries, with per-service call counters; an HTTP service
// that names its instance; a line-protocol key-value server with an HTTP API over it; and
// heartbeat nodes that say which peers they hear. Each does one thing a game-day can measure.
// Last, how the tests run an example: the CLI in a child process, as a user would.

import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { cli } from './cli.js';
import type { TestServer } from './net.js';

export interface Service {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1:0 that closes its live connections when closed. */
async function listen(handler: http.RequestListener): Promise<Service> {
  const server = http.createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const reply = (res: http.ServerResponse, status: number, body: string, type = 'text/plain') =>
  res.writeHead(status, { 'Content-Type': type, Connection: 'close' }).end(body);

/** A GET on a fresh connection (each call its own TCP connection, as a toxicity roll wants). */
export function get(url: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs}ms`)));
    req.once('error', reject);
  });
}

export interface ChainService extends Service {
  /** Calls to /work in the last second, and ever. */
  recent(): number;
  total(): number;
}

const WINDOW_MS = 1000;

/**
 * One service of a call chain. GET /work answers 200 itself (the bottom), or calls `next`'s
 * /work up to `attempts` times, at once and without a retry budget, which is how a retry storm
 * starts; 502 when every attempt failed. GET /stats is the counter the amplification probe
 * reads: `{"service", "window_ms", "calls", "total"}`, calls over a sliding 1 s window.
 */
export async function chainService(name: string, next: string | null = null, attempts = 3): Promise<ChainService> {
  const calls: number[] = [];
  let total = 0;
  const recent = () => {
    const since = performance.now() - WINDOW_MS;
    while (calls.length > 0 && calls[0]! < since) calls.shift();
    return calls.length;
  };
  const service = await listen(async (req, res) => {
    if (req.url === '/stats') {
      return reply(res, 200, JSON.stringify({ service: name, window_ms: WINDOW_MS, calls: recent(), total }), 'application/json');
    }
    if (req.url !== '/work') return reply(res, 404, 'not found\n');
    calls.push(performance.now());
    total++;
    if (next === null) return reply(res, 200, `${name} ok\n`);
    let last = '';
    for (let i = 1; i <= attempts; i++) {
      try {
        const r = await get(`${next}/work`);
        if (r.status === 200) return reply(res, 200, `${name} ok after ${i} attempt${i === 1 ? '' : 's'}\n`);
        last = `status ${r.status}`;
      } catch (err) {
        last = (err as Error).message;
      }
    }
    reply(res, 502, `${name}: ${attempts} attempts failed, last: ${last}\n`);
  });
  return { ...service, recent, total: () => total };
}

export interface Load {
  /** Requests sent, answered 200, and failed (another status or an error). */
  readonly sent: number;
  readonly ok: number;
  readonly failed: number;
  stop(): Promise<void>;
}

/** Clients: a GET of `url` every 1000/rps ms, each on its own connection, not waiting for
 *  earlier ones; stop() waits for those in flight. */
export function load(url: string, rps: number): Load {
  const stats = { sent: 0, ok: 0, failed: 0 };
  const inflight = new Set<Promise<void>>();
  const timer = setInterval(() => {
    stats.sent++;
    const p = get(url).then((r) => { if (r.status === 200) stats.ok++; else stats.failed++; }, () => { stats.failed++; });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  }, 1000 / rps);
  return {
    get sent() { return stats.sent; },
    get ok() { return stats.ok; },
    get failed() { return stats.failed; },
    stop: async () => {
      clearInterval(timer);
      await Promise.all([...inflight]);
    },
  };
}

/** An instance of an HTTP service that names itself on every path: `instance blue`. */
export function instanceService(instance: string): Promise<Service> {
  return listen((_req, res) => reply(res, 200, `instance ${instance}\n`));
}

export interface KvServer {
  address: string;
  port: number;
  close(): Promise<void>;
}

/**
 * A database-like TCP service with a line protocol: `GET key` answers `VALUE <value>` or
 * `NOT_FOUND`, `SET key value` answers `OK`, anything else `ERROR <why>`; one connection may
 * carry many commands.
 */
export async function kvServer(initial: Record<string, string> = {}): Promise<KvServer> {
  const data = new Map(Object.entries(initial));
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (d: Buffer) => {
      buffered += d.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const [cmd, key, ...rest] = buffered.slice(0, nl).trim().split(' ');
        buffered = buffered.slice(nl + 1);
        if (cmd === 'GET' && key) socket.write(data.has(key) ? `VALUE ${data.get(key)}\n` : 'NOT_FOUND\n');
        else if (cmd === 'SET' && key && rest.length > 0) { data.set(key, rest.join(' ')); socket.write('OK\n'); }
        else socket.write('ERROR expected GET key or SET key value\n');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** One command to the key-value server at `address` on a fresh connection; its answer line. */
function kvCommand(address: string, command: string, timeoutMs = 2000): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let buffered = '';
    const timer = setTimeout(() => socket.destroy(new Error(`no answer from ${address} within ${timeoutMs}ms`)), timeoutMs);
    socket.on('data', (d: Buffer) => {
      buffered += d.toString('utf8');
      const nl = buffered.indexOf('\n');
      if (nl >= 0) { clearTimeout(timer); socket.end(); resolve(buffered.slice(0, nl)); }
    });
    socket.once('error', (err) => { clearTimeout(timer); reject(err); });
    socket.once('close', () => { clearTimeout(timer); reject(new Error(`${address} closed without an answer`)); });
    socket.write(`${command}\n`);
  });
}

/** The HTTP API in front of the key-value server: GET /items/<key> -> 200 value, 404, or 502
 *  when the database does not answer. It reaches the database at `db` (a proxy, in the tests). */
export function kvApi(db: string): Promise<Service> {
  return listen(async (req, res) => {
    const key = /^\/items\/([\w-]+)$/.exec(req.url ?? '')?.[1];
    if (key === undefined) return reply(res, 404, 'not found\n');
    try {
      const line = await kvCommand(db, `GET ${key}`);
      if (line.startsWith('VALUE ')) reply(res, 200, `${line.slice(6)}\n`);
      else reply(res, 404, `${key}: ${line}\n`);
    } catch (err) {
      reply(res, 502, `database: ${(err as Error).message}\n`);
    }
  });
}

export interface HeartbeatNode extends Service {
  name: string;
  /** `127.0.0.1:<port>`: where its peers' heartbeats (UDP datagrams naming the sender) go. */
  heartbeat: string;
  /** Where to send heartbeats to each peer (a proxy per pair, in the tests). */
  sendTo(peers: Record<string, string>): void;
}

/**
 * A replica that sends `hb <name>` by UDP to each peer every `intervalMs` and counts a peer as
 * seen while a heartbeat from it arrived within `staleMs`. GET /view answers `n1 sees n2 n3`
 * (sorted), or `n1 sees none`.
 */
export async function heartbeatNode(name: string, intervalMs = 50, staleMs = 400): Promise<HeartbeatNode> {
  const heard = new Map<string, number>();
  const socket = dgram.createSocket('udp4');
  socket.on('error', () => {});
  socket.on('message', (msg) => {
    const m = /^hb (\S+)$/.exec(msg.toString('utf8'));
    if (m !== null && m[1] !== name) heard.set(m[1]!, performance.now());
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  let peers: Array<{ host: string; port: number }> = [];
  const timer = setInterval(() => {
    for (const p of peers) socket.send(`hb ${name}`, p.port, p.host);
  }, intervalMs);
  const service = await listen((req, res) => {
    if (req.url !== '/view') return reply(res, 404, 'not found\n');
    const now = performance.now();
    const seen = [...heard].filter(([, at]) => now - at <= staleMs).map(([peer]) => peer).sort();
    reply(res, 200, `${name} sees ${seen.length > 0 ? seen.join(' ') : 'none'}\n`);
  });
  return {
    ...service,
    name,
    heartbeat: `127.0.0.1:${socket.address().port}`,
    sendTo: (to) => {
      peers = Object.values(to).map((a) => ({ host: a.slice(0, a.lastIndexOf(':')), port: Number(a.slice(a.lastIndexOf(':') + 1)) }));
    },
    close: async () => {
      clearInterval(timer);
      await new Promise<void>((r) => socket.close(() => r()));
      await service.close();
    },
  };
}

/** The repository's scenarios/ folder (this helper runs as dist/test/_helpers/services.js). */
export const SCENARIOS = fileURLToPath(new URL('../../../scenarios/', import.meta.url));

/** Every `${NAME}` / `${NAME:-default}` a text reads, sorted. */
export const envNames = (text: string) =>
  [...new Set([...text.matchAll(/\$\{([A-Za-z_]\w*)(?::-[^}]*)?\}/g)].map((m) => m[1]!))].sort();

/** `faultline run scenarios/<name> --url <fl>`; `env` must set exactly what the file reads. */
export async function runExample(fl: TestServer, name: string, env: Record<string, string>) {
  const file = SCENARIOS + name;
  assert.equal(Object.keys(env).sort(), envNames(readFileSync(file, 'utf8')), `${name}: the test sets every variable the file reads`);
  const r = await cli(['run', file, '--url', fl.url], env);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  const line = (re: RegExp): string => {
    const found = lines.find((l) => re.test(l));
    if (found === undefined) assert.unreachable(`no line matches ${String(re)} in:\n${r.stdout}${r.stderr}`);
    return found!;
  };
  return { ...r, lines, line };
}

/** `[+1.234s] ...` -> 1234. */
export const offset = (line: string) => Number(/^\[\+(\d+\.\d+)s\]/.exec(line)?.[1] ?? NaN) * 1000;

/** The fields of a proxy that a run must leave as they were. */
export async function proxyState(fl: TestServer, name: string) {
  const { listen, upstream, enabled, toxics } = (await fl.api('GET', `/proxies/${name}`)).json;
  return { listen, upstream, enabled, toxics };
}
