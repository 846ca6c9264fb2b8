// The runtime behind the Stage interface: one toxic on one direction of one connection.
// It owns the toxic's bounded input queue, the interruptible sleep, and the run loop that
// restarts a pipe after an update or hands end-of-stream onward when the pipe finishes.

import { performance } from 'node:perf_hooks';
import {
  MAX_MS, TIMED_OUT,
  type Chunk, type FaultAction, type FaultDetail, type Protocol, type RandomSource, type Stage, type StreamToxicDefinition,
} from '../toxic.js';
import type { ToxicConfig } from './toxic-config.js';

const DEFAULT_BUFFER = 256 * 1024;
/** How much earlier than due a sleep's timer fires, to finish precisely on the check phase. */
const EARLY_MS = 1;

/** Where a stage (or the head of a link) hands its chunks. */
export interface ChunkTarget {
  /** Takes a chunk; returns a promise when the giver should wait (back-pressure). */
  accept(chunk: Chunk): void | Promise<void>;
  /** Takes a chunk regardless of capacity; an interrupted stage must never block. */
  force(chunk: Chunk): void;
  /** The giver has ended: propagate end of stream. */
  finish(): void;
}

export interface StageHost {
  readonly protocol: Protocol;
  report(config: ToxicConfig, action: FaultAction, detail: FaultDetail): void;
  /** Graceful close requested by this stage; it has already handed end-of-stream on. */
  stageClosed(stage: StageRun): void;
  reset(): void;
  vanish(stage: StageRun): void;
  /** Ends the connection gracefully on the core's own account (a lifetime ran out). */
  closeConnection(reason: string): void;
  failed(config: ToxicConfig, err: unknown): void;
  /** When the connection was established, on the performance.now() clock. */
  readonly connectedAt: number;
}

async function passthrough(stage: StageRun): Promise<void> {
  for (;;) {
    const chunk = await stage.read();
    if (chunk === null) return;
    await stage.write(chunk);
  }
}

export class StageRun implements Stage<any, any>, ChunkTarget {
  config: ToxicConfig;
  out: ChunkTarget;
  readonly random: RandomSource;
  readonly state: unknown;
  /** Result of the toxicity roll; an inactive stage passes data through untouched. */
  active: boolean;
  inputEnded = false;
  interrupted = false;
  /** End of stream has been handed to `out`. */
  finished = false;
  closeRequested = false;
  running: Promise<void> = Promise.resolve();

  private items: (Chunk | undefined)[] = [];
  private head = 0;
  private bytes = 0;
  private readonly capacity: number;
  private readWaiter: ((chunk: Chunk | null) => void) | null = null;
  private spaceWaiters: (() => void)[] = [];
  private sleepTimer: NodeJS.Timeout | null = null;
  private wake: ((value: boolean) => void) | null = null;
  private writeWaiter: (() => void) | null = null;
  private lifetimeTimer: NodeJS.Timeout | null = null;

  constructor(config: ToxicConfig, out: ChunkTarget, random: RandomSource, private readonly host: StageHost) {
    this.config = config;
    this.out = out;
    this.random = random;
    this.state = config.definition.state?.();
    this.capacity = config.definition.buffer ?? DEFAULT_BUFFER;
    this.active = random.chance(config.toxicity);
  }

  get attributes() { return this.config.attributes; }
  get protocol() { return this.host.protocol; }
  get ended(): boolean { return this.inputEnded && this.head >= this.items.length; }
  get connectedAt(): number { return this.host.connectedAt; }
  get queued(): number { return this.bytes; }

  // ---- the Stage interface, used by toxics ----

  read(): Chunk | null | Promise<Chunk | null> {
    // Once interrupted, the queue belongs to the next run (update) or is flushed onward
    // untouched (removal): an old run must not keep applying old attributes to it.
    if (this.interrupted) return null;
    if (this.head < this.items.length) return this.take();
    if (this.inputEnded) return null;
    return new Promise((resolve) => { this.readWaiter = resolve; });
  }

