// One direction of one TCP connection: source socket -> toxic stages -> sink socket.
//
// With no stages, data goes socket to socket with the same write/pause/drain dance that
// stream.pipe does, and nothing else. Stages are swapped in and out live. Because JavaScript
// runs one thing at a time, rewiring a stage's output is atomic, and these rules keep every
// byte in order:
// - add: the new stage goes last; the old last stage's output is pointed at it. Everything
//   the old stage already wrote is at the sink, older than anything it writes from now on.
// - remove: the stage is interrupted and its pipe flushes what it holds to its output; then,
//   in one synchronous step, its queue is moved onto its output and its predecessor is
//   pointed past it.
// - update: the stage is interrupted and restarted over the same queue and state.
// Changes on one link run one at a time.

import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import type { Chunk, Stream } from '../toxic.js';
import type { ChunkTarget, StageHost } from './stage.js';
import { StageRun } from './stage.js';
import type { ToxicConfig } from './toxic-config.js';
import type { RandomSource } from '../toxic.js';

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

  finish(): void {
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.end();
    this.onFinish();
  }
}

export interface LinkHost extends StageHost {
  /** A stream of random values for the stage of `toxic` on this link. */
  randomFor(stream: Stream, toxic: string): RandomSource;
}

export class Link {
  readonly stages: StageRun[] = [];
  bytes = 0;
  /** End of stream has reached the sink. */
  finished = false;
  /** A stage asked for the connection to close once its end of stream reaches the sink. */
  closing = false;
  private torn = false;
  private sourceEnded = false;
  private readonly sink: SocketSink;
  private waits = 0;
  private changes: Promise<void> = Promise.resolve();

  constructor(
    readonly stream: Stream,
    private readonly source: Socket,
    sinkSocket: Socket,
    private readonly host: LinkHost,
    private readonly onSinkFinished: (link: Link) => void,
  ) {
    this.sink = new SocketSink(sinkSocket, () => {
      this.finished = true;
      this.onSinkFinished(this);
    });
    source.on('data', this.onData);
    source.on('end', this.onEnd);
  }

  /** Builds the initial chain before any data flows; no serialisation needed yet. */
  init(configs: readonly ToxicConfig[]): void {
    for (const config of configs) this.append(config);
  }

  add(config: ToxicConfig): Promise<void> {
    return this.serial(async () => {
      if (!this.torn && !this.finished) this.append(config);
    });
  }

  update(config: ToxicConfig): Promise<void> {
    return this.serial(async () => {
      const stage = this.stages.find((s) => s.config.name === config.name);
      if (stage === undefined || this.torn) return;
      if (stage.finished) { stage.reconfigure(config); return; }
      stage.interrupt();
      await stage.running;
      if (this.torn) return;
      stage.reconfigure(config);
      stage.start();
    });
  }

  /** Resolves to how the connection must end because the toxic went, if it must. */
  remove(name: string): Promise<'close' | 'reset' | undefined> {
    return this.serial(async () => {
      const index = this.stages.findIndex((s) => s.config.name === name);
      const stage = this.stages[index];
      if (stage === undefined || this.torn) return undefined;
      stage.interrupt();
      await stage.running;
      if (this.torn) return undefined;
      stage.drainInto(stage.out);
      const previous = this.stages[index - 1];
      if (previous !== undefined) previous.out = stage.out;
      this.stages.splice(index, 1);
      if (stage.inputEnded && !stage.finished) {
        stage.finished = true;
        stage.out.finish();
      }
      return stage.active ? stage.config.definition.onRemove : undefined;
    });
  }

  /** Stops everything on this link; used when the connection goes away. */
  teardown(): void {
    if (this.torn) return;
    this.torn = true;
    this.source.off('data', this.onData);
    this.source.off('end', this.onEnd);
    for (const stage of this.stages) {
      stage.interrupt();
      stage.releaseWriters();
    }
  }

  activeToxics(): string[] {
    return this.stages.filter((s) => s.active).map((s) => s.config.name);
  }

  private append(config: ToxicConfig): void {
    const last = this.stages[this.stages.length - 1];
    const random = this.host.randomFor(this.stream, config.name);
    const stage = new StageRun(config, this.sink, random, this.host);
    if (last !== undefined) {
      if (last.finished) return;
      last.out = stage;
    } else if (this.sourceEnded) {
      return;
    }
    this.stages.push(stage);
    stage.start();
  }

  private readonly onData = (data: Buffer): void => {
    this.bytes += data.length;
    const first = this.stages[0];
    const wait = first === undefined
      ? this.sink.writeBuffer(data)
      : first.accept({ data, ts: performance.now() });
    if (wait !== undefined) this.hold(wait);
  };

  private readonly onEnd = (): void => {
    this.sourceEnded = true;
    const first = this.stages[0];
    if (first !== undefined) first.finish();
    else this.sink.finish();
  };

  /** Pauses the source until the next stage or the sink has room again. */
  private hold(wait: Promise<void>): void {
    this.waits++;
    this.source.pause();
    void wait.then(() => {
      if (--this.waits === 0 && !this.torn) this.source.resume();
    });
  }

  private serial<T>(change: () => Promise<T>): Promise<T> {
    const next = this.changes.then(change);
    this.changes = next.then(() => undefined, () => undefined);
    return next;
  }
}
