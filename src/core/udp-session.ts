// One UDP client (address:port) of a UDP proxy: its own upstream socket, so the upstream sees
// distinct clients and replies go back to the right one, and a chain of toxics each way. One
// chunk is one datagram. UDP has no back-pressure, so where a chain is full the datagram is
// dropped at its head, as a full router queue would drop it.

import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import type { Chunk, Stream } from '../toxic.js';
import { Chain, type ChainHost } from './chain.js';
import { LiveBase, type ConnectionDescription, type LiveOwner } from './live-base.js';
import type { LiveConnection } from './proxy.js';
import type { ChunkTarget, StageRun } from './stage.js';

export interface SessionOwner extends LiveOwner {
  /** Sends a datagram from the proxy's listening socket to a client; `failed` hears of errors. */
  sendToClient(data: Buffer, port: number, address: string, failed?: (err: Error) => void): void;
  sessionClosed(session: UdpSession): void;
}

/** Datagrams that may wait while the upstream socket is still being set up. */
const MAX_EARLY = 1024;
/** The largest UDP payload IPv4 carries. IPv6 carries up to 65,527 bytes, so a datagram between
 *  the two fits one side of a proxy that joins the families but not the other. */
const MAX_IPV4_PAYLOAD = 65_507;

class DatagramSink implements ChunkTarget {
  constructor(private readonly send: (data: Buffer) => void) {}
  accept(chunk: Chunk): void { this.send(chunk.data); }
  force(chunk: Chunk): void { this.send(chunk.data); }
  /** Datagrams have no end of stream. */
  finish(): void {}
}

export class UdpSession extends LiveBase implements ChainHost, LiveConnection {
  readonly protocol = 'udp' as const;
  readonly orphanedBy = null;
  readonly up: Chain;
  readonly down: Chain;
  bytesUp = 0;
  bytesDown = 0;
  datagramsUp = 0;
  datagramsDown = 0;
  upstreamErrors = 0;
  lastActivity = performance.now();
  private readonly socket: dgram.Socket;
  private early: Buffer[] | null = [];
  private closed = false;
  /** -Infinity, not 0: performance.now() starts near 0, so the first error must still warn. */
  private lastWarn = -Infinity;

  constructor(
    id: string,
    seq: number,
    readonly clientAddress: string,
    readonly clientPort: number,
    client: string,
    target: { host: string; port: number; family: 4 | 6 },
    protected override readonly owner: SessionOwner,
  ) {
    super(id, seq, client, owner);
    this.socket = dgram.createSocket(target.family === 6 ? 'udp6' : 'udp4');
    this.socket.on('message', (data) => this.fromUpstream(data));
    this.socket.on('error', (err) => this.upstreamError(err));
    this.socket.connect(target.port, target.host, () => {
      const early = this.early ?? [];
      this.early = null;
      for (const data of early) this.sendUpstream(data);
    });
    this.up = new Chain('upstream', new DatagramSink((d) => this.sendUpstream(d)), this);
    this.down = new Chain('downstream', new DatagramSink((d) => this.sendToClient(d)), this);
    this.up.init(owner.toxicsFor('upstream'));
    this.down.init(owner.toxicsFor('downstream'));
    owner.reporter.connectionOpened(this.info());
  }

  chain(stream: Stream): Chain {
    return stream === 'upstream' ? this.up : this.down;
  }

  fromClient(data: Buffer): void {
    this.lastActivity = performance.now();
    this.bytesUp += data.length;
    this.datagramsUp++;
    this.enter(this.up, data);
  }

  close(reason = 'closed'): void {
    if (this.closed) return;
    this.closed = true;
    this.up.teardown();
    this.down.teardown();
    this.socket.close();
    this.owner.reporter.connectionClosed({
      ...this.info(),
      bytesUp: this.bytesUp,
      bytesDown: this.bytesDown,
      durationMs: Date.now() - this.openedAt,
      reason,
      upstreamErrors: this.upstreamErrors,
    });
    this.owner.sessionClosed(this);
  }