  readWithin(ms: number): Promise<Chunk | null | typeof TIMED_OUT> {
    const now = this.read();
    if (!(now instanceof Promise)) return Promise.resolve(now);
    const until = performance.now() + Math.min(Math.max(ms, 0), MAX_MS);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const waiter = (chunk: Chunk | null) => { if (timer !== null) clearTimeout(timer); resolve(chunk); };
      // As in sleep: timers may fire up to a millisecond early and cannot wait less than one,
      // so the remainder is finished on the check phase, still accepting chunks meanwhile.
      const check = () => {
        timer = null;
        if (this.readWaiter !== waiter) return;
        if (performance.now() < until) { setImmediate(check); return; }
        this.readWaiter = null;
        resolve(TIMED_OUT);
      };
      this.readWaiter = waiter;
      if (ms >= 1) timer = setTimeout(check, Math.min(ms, MAX_MS));
      else setImmediate(check);
    });
  }

  write(chunk: Chunk): void | Promise<void> {
    if (this.interrupted) return this.out.force(chunk);
    const wait = this.out.accept(chunk);
    if (wait === undefined) return;
    return new Promise<void>((resolve) => {
      this.writeWaiter = resolve;
      // An interrupt may have released this write already; only clear our own waiter.
      void wait.then(() => {
        if (this.writeWaiter === resolve) this.writeWaiter = null;
        resolve();
      });
    });
  }

  sleep(ms: number): Promise<boolean> {
    if (this.interrupted) return Promise.resolve(false);
    if (!(ms > 0)) return Promise.resolve(true);
    const until = performance.now() + Math.min(ms, MAX_MS);
    return new Promise((resolve) => {
      this.wake = resolve;
      // Timers measure from the loop's cached clock and round to whole milliseconds, so they
      // can fire up to a millisecond early. The remainder is finished on the check phase.
      const finish = () => {
        if (this.wake !== resolve) return;
        if (performance.now() < until) {
          this.sleepTimer = null;
          setImmediate(finish);
          return;
        }
        this.sleepTimer = null;
        this.wake = null;
        resolve(true);
      };
      // Wake a little early and finish on the check phase: a timer can fire a millisecond
      // late as easily as early, and the tail of a delay is what users measure.
      const timerMs = Math.min(ms, MAX_MS) - EARLY_MS;
      if (timerMs >= 1) this.sleepTimer = setTimeout(finish, timerMs);
      else setImmediate(finish);
    });
  }

  now(): number { return performance.now(); }

  emit(action: FaultAction, detail: FaultDetail = {}): void {
    this.host.report(this.config, action, detail);
  }

  close(): void {
    this.closeRequested = true;
    this.interrupt();
  }

  reset(): void { this.host.reset(); }

  vanish(): void { this.host.vanish(this); }

  unread(chunk: Chunk): void {
    if (this.head > 0) this.items[--this.head] = chunk;
    else this.items.unshift(chunk);
    this.bytes += chunk.data.length;
  }

  // ---- the ChunkTarget interface, used by whatever feeds this stage ----

  accept(chunk: Chunk): void | Promise<void> {
    if (this.readWaiter !== null) {
      const waiter = this.readWaiter;
      this.readWaiter = null;
      waiter(chunk);
      return;
    }
    this.items.push(chunk);
    this.bytes += chunk.data.length;
    if (this.bytes <= this.capacity) return;
    return new Promise((resolve) => { this.spaceWaiters.push(resolve); });
  }

  force(chunk: Chunk): void { void this.accept(chunk); }

  /** Whether one more chunk fits without exceeding the buffer (datagram paths drop if not). */
  hasRoom(): boolean { return this.bytes < this.capacity; }

  finish(): void {
    this.inputEnded = true;
    this.wakeReader();
  }

  // ---- control, used by the link ----

  start(): void {
    this.interrupted = false;
    this.armLifetime();
    this.running = this.loop();
  }

  interrupt(): void {
    this.interrupted = true;
    if (this.lifetimeTimer !== null) { clearTimeout(this.lifetimeTimer); this.lifetimeTimer = null; }
    this.wakeReader();
    if (this.sleepTimer !== null) { clearTimeout(this.sleepTimer); this.sleepTimer = null; }
    if (this.wake !== null) { const w = this.wake; this.wake = null; w(false); }
    if (this.writeWaiter !== null) { const w = this.writeWaiter; this.writeWaiter = null; w(); }
  }

  /** Rerolls toxicity for a new config, as an update does. */
  reconfigure(config: ToxicConfig): void {
    this.config = config;
    this.active = this.random.chance(config.toxicity);
  }

  /** Hands every queued chunk to `target` in order, then frees blocked writers. */
  drainInto(target: ChunkTarget): void {
    while (this.head < this.items.length) target.force(this.take());
    this.releaseWriters();
  }

  releaseWriters(): void {
    const waiters = this.spaceWaiters;
    this.spaceWaiters = [];
    for (const w of waiters) w();
  }

  /** A timer rather than the pipe, so the deadline holds after this stream has ended. */
  private armLifetime(): void {
    const lifetime = this.active ? this.config.definition.lifetime?.(this.config.attributes) : undefined;
    if (lifetime === undefined) return;
    const fire = () => {
      this.lifetimeTimer = null;
      // Timers can fire up to a millisecond early; a lifetime must never end short.
      const left = this.connectedAt + lifetime - performance.now();
      if (left > 0) { this.lifetimeTimer = setTimeout(fire, Math.max(1, left)); return; }
      this.emit('closed', { after_ms: lifetime });
      this.host.closeConnection(`${this.config.type} toxic`);
    };
    const wait = this.connectedAt + lifetime - performance.now();
    if (wait <= 0) { queueMicrotask(fire); return; }
    this.lifetimeTimer = setTimeout(fire, Math.min(wait, MAX_MS));
  }

  private async loop(): Promise<void> {
    try {
      await (this.active ? (this.config.definition as StreamToxicDefinition).pipe(this) : passthrough(this));
      // A toxic that returns on its own (neither end nor interrupt) leaves the stream flowing.
      while (!this.interrupted && !this.ended) await passthrough(this);
      if (this.closeRequested || (!this.interrupted && this.ended)) this.handOnEnd();
    } catch (err) {
      this.host.failed(this.config, err);
    }
  }

  private handOnEnd(): void {
    if (this.finished) return;
    this.finished = true;
    this.out.finish();
    if (this.closeRequested) this.host.stageClosed(this);
  }

  private take(): Chunk {
    const chunk = this.items[this.head]!;
    this.items[this.head++] = undefined;
    this.bytes -= chunk.data.length;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (this.spaceWaiters.length > 0 && this.bytes <= this.capacity) this.releaseWriters();
    return chunk;
  }

  private wakeReader(): void {
    if (this.readWaiter === null) return;
    const waiter = this.readWaiter;
    this.readWaiter = null;
    waiter(null);
  }
}
