// The upstream connection of one client TCP connection: dialled at its first query that is
// forwarded, its queries pipelined with ids of their own (pending.ts), answers matched by id in
// whatever order they come (RFC 7766 6.2.1.1). A connection the upstream closes fails the
// queries still waiting on it (the client gets SERVFAIL) and is dialled again for the next.

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { frame, FrameReader } from './frames.js';
import { PendingTable, UPSTREAM_TIMEOUT_MS } from './pending.js';
import type { Target } from './upstream-udp.js';

export class TcpUpstream {
  private socket: net.Socket | null = null;
  private connected = false;
  private queued: Buffer[] = [];
  private reader = new FrameReader();
  private readonly pending: PendingTable;
  private closed = false;
  /** Bytes read from the upstream over every connection so far. */
  bytesRead = 0;

  constructor(private readonly target: Target, capacity: number, firstId: number, private readonly warn: (message: string, context: Record<string, unknown>) => void) {
    this.pending = new PendingTable(capacity, firstId);
  }

  /** Sends the query (its id rewritten in place); false when too many are in flight. */
  send(query: Buffer, done: (answer: Buffer | null, reason: string) => void): boolean {
    if (this.closed) return false;
    const id = this.pending.add({ deadline: performance.now() + UPSTREAM_TIMEOUT_MS, done });
    if (id === null) return false;
    query.writeUInt16BE(id, 0);
    const framed = frame(query);
    if (this.connected) this.socket!.write(framed);
    else {
      this.queued.push(framed);
      if (this.socket === null) this.dial();
    }
    return true;
  }

  expire(now: number): void {
    this.pending.expire(now);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket?.destroy();
    this.pending.clear(reason);
  }

  private dial(): void {
    const socket = net.connect({ host: this.target.host, port: this.target.port, noDelay: true });
    this.socket = socket;
    this.reader = new FrameReader();
    // A blackholed address would hang the dial for the kernel's SYN retries: give up with the
    // queries waiting on it.
    socket.setTimeout(UPSTREAM_TIMEOUT_MS, () => { if (!this.connected) socket.destroy(); });
    socket.once('connect', () => {
      socket.setTimeout(0);
      this.connected = true;
      for (const framed of this.queued) socket.write(framed);
      this.queued = [];
    });
    socket.on('data', (data: Buffer) => {
      this.bytesRead += data.length;
      this.reader.push(data, (message) => {
        if (message.length >= 12) this.pending.take(message.readUInt16BE(0))?.done(message, 'answered');
      });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!this.connected) this.warn('dns upstream unreachable over tcp', { error: err.code ?? err.message });
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.connected = false;
      this.queued = [];
      if (!this.closed) this.pending.clear('upstream closed the connection');
    });
  }
}
