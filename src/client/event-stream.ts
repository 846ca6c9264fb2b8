// The client's view of `/events/stream`: a WebSocket subscribed to fault events, the events it
// has received, and `waitFor`, which resolves with the first one matching a pattern. The only
// file of the client that imports 'ws' (Node 20 has no WebSocket global).
//
// Nothing a test causes may slip between its action and its wait, so the stream is opened
// before the client's first change (the client calls `beforeChange`), a change is sent only
// once the server has subscribed the stream (its snapshot arrived), and `waitFor` looks back
// over what was received since the client's last `reset()` before it waits for more.

import WebSocket from 'ws';
import type { FaultEvent } from '../events/bus.js';
import type { FaultAction, Stream } from '../toxic.js';

/** Received events kept for looking back; the oldest go first. */
const CAPACITY = 10_000;
const OPEN_TIMEOUT_MS = 10_000;
/** Below the 5 s test timeout of jest and vitest, so this error is the one a test reports. */
export const DEFAULT_WAIT_MS = 3000;

/** Which fault events match: every field given must equal the event's; `detail` matches when
 *  each key given equals the event's detail; `action` may list several. Handles may stand for
 *  names: `{ proxy: redis }`, `{ toxic: latencyHandle }` (which also pins its proxy). */
export interface FaultMatch {
  proxy?: string | { readonly name: string };
  toxic?: string | { readonly name: string; readonly proxy?: string };
  /** The toxic's type: `latency`, `reset_peer`, ... */
  type?: string;
  stream?: Stream;
  action?: FaultAction | readonly FaultAction[];
  /** The connection (or UDP session) id. */
  conn?: string;
  detail?: Readonly<Record<string, number | string | boolean>>;
  /** A last test on the event itself. */
  where?: (event: FaultEvent) => boolean;
}

export interface WaitForOptions {
  /** Milliseconds, default 3000. */
  timeout?: number;
  /** Where to look back from: `'reset'` (the default) takes events received since the client's
   *  last `reset()`, or since the stream opened; `'now'` only events that arrive after the call;
   *  a number only events whose `ts` (the server's epoch ms) is at or after it. */
  since?: 'reset' | 'now' | number;
  signal?: AbortSignal;
}

/** `waitFor` gave up: nothing matched within the timeout. `seen` holds the fault events that
 *  were looked at, for the assertion message. */
export class FaultEventTimeoutError extends Error {
  constructor(readonly match: FaultMatch, readonly timeout: number, readonly seen: FaultEvent[]) {
    super(`no fault event matching ${describeMatch(match)} within ${timeout} ms; ${describeSeen(seen)}`);
    this.name = 'FaultEventTimeoutError';
  }
}

/** What a test uses of the stream (`client.events`). */
export interface FaultEvents {
  /** True while the stream is open. */
  readonly connected: boolean;
  /** Opens the stream now (the client otherwise opens it before its first change). */
  open(): Promise<void>;
  waitFor(match: FaultMatch, options?: WaitForOptions): Promise<FaultEvent>;
  seen(match?: FaultMatch, since?: WaitForOptions['since']): FaultEvent[];
}

interface Waiter {
  test: (event: FaultEvent) => boolean;
  settle: (result: { event: FaultEvent } | { error: Error }) => void;
}

export class FaultEventStream implements FaultEvents {
  private socket: WebSocket | null = null;
  private opening: Promise<void> | null = null;
  /** Set when opening before a change failed (a server without the stream, such as Toxiproxy):
   *  later changes do not try again, though `waitFor` does. */
  private unavailable = false;
  private closed = false;
  private readonly received: FaultEvent[] = [];
  /** Absolute index of `received[0]`, which moves as the oldest are dropped. */
  private base = 0;
  /** Absolute index of the first event after the client's last reset. */
  private mark = 0;
  private readonly waiters = new Set<Waiter>();

  /** `url` is the stream's ws:// address. */
  constructor(readonly url: string) {}

