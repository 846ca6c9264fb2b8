// The live event stream: `/events/stream` upgraded to a WebSocket on the API's own HTTP server.
// The only file that imports 'ws'. A client gets a snapshot, then every bus event passing its
// filters. Nothing here ever waits for a client: each event is serialized once and handed to
// every socket synchronously, so the bus (and the proxies emitting into it) run at the same
// speed whoever watches. A client whose queue outgrows the limit is told how much it missed and
// dropped, so one stuck browser tab cannot grow our memory without bound. With a `stats`
// source, clients that want them also get a `stats` message (cumulative counters) every second.

import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { BusEvents, EventBus } from './bus.js';

/** The bus events a client can receive; `kind` filters name these. */
export const STREAM_KINDS = [
  'fault:injected', 'fault:folded', 'conn:opened', 'conn:closed', 'state:changed',
  'scenario:started', 'scenario:step', 'scenario:finished', 'session:started', 'session:stopped',
] as const;
export type StreamKind = (typeof STREAM_KINDS)[number];

export interface WsHubOptions {
  bus: EventBus;
  /** The first message's content (proxies, toxics, counters), spread after `type: 'snapshot'`. */
  snapshot: () => object;
  /** Default `/events/stream`. */
  path?: string;
  /** Messages a client may have waiting in our memory (not yet taken by its socket). Default 1000. */
  queueLimit?: number;
  /** Default 30 s. A client that has not answered the previous ping by the next is terminated. */
  heartbeatMs?: number;
  /** Largest message a client may send, in bytes. Clients have nothing to say. Default 1 KiB. */
  maxPayload?: number;
  /** How long a lagging client gets to drain before its notice, and to close after it. Default 1 s. */
  lagGraceMs?: number;
  /** Rejects the upgrade with 401 when false (a token check, for instance). */
  authorize?: (req: IncomingMessage) => boolean;
  /** Cumulative counters, sent as `{type: 'stats', ...}` every `statsMs` and as the snapshot's
   *  `stats`, to clients with no filter or with `stats=1`. None are sent without it. */
  stats?: () => object;
  /** Default 1000. */
  statsMs?: number;
}

/** lagged: clients dropped for falling behind; sent: messages handed to sockets (snapshots,
 *  events, stats, notices); missed: events lagging clients did not get. */
export interface WsHubStats { clients: number; lagged: number; sent: number; missed: number }

interface Filter { proxy: string[]; type: string[]; kind: Set<string> | null; stats: boolean }

interface Client {
  ws: WebSocket;
  filter: Filter;
  alive: boolean; // answered the last ping
  /** Frame bytes handed to ws.send so far, and where each message still queued ends (from `head`). */
  handed: number; ends: number[]; head: number;
  /** Events withheld since the client fell behind; null while it keeps up. */
  missed: number | null;
  timer: NodeJS.Timeout | null;
}

export class WsHub {
  readonly path: string;
  private readonly clients = new Set<Client>();
  private readonly wss: WebSocketServer;
  private readonly queueLimit: number;
  private readonly lagGraceMs: number;
  private readonly unsubscribe: Array<() => void>;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly statsTimer: NodeJS.Timeout | null = null;
  private readonly servers = new Set<Server>();
  private counts = { lagged: 0, sent: 0, missed: 0 };

  constructor(private readonly options: WsHubOptions) {
    this.path = options.path ?? '/events/stream';
    this.queueLimit = options.queueLimit ?? 1000;
    this.lagGraceMs = options.lagGraceMs ?? 1000;
    // No compression: it would copy and queue every frame per client, defeating serialize-once.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload ?? 1024, perMessageDeflate: false });
    this.unsubscribe = STREAM_KINDS.map((kind) =>
      options.bus.on(kind, (event: BusEvents[StreamKind]) => this.publish(kind, event)));
    this.heartbeat = setInterval(() => this.beat(), options.heartbeatMs ?? 30_000);
    this.heartbeat.unref();
    if (options.stats !== undefined) {
      this.statsTimer = setInterval(() => this.publishStats(), options.statsMs ?? 1000);
      this.statsTimer.unref();
    }
  }

  attach(server: Server): void {
    this.servers.add(server);
    server.on('upgrade', this.onUpgrade);
  }

  stats(): WsHubStats {
    return { clients: this.clients.size, ...this.counts };
  }

