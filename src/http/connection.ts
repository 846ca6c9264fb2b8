// One client connection of an http proxy: the client's socket with a chain of TCP toxics each
// way (byte-link.ts), the HTTP session above them (HTTP/1.1 or HTTP/2, told apart by the first
// bytes), and one upstream connection: on HTTP/1.1 dialled when the first request is to be
// forwarded, so requests answered by a toxic never reach the server; on HTTP/2 once the client's
// preface is in, as the server's SETTINGS are part of the exchange. One client connection, one
// upstream connection: keep-alive and multiplexing look the same to the server as without the
// proxy.

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { FaultAction, FaultDetail, RandomSource, Stream } from '../toxic.js';
import { isRequestToxic } from '../toxic.js';
import { parseHostPort } from '../core/address.js';
import { Chain, type ChainHost } from '../core/chain.js';
import { LiveBase, type LiveOwner } from '../core/live-base.js';
import type { ReadSlot } from '../core/socket-reader.js';
import type { LiveConnection } from '../core/proxy.js';
import type { StageRun } from '../core/stage.js';
import { TcpProxy } from '../core/tcp-proxy.js';
import type { ToxicConfig } from '../core/toxic-config.js';
import { chainWriter, LayerTarget, SocketSource, SocketTarget } from './byte-link.js';
import type { ExchangeOwner } from './exchange.js';
import type { ExchangeRecord } from './route-stats.js';

export interface HttpOwner extends LiveOwner {
  readonly enabled: boolean;
  requestToxics(): readonly ToxicConfig[];
  matched(toxic: string): { n: number };
  requestRandom(seq: number, toxic: string): RandomSource;
  record(exchange: ExchangeRecord): void;
  closed(conn: HttpConnection): void;
}

/** What runs above the byte streams: the protocol sniffer, then an HTTP/1.1 or HTTP/2 session. */
export interface ProtocolSession {
  /** Bytes from the client, after the upstream chain; a promise asks the chain to wait. */
  fromClient(data: Buffer): void | Promise<void>;
  /** The client half-closed (its FIN came through the chain). */
  clientEnded(): void;
  /** The connection is over: let go of everything. */
  destroy(): void;
}

const CLOSE_GRACE_MS = 5_000;

export class HttpConnection extends LiveBase implements LiveConnection, ExchangeOwner {
  readonly protocol = 'http' as const;
  orphanedBy: string | null = null;
  readonly up: Chain;
  readonly down: Chain;
  /** Bytes read from upstream connections given up (a declined h2c probe's). */
  private droppedBytes = 0;
  session: ProtocolSession;
  private readonly source: SocketSource;
  private readonly toClientWriter: (data: Buffer) => void | Promise<void>;
  private upstreamSocket: net.Socket | null = null;
  private dialing: Promise<net.Socket> | null = null;
  private readonly randoms = new Map<string, RandomSource>();
  private ending = false;
  private done = false;
  private reason = 'closed';

  constructor(id: string, seq: number, client: string, readonly clientSocket: net.Socket, reads: ReadSlot,
    protected override readonly owner: HttpOwner, sniffer: (conn: HttpConnection) => ProtocolSession) {
    super(id, seq, client, owner);
    // The toxics beneath the HTTP layer see a TCP byte stream, whatever runs above it.
    const host: ChainHost = {
      protocol: 'tcp',
      connectedAt: this.connectedAt,
      report: (config, action, detail) => this.report(config, action, detail),
      stageClosed: () => this.close('closed by toxic'),
      reset: () => this.reset('reset by toxic'),
      vanish: (stage) => this.vanish(stage),
      closeConnection: (reason) => this.close(reason),
      failed: (config, err) => this.failed(config, err),
      randomFor: (stream, toxic) => this.randomFor(stream, toxic),
    };
    this.down = new Chain('downstream', new SocketTarget(clientSocket, () => {}), host);
    this.up = new Chain('upstream', new LayerTarget((d) => this.session.fromClient(d), () => this.session.clientEnded()), host);
    this.up.init(owner.toxicsFor('upstream').filter((t) => !isRequestToxic(t.definition)));
    this.down.init(owner.toxicsFor('downstream').filter((t) => !isRequestToxic(t.definition)));
    this.toClientWriter = chainWriter(this.down);
    this.session = sniffer(this);
    this.source = new SocketSource(clientSocket, reads, this.up);
    clientSocket.on('error', (err: NodeJS.ErrnoException) => this.onError(err));
    clientSocket.on('close', () => this.finished());
    owner.reporter.connectionOpened(this.info());
    clientSocket.resume();
  }

  get name(): string { return this.owner.name; }

  warn(message: string, context: Record<string, unknown>): void {
    this.owner.reporter.warn(message, context);
  }
  get closing(): boolean { return this.ending || this.done; }

  chain(stream: Stream): Chain {
    return stream === 'upstream' ? this.up : this.down;
  }

  bytes(): { up: number; down: number } {
    return { up: this.source.bytes, down: this.droppedBytes + (this.upstreamSocket?.bytesRead ?? 0) };
  }

  /** Sends bytes to the client through the downstream chain; a promise means wait. */
  toClient(data: Buffer): void | Promise<void> {
    if (this.ending) return;
    return this.toClientWriter(data);
  }

  /** Ends the client's side after what was sent (FIN through the chain), and the upstream's. */
  endClient(reason: string): void {
    if (this.ending) return;
    this.reason = reason;
    this.down.end();
    if (this.upstreamSocket !== null && !this.upstreamSocket.destroyed) this.upstreamSocket.end();
  }

