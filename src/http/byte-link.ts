// The byte streams under an http proxy's HTTP layer: the client's reads go through the
// upstream chain of TCP toxics before the layer parses them, and what the layer sends the
// client goes through the downstream chain before the socket. The same Chain as a TCP
// connection's, so every byte-stream toxic (latency, bandwidth, reset_peer, limit_data...)
// acts on an http proxy's connections as on a TCP proxy's, live changes included.

import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Chain } from '../core/chain.js';
import { discard, type ReadSlot } from '../core/socket-reader.js';
import type { ChunkTarget } from '../core/stage.js';
import type { Chunk } from '../toxic.js';

/** The end of the downstream chain: writes into the client's socket, with back-pressure. */
export class SocketTarget implements ChunkTarget {
  private drain: Promise<void> | null = null;

  constructor(private readonly socket: Socket, private readonly onFinish: () => void) {}

  accept(chunk: Chunk): void | Promise<void> {
    return this.write(chunk.data);
  }

  force(chunk: Chunk): void {
    void this.write(chunk.data);
  }

  finish(): void {
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.end();
    this.onFinish();
  }

  private write(data: Buffer): void | Promise<void> {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return;
    if (socket.write(data)) return;
    this.drain ??= new Promise((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        this.drain = null;
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
    return this.drain;
  }
}

/** The end of the upstream chain: hands the client's bytes to the HTTP layer, which may ask
 *  the chain to wait (a held request, a full upstream socket). */
export class LayerTarget implements ChunkTarget {
  constructor(private readonly take: (data: Buffer) => void | Promise<void>, private readonly end: () => void) {}

  accept(chunk: Chunk): void | Promise<void> {
    return this.take(chunk.data);
  }

  force(chunk: Chunk): void {
    void this.take(chunk.data);
  }

  finish(): void {
    this.end();
  }
}

/** Feeds a socket's reads (through its ReadSlot: socket-reader.ts, as a TCP connection's
 *  are) into a chain's head, pausing the socket while anything downstream asks to wait. */
export class SocketSource {
  bytes = 0;
  private waits = 0;
  private torn = false;

  constructor(private readonly socket: Socket, private readonly reads: ReadSlot, private readonly chain: Chain) {
    reads.set(this.onData);
    socket.on('end', this.onEnd);
  }

  /** Stops feeding the chain; the socket keeps reading and discarding, so a close is a FIN
   *  and not a reset for unread input. */
  teardown(): void {
    if (this.torn) return;
    this.torn = true;
    this.reads.set(discard);
    this.socket.off('end', this.onEnd);
    this.socket.resume();
  }

  /** The HTTP layer keeps what it reads (a head waiting for its end, a pipelined request), so
   *  the bytes are never handed back for reuse. */
  private readonly onData = (data: Buffer): boolean => {
    this.bytes += data.length;
    const wait = this.chain.head().accept({ data, ts: performance.now() });
    if (wait === undefined) return false;
    this.waits++;
    this.socket.pause();
    void wait.then(() => {
      if (--this.waits === 0 && !this.torn) this.socket.resume();
    });
    return false;
  };

  private readonly onEnd = (): void => this.chain.end();
}

/** Hands a socket's reads (through `reads`) to `take`, pausing the socket while a promise it
 *  returns is pending. The bytes are kept, as in SocketSource. */
export function feed(socket: Socket, reads: ReadSlot, take: (data: Buffer) => void | Promise<void>): void {
  let waits = 0;
  reads.set((data) => {
    const wait = take(data);
    if (wait === undefined) return false;
    waits++;
    socket.pause();
    void wait.then(() => { if (--waits === 0 && !socket.destroyed) socket.resume(); });
    return false;
  });
  socket.resume();
}

/** Writes to a socket; a promise when it is full, settled once it drains (or closes). */
export function writeSocket(socket: Socket, data: Buffer): void | Promise<void> {
  if (socket.destroyed || socket.writableEnded || socket.write(data)) return;
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** Writes into the head of a chain, stamping each chunk as it enters. */
export function chainWriter(chain: Chain): (data: Buffer) => void | Promise<void> {
  return (data) => chain.head().accept({ data, ts: performance.now() });
}