  override describe(): ConnectionDescription & { upstream_errors: number } {
    return { ...super.describe(), upstream_errors: this.upstreamErrors };
  }

  /** UDP has no reset; the session simply ends. */
  reset(reason = 'reset'): void { this.close(reason); }

  // ---- ChainHost ----

  stageClosed(): void { this.close('closed by toxic'); }
  closeConnection(reason: string): void { this.close(reason); }
  /** Only TCP toxics vanish a peer; a UDP session has no connection to leave half-open. */
  vanish(stage: StageRun): void { void stage; }

  bytes(): { up: number; down: number } {
    return { up: this.bytesUp, down: this.bytesDown };
  }

  protected abort(reason: string): void {
    this.close(reason);
  }

  private fromUpstream(data: Buffer): void {
    this.lastActivity = performance.now();
    this.bytesDown += data.length;
    this.datagramsDown++;
    this.enter(this.down, data);
  }

  private enter(chain: Chain, data: Buffer): void {
    const first = chain.stages[0];
    if (first === undefined) return void chain.sink.accept({ data, ts: 0 });
    if (!first.hasRoom()) {
      // Dropped on purpose: a datagram path never queues without bound.
      this.report(first.config, 'dropped', { bytes: data.length, reason: 'queue_full' });
      return;
    }
    void first.accept({ data, ts: performance.now() });
  }

  private sendUpstream(data: Buffer): void {
    if (this.closed) return;
    if (this.early !== null) {
      if (this.early.length < MAX_EARLY) this.early.push(data);
      return;
    }
    this.socket.send(data, (err) => { if (err) this.sendFailed('upstream', data.length, err); });
  }

  private sendToClient(data: Buffer): void {
    // Only a datagram too large for IPv4 can fail here; a callback on every send would cost
    // the common path for nothing (without one, Node drops send errors silently).
    if (data.length <= MAX_IPV4_PAYLOAD) return this.owner.sendToClient(data, this.clientPort, this.clientAddress);
    this.owner.sendToClient(data, this.clientPort, this.clientAddress, (err) => this.sendFailed('downstream', data.length, err));
  }

  private sendFailed(stream: Stream, bytes: number, err: Error): void {
    if (codeOf(err) !== 'EMSGSIZE') {
      if (stream === 'upstream') return this.upstreamError(err);
      return this.warn(`${this.owner.name}: sending to client ${this.client} failed`, err);
    }
    // DROPPED: the far side's address family cannot carry this datagram. No toxic did it, so
    // the event names none; it still counts and is rate-limited like every other drop.
    this.owner.reporter.fault({
      proxy: this.owner.name, protocol: this.protocol, conn: this.id, client: this.client,
      toxic: '', type: '', stream, action: 'dropped', detail: { reason: 'too_large', bytes },
    });
    const to = stream === 'upstream' ? `upstream ${this.owner.upstream}` : `client ${this.client}`;
    this.warn(`${this.owner.name}: dropped a ${bytes}-byte datagram too large to send to ${to}`, err);
  }

  /** Errors from the upstream socket; above all ICMP unreachable, which arrives on a later send
   *  or receive. Counted for GET /connections, conn:closed and metrics; warned now and then. */
  private upstreamError(err: Error): void {
    if (this.closed) return; // its count has gone to the proxy's total already
    this.upstreamErrors++;
    const code = codeOf(err);
    const what = UNREACHABLE[code] === undefined ? 'failed' : `unreachable (${UNREACHABLE[code]})`;
    this.warn(`${this.owner.name}: upstream ${this.owner.upstream} ${what}`, err);
  }

  private warn(message: string, err: Error): void {
    const now = performance.now();
    if (now - this.lastWarn < 1000) return;
    this.lastWarn = now;
    this.owner.reporter.warn(message, {
      conn: this.id, client: this.client, error: codeOf(err), upstream_errors: this.upstreamErrors,
    });
  }
}

const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: 'ICMP port unreachable: nothing listens there',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network unreachable',
};

const codeOf = (err: Error): string => (err as NodeJS.ErrnoException).code ?? err.message;
