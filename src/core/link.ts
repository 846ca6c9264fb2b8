// One direction of one TCP connection: source socket -> toxic chain -> sink socket.
//
// Reads arrive through the source's ReadSlot (socket-reader.ts). With no stages, data goes
// socket to socket with the same write/pause/drain dance that stream.pipe does, and nothing
// else. With stages, each read becomes a chunk stamped with its
// arrival time and enters the chain; when the chain is full the source is paused, so
// back-pressure reaches the sender.

import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import type { Chunk, Stream } from '../toxic.js';
import { Chain, type ChainHost } from './chain.js';
import { discard, type ReadSlot } from './socket-reader.js';
import type { ChunkTarget } from './stage.js';

/** The end of a link: writes into a socket, half-closing it at end of stream. */
class SocketSink implements ChunkTarget {
  private drain: Promise<void> | null = null;

  constructor(private readonly socket: Socket, private readonly onFinish: () => void) {}

  accept(chunk: Chunk): void | Promise<void> {
    return this.writeBuffer(chunk.data);
  }

  writeBuffer(data: Buffer): void | Promise<void> {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return;
    if (socket.write(data)) return;
    if (this.drain === null) {
      this.drain = new Promise((resolve) => {
        const done = () => {
          socket.off('drain', done);
          socket.off('close', done);
          this.drain = null;
          resolve();
        };
        socket.on('drain', done);
        socket.on('close', done);
      });
    }
    return this.drain;
  }

  force(chunk: Chunk): void { void this.writeBuffer(chunk.data); }

  /** Whatever was written has gone to the kernel: no buffer of ours is still referenced. */
  flushed(): boolean {
    return this.socket.writableLength === 0;
  }

  finish(): void {
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.end();
    this.onFinish();
  }
}

export class Link {
  readonly chain: Chain;
  bytes = 0;
  /** End of stream has reached the sink. */
  finished = false;
  /** A stage asked for the connection to close once its end of stream reaches the sink. */
  closing = false;
  private torn = false;
  private readonly sink: SocketSink;
  private waits = 0;

  constructor(
    readonly stream: Stream,
    private readonly source: Socket,
    private readonly reads: ReadSlot,
    sinkSocket: Socket,
    host: ChainHost,
    onSinkFinished: (link: Link) => void,
  ) {
    this.sink = new SocketSink(sinkSocket, () => {
      this.finished = true;
      onSinkFinished(this);
    });
    this.chain = new Chain(stream, this.sink, host);
    reads.set(this.onData);
    source.on('end', this.onEnd);
  }

  get stages() { return this.chain.stages; }

  teardown(): void {
    if (this.torn) return;
    this.torn = true;
    this.reads.set(discard);
    this.source.off('end', this.onEnd);
    this.chain.teardown();
  }

  /** Returns whether the read's bytes are done with: written straight to the kernel, as on
   *  the bare path they almost always are. A chunk in the chain keeps them. */
  private readonly onData = (data: Buffer): boolean => {
    this.bytes += data.length;
    const first = this.chain.stages[0];
    if (first === undefined) {
      const wait = this.sink.writeBuffer(data);
      if (wait !== undefined) this.hold(wait);
      return this.sink.flushed();
    }
    const wait = first.accept({ data, ts: performance.now() });
    if (wait !== undefined) this.hold(wait);
    return false;
  };

  private readonly onEnd = (): void => this.chain.end();

  /** Pauses the source until the next stage or the sink has room again. */
  private hold(wait: Promise<void>): void {
    this.waits++;
    this.source.pause();
    void wait.then(() => {
      if (--this.waits === 0 && !this.torn) this.source.resume();
    });
  }
}
