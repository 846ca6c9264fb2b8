// The one UDP socket a dns proxy asks its upstream through, connected to it (so the kernel only
// lets the upstream's datagrams in), with the ids of the queries in flight (pending.ts). One
// socket for every client: resolvers send each query from a fresh port, so a socket per client
// address, as the udp proxy keeps, would be a socket per query.

import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { PendingTable, UPSTREAM_TIMEOUT_MS } from './pending.js';

export interface Target {
  host: string;
  port: number;
  family: 4 | 6;
}

/** Kernel buffers asked for, so bursts are not lost before they are read. */
const SOCKET_BUFFER = 4 * 1024 * 1024;
const WARN_EVERY_MS = 1000;

export class UdpUpstream {
  private readonly socket: dgram.Socket;
  private readonly pending: PendingTable;
  /** Queries sent before the socket finished connecting. */
  private early: Buffer[] | null = [];
  private closed = false;
  private warnedAt = -Infinity;
  /** Sends the upstream refused (ICMP port unreachable and the like). */
  errors = 0;

  constructor(target: Target, capacity: number, firstId: number, private readonly warn: (message: string, context: Record<string, unknown>) => void) {
    this.pending = new PendingTable(capacity, firstId);
    this.socket = dgram.createSocket({ type: target.family === 6 ? 'udp6' : 'udp4', recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER });
    this.socket.on('message', (message) => this.answer(message));
    this.socket.on('error', (err) => this.failed(err));
    this.socket.connect(target.port, target.host, () => {
      const early = this.early ?? [];
      this.early = null;
      if (!this.closed) for (const query of early) this.socket.send(query);
    });
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends the query (its id rewritten in place); false when too many are in flight. */
  send(query: Buffer, done: (answer: Buffer | null, reason: string) => void): boolean {
    if (this.closed) return false;
    const id = this.pending.add({ deadline: performance.now() + UPSTREAM_TIMEOUT_MS, done });
    if (id === null) return false;
    query.writeUInt16BE(id, 0);
    if (this.early !== null) this.early.push(query);
    else this.socket.send(query);
    return true;
  }

  /** Queries whose upstream has not answered in time. */
  expire(now: number): void {
    this.pending.expire(now);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.pending.clear(reason);
    this.socket.close();
  }

  private answer(message: Buffer): void {
    // A response (QR set) with an id we gave; anything else is not an answer to us.
    if (message.length < 12 || (message[2]! & 0x80) === 0) return;
    this.pending.take(message.readUInt16BE(0))?.done(message, 'answered');
  }

  private failed(err: NodeJS.ErrnoException): void {
    this.errors++;
    const now = performance.now();
    if (now - this.warnedAt < WARN_EVERY_MS) return;
    this.warnedAt = now;
    this.warn('dns upstream refused a query', { error: err.code ?? err.message });
  }
}
