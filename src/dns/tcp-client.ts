// One client connection to a dns proxy over TCP: length-framed queries in, each through the
// query flow, answers framed back in whatever order they are ready (RFC 7766 allows it), and
// the connection's own upstream connection (upstream-tcp.ts). Bounded: at most
// MAX_OUTSTANDING queries at once (reading pauses until one is answered), and closed after
// IDLE_MS with nothing in flight and nothing received.

import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { nanoid } from 'nanoid';
import type { ConnectionDescription } from '../core/live-base.js';
import type { Reporter } from '../core/reporter.js';
import type { Exchange } from './flow.js';
import { frame, FrameReader } from './frames.js';
import { parseQuery } from './message.js';
import { TcpUpstream } from './upstream-tcp.js';
import type { Target } from './upstream-udp.js';

export const MAX_OUTSTANDING = 64;
export const IDLE_MS = 10_000;

export interface TcpClientOwner {
  readonly name: string;
  readonly upstream: string;
  readonly reporter: Reporter;
  /** The upstream's address, or null when it could not be resolved. */
  target(): Target | null;
  /** Where an upstream connection starts choosing query ids. */
  firstId(): number;
  query(x: Exchange): void;
  malformed(client: string, conn: string, reason: string, bytes: number): void;
  closed(client: DnsTcpClient): void;
}

export class DnsTcpClient {
  readonly id = nanoid(12);
  readonly openedAt = Date.now();
  readonly connectedAt = performance.now();
  private lastActivity = performance.now();
  private outstanding = 0;
  private readonly reader = new FrameReader();
  private up: TcpUpstream | null = null;
  private bytesIn = 0;
  private reason = 'closed';
  private done = false;

  constructor(private readonly socket: net.Socket, readonly client: string, private readonly owner: TcpClientOwner) {
    socket.on('data', (data: Buffer) => {
      this.bytesIn += data.length;
      this.lastActivity = performance.now();
      this.reader.push(data, (message) => this.received(message));
    });
    socket.on('error', () => {});
    socket.on('end', () => { if (this.outstanding === 0) this.close('client closed'); });
    socket.on('close', () => this.finished());
    owner.reporter.connectionOpened(this.info());
    socket.resume();
  }

  /** Queries past their upstream deadline fail; an idle connection is closed. */
  sweep(now: number): void {
    this.up?.expire(now);
    if (this.outstanding === 0 && now - this.lastActivity > IDLE_MS) this.close('idle');
  }

  close(reason: string): void {
    if (this.done) return;
    this.reason = reason;
    this.socket.end();
    this.up?.close('stopped');
  }

  destroy(reason: string): void {
    this.reason = reason;
    this.up?.close('stopped');
    this.socket.destroy();
  }

  bytes(): { up: number; down: number } {
    return { up: this.bytesIn, down: this.up?.bytesRead ?? 0 };
  }

  describe(): ConnectionDescription {
    const { up, down } = this.bytes();
    return {
      conn: this.id, protocol: 'dns', client: this.client, opened_at: new Date(this.openedAt).toISOString(),
      age_ms: Math.round(performance.now() - this.connectedAt), bytes_up: up, bytes_down: down, toxics: { upstream: [], downstream: [] },
    };
  }

  private info() {
    return { proxy: this.owner.name, protocol: 'dns' as const, conn: this.id, client: this.client, upstream: this.owner.upstream };
  }

  private received(message: Buffer): void {
    const query = parseQuery(message);
    if (typeof query === 'string') return this.owner.malformed(this.client, this.id, query, message.length);
    if (++this.outstanding >= MAX_OUTSTANDING) this.socket.pause();
    this.owner.query({
      transport: 'tcp', client: this.client, conn: this.id, message, query,
      respond: (answer) => { if (!this.socket.destroyed && this.socket.writable) this.socket.write(frame(answer)); },
      forward: (done) => this.upstream()?.send(message, done) ?? (done(null, 'upstream unresolved'), true),
      finish: () => {
        this.lastActivity = performance.now();
        if (this.outstanding-- === MAX_OUTSTANDING) this.socket.resume();
        if (this.outstanding === 0 && this.socket.readableEnded) this.close('client closed');
      },
    });
  }

  private upstream(): TcpUpstream | null {
    if (this.up !== null) return this.up;
    const target = this.owner.target();
    if (target === null) return null;
    this.up = new TcpUpstream(target, MAX_OUTSTANDING, this.owner.firstId(), (message, context) =>
      this.owner.reporter.warn(`${this.owner.name}: ${message}`, { ...context, upstream: this.owner.upstream }));
    return this.up;
  }

  private finished(): void {
    if (this.done) return;
    this.done = true;
    this.up?.close('stopped');
    const { up, down } = this.bytes();
    this.owner.reporter.connectionClosed({
      ...this.info(), bytesUp: up, bytesDown: down, durationMs: Math.round(performance.now() - this.connectedAt), reason: this.reason,
    });
    this.owner.closed(this);
  }
}