  /**
   * The upstream connection, dialled on first use after any slow_open delay rolled in on this
   * connection; rejects (having warned and reset the client) when it cannot be reached. It
   * reads through `reads`, as a TCP connection's sockets do.
   */
  upstream(reads: ReadSlot): Promise<net.Socket> {
    this.dialing ??= this.dial(reads);
    return this.dialing;
  }

  /** Forgets the upstream connection (an h2c probe the upstream failed), so the next request
   *  dials a fresh one. */
  dropUpstream(): void {
    if (this.upstreamSocket !== null) {
      this.droppedBytes += this.upstreamSocket.bytesRead;
      this.upstreamSocket.destroy();
    }
    this.upstreamSocket = null;
    this.dialing = null;
  }

  // ---- ExchangeOwner ----

  requestToxics(): readonly ToxicConfig[] { return this.owner.requestToxics(); }
  matched(toxic: string): { n: number } { return this.owner.matched(toxic); }
  random(toxic: string): RandomSource {
    let r = this.randoms.get(toxic);
    if (r === undefined) this.randoms.set(toxic, (r = this.owner.requestRandom(this.seq, toxic)));
    return r;
  }
  record(exchange: ExchangeRecord): void { this.owner.record(exchange); }

  /** A fault no toxic injected: malformed HTTP the proxy refused. */
  rejected(side: 'client' | 'upstream', reason: string, detail: FaultDetail = {}): void {
    this.owner.reporter.fault({
      ...this.info(), toxic: '', type: side === 'client' ? 'malformed_request' : 'malformed_response',
      stream: side === 'client' ? 'upstream' : 'downstream', action: 'rejected' as FaultAction, detail: { reason, ...detail },
    });
  }

  // ---- endings ----

  /** Graceful: FIN both ways now, destroyed if the peers do not finish in time. */
  close(reason = 'closed'): void {
    if (this.ending) return;
    this.stop(reason);
    for (const socket of this.sockets()) {
      socket.end(() => socket.destroy());
      setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
    }
  }

  /** Abortive: the peers see ECONNRESET. */
  reset(reason = 'reset'): void {
    this.stop(reason);
    for (const socket of this.sockets()) socket.resetAndDestroy();
  }

  /** Immediate, for a proxy disabled or deleted: the peers see EOF. */
  destroy(reason: string): void {
    this.stop(reason);
    for (const socket of this.sockets()) socket.destroy();
  }

  protected abort(reason: string): void {
    this.destroy(reason);
  }

  private stop(reason: string): void {
    this.ending = true;
    this.reason = reason;
    this.source.teardown();
    this.up.teardown();
    this.down.teardown();
    this.session.destroy();
  }

  private sockets(): net.Socket[] {
    return [this.clientSocket, this.upstreamSocket].filter((s): s is net.Socket => s !== null && !s.destroyed);
  }

  /** half_open: the far peer vanishes; the near one stays open, read and discarded. */
  private vanish(stage: StageRun): void {
    if (this.ending) return;
    const downstream = this.down.stages.includes(stage);
    this.orphanedBy = stage.config.name;
    this.stop('half-open');
    if (downstream) this.upstreamSocket?.destroy();
    else this.clientSocket.destroy();
    (downstream ? this.clientSocket : this.upstreamSocket)?.resume();
  }

  private onError(err: NodeJS.ErrnoException): void {
    if (this.ending) return;
    if (err.code === 'ECONNRESET') this.reset('peer reset');
    else this.destroy(`socket error: ${err.code ?? err.message}`);
  }

  /** The client's socket closed: nothing more can reach it, so the upstream goes too. */
  private finished(): void {
    if (this.done) return;
    if (!this.ending) this.stop(this.reason);
    this.done = true;
    if (this.orphanedBy === null) this.upstreamSocket?.destroy();
    const { up, down } = this.bytes();
    this.owner.reporter.connectionClosed({
      ...this.info(), bytesUp: up, bytesDown: down, durationMs: Math.round(performance.now() - this.connectedAt), reason: this.reason,
    });
    this.owner.closed(this);
  }

  private async dial(reads: ReadSlot): Promise<net.Socket> {
    const delay = this.connectDelay();
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const { host, port } = parseHostPort(this.owner.upstream);
    const socket = net.connect({ host, port, noDelay: true, allowHalfOpen: true, onread: reads.options });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`connect timed out after ${TcpProxy.dialTimeoutMs} ms`)), TcpProxy.dialTimeoutMs);
        socket.once('connect', () => { clearTimeout(timer); resolve(); });
        socket.once('error', (err) => { clearTimeout(timer); reject(err); });
      });
    } catch (err) {
      socket.destroy();
      this.owner.reporter.warn(`${this.owner.name}: upstream ${this.owner.upstream} unreachable`, { error: (err as Error).message, client: this.client });
      this.reset('upstream unreachable');
      throw err;
    }
    if (this.ending || !this.owner.enabled) {
      socket.destroy();
      throw new Error('connection closed while dialling');
    }
    this.upstreamSocket = socket;
    socket.on('error', () => {});
    return socket;
  }

  /** slow_open's delay, rolled from the same stream its stage rolls from, so they agree. */
  private connectDelay(): number {
    let total = 0;
    for (const stream of ['upstream', 'downstream'] as const) {
      for (const toxic of this.chain(stream).stages) {
        const delay = toxic.active ? toxic.config.definition.connectDelay?.(toxic.config.attributes) ?? 0 : 0;
        if (delay <= 0) continue;
        total += delay;
        this.report(toxic.config, 'delayed', { ms: delay });
      }
    }
    return total;
  }
}
