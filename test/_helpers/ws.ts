// WebSocket hub fixtures: a plain HTTP server on 127.0.0.1:0 with a WsHub attached to a real
// EventBus, clients that record every message with its arrival time, and a probe for refused
// upgrades.

import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
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