  close(): void {
    clearInterval(this.heartbeat);
    if (this.statsTimer !== null) clearInterval(this.statsTimer);
    for (const off of this.unsubscribe) off();
    for (const server of this.servers) server.off('upgrade', this.onUpgrade);
    for (const client of this.clients) this.drop(client);
    this.wss.close();
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => {}); // a peer vanishing mid-handshake is not our error
    const url = req.url ?? '';
    const q = url.indexOf('?');
    if ((q < 0 ? url : url.slice(0, q)) !== this.path) return refuse(socket, 404, 'Not Found');
    if (!sameOrigin(req)) return refuse(socket, 403, 'Forbidden', 'Origin does not match Host');
    if (this.options.authorize !== undefined && !this.options.authorize(req)) return refuse(socket, 401, 'Unauthorized');
    const filter = parseFilter(new URLSearchParams(q < 0 ? '' : url.slice(q + 1)));
    if (typeof filter === 'string') return refuse(socket, 400, 'Bad Request', filter);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.admit(ws, filter));
  };

  private admit(ws: WebSocket, filter: Filter): void {
    const client: Client = { ws, filter, alive: true, handed: 0, ends: [], head: 0, missed: null, timer: null };
    this.clients.add(client);
    ws.on('error', () => {}); // 'close' follows and cleans up
    ws.on('pong', () => { client.alive = true; });
    ws.on('close', () => this.forget(client));
    let snapshot: string;
    try {
      const stats = filter.stats && this.options.stats !== undefined ? { stats: this.options.stats() } : {};
      snapshot = JSON.stringify({ type: 'snapshot', ...this.options.snapshot(), ...stats });
    } catch {
      ws.close(1011, 'snapshot failed');
      return;
    }
    this.send(client, Buffer.from(snapshot));
  }

  private publish(kind: StreamKind, event: BusEvents[StreamKind]): void {
    let frame: Buffer | null = null; // serialized once, on the first client that wants it
    for (const client of this.clients) {
      if (!matches(client.filter, kind, event as unknown as Record<string, unknown>)) continue;
      if (client.missed !== null) {
        client.missed++;
        this.counts.missed++;
        continue;
      }
      frame ??= Buffer.from(JSON.stringify({ type: 'event', kind, event }));
      this.send(client, frame);
    }
  }

  /** Like an event: serialized once, skipped by lagging clients, counted in the queue. */
  private publishStats(): void {
    let frame: Buffer | null = null;
    for (const client of this.clients) {
      if (!client.filter.stats || client.missed !== null) continue;
      if (frame === null) {
        try {
          frame = Buffer.from(JSON.stringify({ type: 'stats', ...this.options.stats!() }));
        } catch {
          return; // a timer must not throw; the next tick tries again
        }
      }
      this.send(client, frame);
    }
  }

  private send(client: Client, frame: Buffer): void {
    if (client.ws.readyState !== WebSocket.OPEN) return;
    client.ws.send(frame, { binary: false });
    this.counts.sent++;
    if (client.missed === null && this.queued(client, frame.length) > this.queueLimit) this.lag(client);
  }

  /**
   * Messages still in our memory. ws.bufferedAmount counts the bytes the kernel has not taken
   * yet; the offsets where messages end turn that into a count. Send callbacks would not do:
   * they fire a tick later, so a synchronous burst would look like a slow client.
   */
  private queued(client: Client, payload: number): number {
    client.handed += payload + (payload < 126 ? 2 : payload < 65536 ? 4 : 10);
    client.ends.push(client.handed);
    const flushed = client.handed - client.ws.bufferedAmount;
    while (client.head < client.ends.length && client.ends[client.head]! <= flushed) client.head++;
    const waiting = client.ends.length - client.head;
    if (waiting === 0) client.ends.length = client.head = 0;
    return waiting;
  }

  /** Stops sending; the notice goes once the queue drains (a ping's callback says so) or at the grace. */
  private lag(client: Client): void {
    client.missed = 0;
    this.counts.lagged++;
    client.ws.ping(undefined, undefined, () => this.notify(client));
    client.timer = setTimeout(() => this.notify(client), this.lagGraceMs);
  }

  private notify(client: Client): void {
    if (!this.clients.has(client) || client.ws.readyState !== WebSocket.OPEN) return;
    if (client.timer !== null) clearTimeout(client.timer);
    client.ws.send(JSON.stringify({ type: 'lagged', missed: client.missed }));
    this.counts.sent++;
    client.ws.close(1013, 'lagged: reconnect for a fresh snapshot');
    client.timer = setTimeout(() => this.drop(client), this.lagGraceMs);
  }

  private beat(): void {
    for (const client of this.clients) {
      if (!client.alive) { this.drop(client); continue; }
      client.alive = false;
      client.ws.ping();
    }
  }

  private drop(client: Client): void {
    this.forget(client);
    client.ws.terminate();
  }

  private forget(client: Client): void {
    if (client.timer !== null) clearTimeout(client.timer);
    client.timer = null;
    this.clients.delete(client);
  }
}

/** Browsers always send Origin; non-browser clients usually don't, and are allowed. */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  const host = req.headers.host?.toLowerCase();
  if (host === undefined) return false;
  const o = origin.toLowerCase();
  return o === `http://${host}` || o === `https://${host}`;
}

/** `proxy` and `type` may repeat (any of them matches); `kind` also takes a comma list. A client
 *  that filters asked for particular events, so it gets stats only with `stats=1`. */
function parseFilter(params: URLSearchParams): Filter | string {
  const kinds = params.getAll('kind').flatMap((k) => k.split(',')).map((k) => k.trim()).filter((k) => k !== '');
  const unknown = kinds.filter((k) => !(STREAM_KINDS as readonly string[]).includes(k));
  if (unknown.length > 0) return `unknown kind ${unknown.join(', ')}; kinds are ${STREAM_KINDS.join(', ')}`;
  const proxy = params.getAll('proxy');
  const type = params.getAll('type');
  const stats = params.get('stats');
  if (stats !== null && stats !== '0' && stats !== '1') return 'stats must be 0 or 1';
  return {
    proxy, type, kind: kinds.length > 0 ? new Set(kinds) : null,
    stats: stats === null ? proxy.length === 0 && type.length === 0 && kinds.length === 0 : stats === '1',
  };
}

/** Every given filter must match; an event without the field fails a filter on it. */
function matches(filter: Filter, kind: StreamKind, event: Record<string, unknown>): boolean {
  if (filter.kind !== null && !filter.kind.has(kind)) return false;
  if (filter.proxy.length > 0 && !filter.proxy.includes(event.proxy as string)) return false;
  if (filter.type.length > 0 && !filter.type.includes(event.type as string)) return false;
  return true;
}

/** A plain HTTP answer to a refused upgrade; destroyed once written, as ws itself does. */
function refuse(socket: Duplex, status: number, reason: string, body = reason): void {
  if (!socket.writable) { socket.destroy(); return; }
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
