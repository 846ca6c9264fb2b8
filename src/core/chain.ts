// One direction's chain of toxic stages, between a source the owner feeds and a sink, shared by
// TCP links and UDP sessions. Stages are swapped in and out live. Because JavaScript runs one
// thing at a time, rewiring a stage's output is atomic, and these rules keep every byte in
// order:
// - add: the new stage goes last; the old last stage's output is pointed at it. Everything
//   the old stage already wrote is at the sink, older than anything it writes from now on.
// - remove: the stage is interrupted and its pipe flushes what it holds to its output; then,
//   in one synchronous step, its queue is moved onto its output and its predecessor is
//   pointed past it.
// - update: the stage is interrupted and restarted over the same queue and state.
// Changes on one chain run one at a time.

import type { RandomSource, Stream } from '../toxic.js';
import { StageRun, type ChunkTarget, type StageHost } from './stage.js';
import type { ToxicConfig } from './toxic-config.js';

export interface ChainHost extends StageHost {
  /** A stream of random values for the stage of `toxic` on this chain. */
  randomFor(stream: Stream, toxic: string): RandomSource;
}

export class Chain {
  readonly stages: StageRun[] = [];
  /** The owner's source has ended; set through `end()`. */
  private inputEnded = false;
  private torn = false;
  /** The last change queued; none until the first (most connections never see one). */
  private changes: Promise<void> | null = null;

  constructor(readonly stream: Stream, readonly sink: ChunkTarget, private readonly host: ChainHost) {}

  /** Where the next chunk from the source goes: the first stage, or the sink itself. */
  head(): ChunkTarget {
    return this.stages[0] ?? this.sink;
  }

  /** The source has ended: end of stream travels down the chain. */
  end(): void {
    this.inputEnded = true;
    this.head().finish();
  }

  /** Builds the initial chain before any data flows; no serialisation needed yet. */
  init(configs: readonly ToxicConfig[]): void {
    for (const config of configs) this.append(config);
  }

  add(config: ToxicConfig): Promise<void> {
    return this.serial(async () => {
      if (!this.torn) this.append(config);
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

  /** Stops every stage; used when the connection or session goes away. */
  teardown(): void {
    if (this.torn) return;
    this.torn = true;
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
    // Past end of stream there is nothing left for a new stage to act on.
    if (last !== undefined ? last.finished : this.inputEnded) return;
    const stage = new StageRun(config, this.sink, this.host.randomFor(this.stream, config.name), this.host);
    if (last !== undefined) last.out = stage;
    this.stages.push(stage);
    stage.start();
  }

  private serial<T>(change: () => Promise<T>): Promise<T> {
    const next = (this.changes ?? Promise.resolve()).then(change);
    this.changes = next.then(() => undefined, () => undefined);
    return next;
  }
}
