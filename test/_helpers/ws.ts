// WebSocket hub fixtures: a plain HTTP server on 127.0.0.1:0 with a WsHub attached to a real
// EventBus, clients that record every message with its arrival time, a probe for refused
// upgrades, and what the slow-client tests need: stuck clients in a child process (so this
// process's fd count is the server's), a reader that reads slowly, the bytes loopback holds for
// a reader that stopped, and the fd count.

import http from 'node:http';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import net, { type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { EventBus, type FaultEvent } from '../../src/events/bus.js';
import { WsHub, type WsHubOptions } from '../../src/events/ws-hub.js';

export interface HubFixture {
  bus: EventBus;
  hub: WsHub;
  port: number;
  /** ws://127.0.0.1:port + path (default the hub's) + query. */
  url(query?: string, path?: string): string;
  close(): Promise<void>;
}

export async function startHub(options: Partial<WsHubOptions> = {}): Promise<HubFixture> {
  const bus = new EventBus();
  const hub = new WsHub({ bus, snapshot: () => ({ proxies: [] }), ...options });
  const server = http.createServer((_req, res) => { res.statusCode = 404; res.end(); });
  hub.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    bus, hub, port,
    url: (query = '', path = hub.path) => `ws://127.0.0.1:${port}${path}${query}`,
    async close() {
      hub.close();
      bus.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface Watcher {
  ws: WebSocket;
  /** Parsed messages in arrival order. */
  messages: any[];
  /** performance.now() at each message's arrival, parallel to `messages`. */
  arrivals: number[];
  /** Resolves when the connection ends, with the close code the client saw. */
  closed: Promise<{ code: number; reason: string }>;
  /** Waits until at least `count` messages have arrived. */
  next(count: number, timeoutMs?: number): Promise<any[]>;
}

/** Opens a client and resolves once the handshake is done. */
export async function watch(url: string, options: WebSocket.ClientOptions = {}): Promise<Watcher> {
  const ws = new WebSocket(url, options);
  const messages: any[] = [];
  const arrivals: number[] = [];
  ws.on('message', (data) => {
    arrivals.push(performance.now());
    messages.push(JSON.parse(String(data)));
  });
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
  return {
    ws, messages, arrivals, closed,
    async next(count, timeoutMs = 5000) {
      await until(() => messages.length >= count, timeoutMs, () => `${messages.length} of ${count} messages`);
      return messages;
    },
  };
}

/** The HTTP status (101 when accepted) and body of an upgrade attempt. */
export function upgrade(url: string, options: WebSocket.ClientOptions = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.on('error', reject);
    ws.once('open', () => { ws.close(); resolve({ status: 101, body: '' }); });
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => { req.destroy(); resolve({ status: res.statusCode ?? 0, body }); });
    });
  });
}

/** Polls `cond` every few ms; fails naming `what()` after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 5000, what = () => 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

let seq = 0;

/** A well-formed fault:injected payload; `over` replaces any field. */
export function faultEvent(over: Partial<FaultEvent> = {}): FaultEvent {
  seq++;
  return {
    id: `e${seq}`, ts: Date.now(), proxy: 'p', protocol: 'tcp', conn: 'c1', client: '127.0.0.1:1',
    toxic: 'lat', type: 'latency', stream: 'downstream', action: 'delayed', detail: {}, ...over,
  };
}

/** Open file descriptors of this process. */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/**
 * Bytes the kernel takes for a loopback connection whose reader has stopped (its send buffer and
 * the reader's receive buffer), measured now: what a stuck client holds before any of ours.
 */
export async function kernelHold(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const reader = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  reader.pause();
  const [writer] = (await once(server, 'connection')) as [net.Socket];
  try {
    const block = Buffer.alloc(64 * 1024);
    let written = 0;
    let last = -1;
    for (;;) {
      while (writer.write(block)) written += block.length;
      written += block.length;
      await new Promise((r) => setTimeout(r, 50));
      const held = written - writer.writableLength;
      if (held === last) return held;
      last = held;
    }
  } finally {
    writer.destroy();
    reader.destroy();
    server.close();
  }
}

/** Makes a client read slowly: after each read of its socket (at most 64 KiB), a pause of `ms`. */
export function throttle(ws: WebSocket, ms: number): void {
  const socket = (ws as unknown as { _socket: net.Socket })._socket;
  socket.on('data', () => {
    socket.pause();
    setTimeout(() => socket.resume(), ms);
  });
}

