// One UDP client (address:port) of a UDP proxy: its own upstream socket, so the upstream sees
// distinct clients and replies go back to the right one, and a chain of toxics each way. One
// chunk is one datagram. UDP has no back-pressure, so where a chain is full the datagram is
// dropped at its head, as a full router queue would drop it.

import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import type { Chunk, Stream } from '../toxic.js';
import { Chain, type ChainHost } from './chain.js';
import { LiveBase, type LiveOwner } from './live-base.js';
import type { LiveConnection } from './proxy.js';
import type { ChunkTarget, StageRun } from './stage.js';

export interface SessionOwner extends LiveOwner {  /** Sends a datagram from the proxy's listening socket to a client. */
  sendToClient(data: Buffer, port: number, address: string): void;
  sessionClosed(session: UdpSession): void;
}

/** Datagrams that may wait while the upstream socket is still being set up. */
const MAX_EARLY = 1024;

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
  private lastWarn = 0;

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
    this.down = new Chain('downstream', new DatagramSink((d) => this.owner.sendToClient(d, clientPort, clientAddress)), this);
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
    });
    this.owner.sessionClosed(this);
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
    this.socket.send(data, (err) => { if (err) this.upstreamError(err); });
  }

  /** An unreachable upstream answers with ICMP port unreachable: count it, warn now and then. */
  private upstreamError(err: Error): void {
    this.upstreamErrors++;
    const now = performance.now();
    if (now - this.lastWarn < 1000) return;
    this.lastWarn = now;
    this.owner.reporter.warn(`${this.owner.name}: upstream ${this.owner.upstream} unreachable`, {
      conn: this.id, client: this.client, error: (err as NodeJS.ErrnoException).code ?? err.message, errors: this.upstreamErrors,
    });
  }
}
