// The live event stream: `/events/stream` upgraded to a WebSocket on the API's own HTTP server.
// The only file that imports 'ws'. A client gets a snapshot, then every bus event passing its
// filters. Nothing here ever waits for a client: each event is serialized once, and the one
// Buffer is handed to every socket (or queued for it) synchronously, so the bus (and the proxies
// emitting into it) run at the same speed whoever watches. With a `stats` source, clients that
// want them also get a `stats` message (cumulative counters) every second.
//
// Slow clients are bounded in bytes. ws never holds more than HIGH_WATER for a client; the rest
// waits in the hub's own queue (references to the shared frames) and is pumped on the send
// callback of the frame that filled ws up. A client whose queue plus ws's buffer passes
// `queueBytes` loses its queue (what it missed is counted), gets `{type: 'lagged'}` and a close
// frame, which wait behind at most HIGH_WATER rather than megabytes. Its socket is terminated
// as soon as ws's buffer stops shrinking, or has emptied into the kernel (which delivers the
// rest on its own), so a stuck client's fd is freed within a grace or two.

import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { BusEvents, EventBus } from './bus.js';
import { matches, parseFilter, STREAM_KINDS, type Filter, type StreamKind } from './stream-filter.js';

/** Bytes ws may hold for one client (its own buffer plus the socket's) before the hub queues. */
export const HIGH_WATER = 256 * 1024;
/** Room for frames ws adds by itself (pings, the close frame) and a frame's header. */
const SLACK = 1024;
const TEXT = { binary: false } as const;

export interface WsHubOptions {
  bus: EventBus;
  /** The first message's content (proxies, toxics, counters), spread after `type: 'snapshot'`. */
  snapshot: () => object;
  /** Default `/events/stream`. */
  path?: string;
  /** Bytes a client may have waiting in our memory (the hub's queue plus ws's buffer, not yet
   *  taken by the kernel) before it is dropped as lagging. Default 4 MiB. */
  queueBytes?: number;
  /** Default 30 s. A client that has not answered the previous ping by the next is terminated. */
  heartbeatMs?: number;
  /** Largest message a client may send, in bytes. Clients have nothing to say. Default 1 KiB. */
  maxPayload?: number;
  /** After a lagging client's close frame: how long it may go without taking any of what is
   *  left in ws's buffer before its socket is terminated. Once ws's buffer is empty the notice
   *  and close frame are the kernel's to deliver, and the socket is terminated at the next
   *  check: a client reading ~1 MB/s or faster still gets them. Default 2 s. */
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
 *  events, stats, notices); missed: events discarded from lagging clients' queues (the sum of
 *  what their notices said). */
export interface WsHubStats { clients: number; lagged: number; sent: number; missed: number }

interface Client {
  ws: WebSocket;
  filter: Filter;
  alive: boolean; // answered the last ping
  /** Frames waiting for room in ws, from `head`; `isEvent` marks events (not stats or the
   *  snapshot), since only events count as missed. */
  queue: Buffer[]; isEvent: boolean[]; head: number; queuedBytes: number;
  /** Set once the client lagged: it gets nothing more and is on its way out. */
  lagging: boolean;
  timer: NodeJS.Timeout | null;
  /** The send callback that moves more of the queue into ws; made once per client. */
  pump: () => void;
}

export class WsHub {
  readonly path: string;
  private readonly clients = new Set<Client>();
  private readonly wss: WebSocketServer;
  private readonly queueBytes: number;
  private readonly lagGraceMs: number;
  private readonly unsubscribe: Array<() => void>;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly statsTimer: NodeJS.Timeout | null = null;
  private readonly servers = new Set<Server>();
  private counts = { lagged: 0, sent: 0, missed: 0 };

  constructor(private readonly options: WsHubOptions) {
    this.path = options.path ?? '/events/stream';
    this.queueBytes = options.queueBytes ?? 4 * 1024 * 1024;
    this.lagGraceMs = options.lagGraceMs ?? 2000;
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
    const client: Client = {
      ws, filter, alive: true, queue: [], isEvent: [], head: 0, queuedBytes: 0, lagging: false, timer: null,
      pump: () => this.pump(client),
    };
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
    this.send(client, Buffer.from(snapshot), false);
  }