export interface SlowReaderResult {
  code: number;
  reason: string;
  /** detail.seq of each event received, in order. */
  seqs: number[];
  /** The last message if it was not an event (the lagged notice, when it arrived). */
  last: any;
  bytes: number;
}

export interface SlowReader {
  /** Connects; resolves once the snapshot has arrived. */
  connect(): Promise<void>;
  /** What the client saw, once its connection has closed. */
  result: Promise<SlowReaderResult>;
  kill(): Promise<void>;
}

// Runs in the child: a ws client that pauses `ms` after each read of its socket. It stays alive
// after its connection closes (its pipes stay this process's fds) until it is killed.
const SLOW_CHILD = `
const WebSocket = require(process.argv[1]);
const [url, ms] = process.argv.slice(2);
process.stdin.once('data', () => {
  const ws = new WebSocket(url);
  const seqs = [];
  let last = null, bytes = 0, snapshot = false;
  ws.on('error', () => {});
  ws.on('open', () => {
    const s = ws._socket;
    s.on('data', (d) => { bytes += d.length; s.pause(); setTimeout(() => s.resume(), Number(ms)); });
  });
  ws.on('message', (data) => {
    const m = JSON.parse(String(data));
    if (m.type === 'snapshot' && !snapshot) { snapshot = true; process.stdout.write('open\\n'); }
    else if (m.type === 'event') seqs.push(m.event.detail.seq);
    else last = m;
  });
  ws.on('close', (code, reason) => {
    process.stdout.write(JSON.stringify({ code, reason: String(reason), seqs, last, bytes }) + '\\n');
  });
});
`;

/** A stream client in a child process (its reads are not held up by this process's loop) that
 *  reads 64 KiB at most every `ms`. */
export function slowReader(url: string, ms: number): SlowReader {
  const wsPath = createRequire(import.meta.url).resolve('ws');
  const child = spawn(process.execPath, ['-e', SLOW_CHILD, wsPath, url, String(ms)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  let out = '';
  child.stdout!.setEncoding('utf8');
  const result = new Promise<SlowReaderResult>((resolve) => {
    child.stdout!.on('data', (d: string) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line !== undefined && out.endsWith('\n')) resolve(JSON.parse(line) as SlowReaderResult);
    });
  });
  return {
    async connect() {
      child.stdin!.write('go\n');
      await until(() => out.includes('open'), 10_000, () => `the slow reader's snapshot: ${JSON.stringify(out)}`);
    },
    result,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface StuckClients {
  /** Opens the connections and resolves once every handshake has been answered with 101. */
  connect(): Promise<void>;
  /** Ends the child process (and with it the client side of every connection). */
  kill(): Promise<void>;
}

// Runs in the child: on a line on stdin, opens the connections; each reads the 101 and then
// never reads again. Prints "ready" once all are upgraded.
const STUCK_CHILD = `
const net = require('node:net');
const [port, path, count] = process.argv.slice(1);
const sockets = [];
process.stdin.once('data', () => {
  let upgraded = 0;
  for (let i = 0; i < Number(count); i++) {
    const s = net.connect(Number(port), '127.0.0.1');
    sockets.push(s);
    s.on('error', () => {});
    let head = '';
    const onData = (d) => {
      head += d.toString('latin1');
      if (!head.includes('\\r\\n\\r\\n')) return;
      s.pause();
      s.off('data', onData);
      if (!head.startsWith('HTTP/1.1 101')) { process.stdout.write('refused ' + head.split('\\r\\n')[0] + '\\n'); return; }
      if (++upgraded === Number(count)) process.stdout.write('ready\\n');
    };
    s.on('data', onData);
    s.write('GET ' + path + ' HTTP/1.1\\r\\nHost: 127.0.0.1:' + port + '\\r\\nUpgrade: websocket\\r\\n' +
      'Connection: Upgrade\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n');
  }
});
`;

/** `count` WebSocket clients in a child process that complete the handshake and never read. The
 *  child is started here (its pipes are this process's fds from now on); `connect` opens them. */
export function stuckClients(port: number, path: string, count: number): StuckClients {
  const child = spawn(process.execPath, ['-e', STUCK_CHILD, String(port), path, String(count)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  let out = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => { out += d; });
  return {
    async connect() {
      child.stdin!.write('go\n');
      await until(() => out.includes('ready') || out.includes('refused'), 10_000, () => `the stuck clients' handshakes: ${JSON.stringify(out)}`);
      if (!out.includes('ready')) throw new Error(`a stuck client was refused: ${out}`);
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
