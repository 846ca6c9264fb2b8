// What the two halves of an HTTP/1.1 session share: the exchange as it travels, a pump that
// runs parsing steps synchronously until one has to wait (a delay, a dial, a full socket),
// and the queue that keeps answers in request order. With pipelining, an answer the proxy
// writes itself (an abort) waits behind the server's answers to earlier requests, as the
// server's own answer would.

import { performance } from 'node:perf_hooks';
import type { Exchange } from './exchange.js';
import type { Head } from './h1-parse.js';

export interface H1Exchange {
  /** Null for the proxy's answer to a malformed request, which is no exchange. */
  readonly ex: Exchange | null;
  readonly head: Head;
  /** Sent to the upstream, whose response answers it (or is replaced by `answer`). */
  forwarded: boolean;
  /** The bytes the proxy answers with: an abort, or the 400 for a malformed request. */
  answer: Buffer | null;
  /** The status the client got: the answer's or the server's. 0 until known. */
  status: number;
  grpcStatus?: number;
  /** The request's content-type when it is gRPC (gRPC-Web over HTTP/1.1). */
  readonly grpcType: string | null;
  /** An Upgrade or CONNECT request: a 101 (2xx for CONNECT) turns the connection into a tunnel. */
  readonly upgrade: boolean;
  /** The connection ends after this answer. */
  closeAfter: boolean;
  requestBytes: number;
  responseBytes: number;
}

export const IDLE = Symbol('idle');
export const MORE = Symbol('more');
export type Step = typeof IDLE | typeof MORE | Promise<unknown>;

/** Runs `step` until it reports IDLE. Stays synchronous on the common path; while a step
 *  waits, `run` gives the promise of the whole run, so the feeder waits too. */
export class Pump {
  private running: Promise<void> | null = null;

  constructor(private readonly step: () => Step, private readonly fail: (err: unknown) => void) {}

  run(): void | Promise<void> {
    return this.running ?? this.loop();
  }

  private loop(): void | Promise<void> {
    try {
      for (;;) {
        const next = this.step();
        if (next === IDLE) return;
        if (next === MORE) continue;
        const run: Promise<void> = next.then(
          () => { this.running = null; return this.loop(); },
          (err: unknown) => { this.running = null; this.fail(err); },
        );
        this.running = run;
        return run;
      }
    } catch (err) {
      this.fail(err);
    }
  }
}

/** Answers go to the client in request order. */
export class OutputQueue {
  readonly items: H1Exchange[] = [];

  constructor(
    private readonly write: (data: Buffer) => void | Promise<void>,
    private readonly answered: (hx: H1Exchange) => void,
  ) {}

  get head(): H1Exchange | undefined { return this.items[0]; }
  get empty(): boolean { return this.items.length === 0; }

  push(hx: H1Exchange): void | Promise<void> {
    this.items.push(hx);
    if (this.items.length === 1) return this.flush();
  }

  /** The head is done (its response went, or its answer replaces it): on to the next. */
  shift(): void | Promise<void> {
    const hx = this.items.shift();
    if (hx !== undefined) this.answered(hx);
    return this.flush();
  }

  /** Writes the answers at the head that are ready, up to the first forwarded exchange. */
  flush(): void | Promise<void> {
    let wait: void | Promise<void> = undefined;
    for (let hx = this.items[0]; hx !== undefined && !hx.forwarded && hx.answer !== null; hx = this.items[0]) {
      wait = this.write(hx.answer);
      this.items.shift();
      this.answered(hx);
    }
    return wait;
  }
}

/** Milliseconds since the exchange began, for stats and events. */
export function elapsed(hx: H1Exchange): number {
  return hx.ex === null ? 0 : performance.now() - hx.ex.started;
}