  private publish(kind: StreamKind, event: BusEvents[StreamKind]): void {
    let frame: Buffer | null = null; // serialized once, on the first client that wants it
    for (const client of this.clients) {
      if (client.lagging || !matches(client.filter, kind, event as unknown as Record<string, unknown>)) continue;
      frame ??= Buffer.from(JSON.stringify({ type: 'event', kind, event }));
      this.send(client, frame, true);
    }
  }

  /** Like an event: serialized once, skipped by lagging clients, counted in the queue. */
  private publishStats(): void {
    let frame: Buffer | null = null;
    for (const client of this.clients) {
      if (!client.filter.stats || client.lagging) continue;
      if (frame === null) {
        try {
          frame = Buffer.from(JSON.stringify({ type: 'stats', ...this.options.stats!() }));
        } catch {
          return; // a timer must not throw; the next tick tries again
        }
      }
      this.send(client, frame, false);
    }
  }

  /**
   * Hands the frame to ws while ws holds less than HIGH_WATER and nothing is queued ahead of it,
   * and queues it otherwise. ws.bufferedAmount drops as soon as the kernel takes a write, even
   * within a synchronous burst, so a client the kernel keeps up with never queues here.
   */
  private send(client: Client, frame: Buffer, isEvent: boolean): void {
    if (client.lagging || client.ws.readyState !== WebSocket.OPEN) return;
    if (client.head === client.queue.length && client.ws.bufferedAmount < HIGH_WATER) {
      this.hand(client, frame);
    } else {
      client.queue.push(frame);
      client.isEvent.push(isEvent);
      client.queuedBytes += frame.length;
    }
    if (client.queuedBytes + client.ws.bufferedAmount > this.queueBytes) this.lag(client);
  }

  /** Only a frame that may fill ws up carries the pump as its callback: with ws at HIGH_WATER,
   *  the last frame handed is such a frame, so a queued frame always has a pump coming. */
  private hand(client: Client, frame: Buffer): void {
    const filling = client.ws.bufferedAmount + frame.length + SLACK >= HIGH_WATER;
    client.ws.send(frame, TEXT, filling ? client.pump : undefined);
    this.counts.sent++;
  }

  private pump(client: Client): void {
    const ws = client.ws;
    while (client.head < client.queue.length && ws.bufferedAmount < HIGH_WATER) {
      if (client.lagging || ws.readyState !== WebSocket.OPEN) return;
      const frame = client.queue[client.head]!;
      client.head++;
      client.queuedBytes -= frame.length;
      this.hand(client, frame);
    }
    // A client that stays just behind may never empty its queue: let go of what was handed.
    if (client.head === client.queue.length || client.head >= 1024) {
      client.queue.splice(0, client.head);
      client.isEvent.splice(0, client.head);
      client.head = 0;
    }
  }

  /**
   * Discards the queue (its events are what the client missed), then sends the notice and the
   * close frame, which wait behind at most ws's HIGH_WATER. While ws's buffer keeps shrinking the
   * client is reading toward them; once it stops (or is empty, the rest being the kernel's to
   * deliver), the socket is terminated so its fd does not outlive the client's interest.
   */
  private lag(client: Client): void {
    let missed = 0;
    for (let i = client.head; i < client.isEvent.length; i++) if (client.isEvent[i]) missed++;
    const behind = client.queuedBytes + client.ws.bufferedAmount;
    client.queue = [];
    client.isEvent = [];
    client.head = client.queuedBytes = 0;
    client.lagging = true;
    this.counts.lagged++;
    this.counts.missed += missed;
    client.ws.send(JSON.stringify({ type: 'lagged', missed }));
    this.counts.sent++;
    client.ws.close(1013, `lagged: ${behind} bytes queued, over ${this.queueBytes}; reconnect for a fresh snapshot`);
    this.closeWithin(client, client.ws.bufferedAmount);
  }

  private closeWithin(client: Client, buffered: number): void {
    client.timer = setTimeout(() => {
      const now = client.ws.bufferedAmount;
      if (now > 0 && now < buffered) this.closeWithin(client, now);
      else this.drop(client);
    }, this.lagGraceMs);
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

/** A plain HTTP answer to a refused upgrade; destroyed once written, as ws itself does. */
function refuse(socket: Duplex, status: number, reason: string, body = reason): void {
  if (!socket.writable) { socket.destroy(); return; }
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