  /** True while the stream is open. */
  get connected(): boolean {
    return this.socket !== null;
  }

  private get end(): number {
    return this.base + this.received.length;
  }

  /** Opens the stream, resolving once the server has subscribed it (its snapshot arrived). */
  open(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the faultline client is closed'));
    if (this.socket !== null) return Promise.resolve();
    this.opening ??= this.connect().finally(() => { this.opening = null; });
    return this.opening;
  }

  /** Called by the client before each change it makes. */
  async beforeChange(): Promise<void> {
    if (this.socket !== null || this.unavailable || this.closed) return;
    try {
      await this.open();
    } catch {
      this.unavailable = true;
    }
  }

  /** Called by the client after `reset()`: later waits look back no further than this. */
  markReset(): void {
    this.mark = this.end;
  }

  /** The fault events received in the look-back window that match (all of them by default). */
  seen(match: FaultMatch = {}, since: WaitForOptions['since'] = 'reset'): FaultEvent[] {
    const test = matcher(match);
    return this.window(since === 'now' ? this.end : since === 'reset' ? this.mark : this.base)
      .filter((e) => (typeof since !== 'number' || e.ts >= since) && test(e));
  }

  /**
   * Resolves with the first fault event matching `match`, looking back first (see `since`),
   * then waiting for the live stream. Rejects with FaultEventTimeoutError after `timeout` ms,
   * and with a plain Error if the stream cannot be opened or closes meanwhile.
   */
  waitFor(match: FaultMatch, options: WaitForOptions = {}): Promise<FaultEvent> {
    let test: (event: FaultEvent) => boolean;
    try {
      test = matcher(match);
    } catch (err) {
      return Promise.reject(err);
    }
    const since = options.since ?? 'reset';
    const timeout = options.timeout ?? DEFAULT_WAIT_MS;
    const from = since === 'now' ? this.end : since === 'reset' ? this.mark : this.base;
    const fits = (e: FaultEvent) => (typeof since !== 'number' || e.ts >= since) && test(e);
    return new Promise<FaultEvent>((resolve, reject) => {
      let done = false;
      const waiter: Waiter = {
        test: fits,
        settle: (result) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
          this.waiters.delete(waiter);
          if ('event' in result) resolve(result.event);
          else reject(result.error);
        },
      };
      const timer = setTimeout(() => waiter.settle({ error: new FaultEventTimeoutError(match, timeout, this.window(from).filter((e) => typeof since !== 'number' || e.ts >= since)) }), timeout);
      const onAbort = () => waiter.settle({ error: options.signal!.reason as Error });
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.open().then(() => {
        const hit = this.window(from).find(fits);
        if (hit !== undefined) waiter.settle({ event: hit });
        else if (!done) this.waiters.add(waiter);
      }, (err: Error) => waiter.settle({ error: err }));
    });
  }

  /** Closes the socket; waits still pending reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of [...this.waiters]) waiter.settle({ error: new Error('the faultline client was closed while waiting for a fault event') });
    await this.opening?.catch(() => {});
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) await closeSocket(socket);
  }

  private window(from: number): FaultEvent[] {
    return this.received.slice(Math.max(from - this.base, 0));
  }

  private connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, { perMessageDeflate: false, handshakeTimeout: OPEN_TIMEOUT_MS });
      let ready = false;
      const fail = (reason: string, cause?: unknown) => {
        if (ready) return;
        ready = true;
        clearTimeout(timer);
        ws.terminate();
        reject(new Error(`cannot open the event stream ${this.url}: ${reason}`, { cause }));
      };
      const timer = setTimeout(() => fail(`no snapshot within ${OPEN_TIMEOUT_MS} ms`), OPEN_TIMEOUT_MS);
      // After the handshake an error is always followed by 'close', which does the work.
      ws.on('error', (err) => fail(err.message, err));
      ws.on('message', (data) => {
        let message: { type?: unknown; kind?: unknown; event?: unknown };
        try {
          message = JSON.parse(String(data)) as typeof message;
        } catch {
          return;
        }
        if (ready) return this.onMessage(message);
        if (message.type !== 'snapshot') return;
        ready = true;
        clearTimeout(timer);
        if (this.closed) {
          void closeSocket(ws);
          return reject(new Error('the faultline client is closed'));
        }
        this.socket = ws;
        resolve();
      });
      ws.on('close', (code, reason) => {
        if (!ready) return fail(`closed (${code}${reason.length > 0 ? ` ${String(reason)}` : ''}) before its snapshot`);
        if (this.socket !== ws) return;
        this.socket = null;
        const why = new Error(`the event stream closed (${code}${reason.length > 0 ? `: ${String(reason)}` : ''}) before a matching fault event arrived`);
        for (const waiter of [...this.waiters]) waiter.settle({ error: why });
      });
    });
  }

  private onMessage(message: { type?: unknown; kind?: unknown; event?: unknown }): void {
    if (message.type !== 'event' || message.kind !== 'fault:injected') return;
    const event = message.event as FaultEvent;
    this.received.push(event);
    if (this.received.length > CAPACITY) {
      const drop = CAPACITY / 10;
      this.received.splice(0, drop);
      this.base += drop;
    }
    for (const waiter of [...this.waiters]) if (waiter.test(event)) waiter.settle({ event });
  }
}

function closeSocket(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    ws.once('close', () => resolve());
    // A server that never answers the close frame must not hold the test run open.
    setTimeout(() => ws.terminate(), 1000).unref();
    ws.close(1000);
  });
}

const MATCH_KEYS = new Set(['proxy', 'toxic', 'type', 'stream', 'action', 'conn', 'detail', 'where']);

/** A test for `match`. Unknown keys are refused: a misspelt one would match every event. */
function matcher(match: FaultMatch): (event: FaultEvent) => boolean {
  for (const key of Object.keys(match)) {
    if (!MATCH_KEYS.has(key)) throw new TypeError(`fault event match: unknown field "${key}"; fields are ${[...MATCH_KEYS].join(', ')}`);
  }
  const proxy = nameOf(match.proxy);
  const toxic = nameOf(match.toxic);
  const toxicProxy = typeof match.toxic === 'object' ? match.toxic.proxy : undefined;
  const actions = match.action === undefined ? undefined : ([] as FaultAction[]).concat(match.action);
  const detail = Object.entries(match.detail ?? {});
  return (e) => (proxy === undefined || e.proxy === proxy)
    && (toxicProxy === undefined || e.proxy === toxicProxy)
    && (toxic === undefined || e.toxic === toxic)
    && (match.type === undefined || e.type === match.type)
    && (match.stream === undefined || e.stream === match.stream)
    && (actions === undefined || actions.includes(e.action))
    && (match.conn === undefined || e.conn === match.conn)
    && detail.every(([k, v]) => e.detail?.[k] === v)
    && (match.where === undefined || match.where(e));
}

function nameOf(ref: string | { readonly name: string } | undefined): string | undefined {
  return ref === undefined || typeof ref === 'string' ? ref : ref.name;
}

function describeMatch(match: FaultMatch): string {
  const fields = Object.entries(match).map(([k, v]) =>
    `${k}: ${typeof v === 'function' ? '(a function)' : JSON.stringify(typeof v === 'object' && v !== null && 'name' in v ? v.name : v)}`);
  return `{${fields.join(', ')}}`;
}

function describeSeen(seen: FaultEvent[]): string {
  if (seen.length === 0) return 'no fault events were received in the window looked at';
  const counts = new Map<string, number>();
  for (const e of seen) {
    const key = `${e.proxy}/${e.toxic} ${e.action}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const listed = [...counts].slice(0, 8).map(([k, n]) => `${k} ×${n}`);
  return `received in the window looked at: ${listed.join(', ')}${counts.size > 8 ? ', ...' : ''}`;
}
