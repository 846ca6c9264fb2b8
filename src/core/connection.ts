// One proxied TCP connection: the client socket, the upstream socket, and a link for each
// direction. Half-close is the default: a FIN travels through its link and half-closes the
// far socket, while the other direction keeps flowing. The connection is over when both
// sockets have closed.

import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Stream } from '../toxic.js';
import type { Chain, ChainHost } from './chain.js';
import { LiveBase, type LiveOwner } from './live-base.js';
import { Link } from './link.js';
import type { ReadSlot } from './socket-reader.js';
import type { StageRun } from './stage.js';

export interface ConnectionOwner extends LiveOwner {
  closed(conn: Connection): void;
}

/** How long a graceful close may take to flush before the sockets are destroyed outright. */
const CLOSE_GRACE_MS = 5_000;

export class Connection extends LiveBase implements ChainHost {
  readonly protocol = 'tcp' as const;
  /** The half-open toxic that orphaned this connection, if one did. */
  orphanedBy: string | null = null;
  readonly up: Link;
  readonly down: Link;
  private readonly started = performance.now();
  private open = 2;
  private reason = 'closed';
  private ending = false;

  constructor(
    id: string,
    seq: number,
    client: string,
    private readonly clientSocket: Socket,
    private readonly upstreamSocket: Socket,
    /** Where each socket's reads go (both sockets read through socket-reader.ts). */
    reads: { client: ReadSlot; upstream: ReadSlot },
    protected override readonly owner: ConnectionOwner,
  ) {
    super(id, seq, client, owner);
    const sinkDone = (link: Link) => { if (link.closing) this.close('closed by toxic'); };
    this.up = new Link('upstream', clientSocket, reads.client, upstreamSocket, this, sinkDone);
    this.down = new Link('downstream', upstreamSocket, reads.upstream, clientSocket, this, sinkDone);
    this.up.chain.init(owner.toxicsFor('upstream'));
    this.down.chain.init(owner.toxicsFor('downstream'));
    for (const socket of [clientSocket, upstreamSocket]) {
      socket.on('error', (err: NodeJS.ErrnoException) => this.onError(err));
      socket.on('close', () => this.onClose());
    }
    owner.reporter.connectionOpened(this.info());
    clientSocket.resume();
  }

  chain(stream: Stream): Chain {
    return (stream === 'upstream' ? this.up : this.down).chain;
  }

  /** Graceful: stop the links, flush what the sockets hold, send FIN both ways, then close. */
  close(reason = 'closed'): void {
    if (this.ending) return;
    this.ending = true;
    this.reason = reason;
    this.up.teardown();
    this.down.teardown();
    for (const socket of [this.clientSocket, this.upstreamSocket]) {
      if (socket.destroyed) continue;
      // Unread input at close() turns the FIN into an RST, so keep reading (the links' teardown
      // discards what is read).
      socket.resume();
      socket.end(() => socket.destroy());
      setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
    }
  }

  /** Abortive: both peers see ECONNRESET. */
  reset(reason = 'reset'): void {
    this.reason = reason;
    this.ending = true;
    this.up.teardown();
    this.down.teardown();
    for (const socket of [this.clientSocket, this.upstreamSocket]) {
      if (!socket.destroyed) socket.resetAndDestroy();
    }
  }

  /** Immediate: used when a proxy is disabled or deleted. Peers see EOF. */
  destroy(reason: string): void {
    this.reason = reason;
    this.ending = true;
    this.up.teardown();
    this.down.teardown();
    this.clientSocket.destroy();
    this.upstreamSocket.destroy();
  }

  // ---- ChainHost ----

  stageClosed(stage: StageRun): void {
    const link = this.up.stages.includes(stage) ? this.up : this.down;
    link.closing = true;
    if (link.finished) this.close('closed by toxic');
  }

  /**
   * The far peer of `stage`'s stream vanishes: its socket is closed, while the near one stays
   * open, read and discarded, and never written to, so its peer sees neither FIN nor RST.
   * Not even after the near peer half-closes: a vanished peer could not answer its FIN. The
   * orphan stays a live connection until its peer aborts, the toxic goes, or the proxy stops.
   */
  vanish(stage: StageRun): void {
    if (this.ending) return;
    const downstream = this.down.stages.includes(stage);
    const far = downstream ? this.upstreamSocket : this.clientSocket;
    const near = downstream ? this.clientSocket : this.upstreamSocket;
    this.ending = true;
    this.reason = 'half-open';
    this.orphanedBy = stage.config.name;
    this.up.teardown();
    this.down.teardown();
    far.destroy();
    near.resume();
  }

  closeConnection(reason: string): void {
    this.close(reason);
  }

  bytes(): { up: number; down: number } {
    return { up: this.up.bytes, down: this.down.bytes };
  }

  protected abort(reason: string): void {
    this.destroy(reason);
  }

  private onError(err: NodeJS.ErrnoException): void {
    if (this.ending) return;
    // Pass a reset through as a reset, so the far peer sees what a direct peer would.
    if (err.code === 'ECONNRESET') this.reset('peer reset');
    else this.destroy(`socket error: ${err.code ?? err.message}`);
  }

  private onClose(): void {
    if (--this.open > 0) return;
    this.up.teardown();
    this.down.teardown();
    this.owner.reporter.connectionClosed({
      ...this.info(),
      bytesUp: this.up.bytes,
      bytesDown: this.down.bytes,
      durationMs: Math.round(performance.now() - this.started),
      reason: this.reason,
    });
    this.owner.closed(this);
  }
}

