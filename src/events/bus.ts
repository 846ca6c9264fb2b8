// The typed event bus. It implements the core's Reporter, so the core reports into it without
// knowing who listens; server.ts subscribes the log (and later the store and the WebSocket hub).
// Domain events are named noun:verb.

import { nanoid } from 'nanoid';
import type {
  ConnectionClosed, ConnectionInfo, FaultReport, Reporter, StateChange,
} from '../core/reporter.js';
import type { FaultAction, Protocol, Stream } from '../toxic.js';
import { FaultLimiter } from './fault-limiter.js';

export interface FaultEvent extends FaultReport {
  id: string;
  /** Epoch milliseconds. */
  ts: number;
}

export interface FaultsFolded {
  id: string;
  ts: number;
  proxy: string;
  toxic: string;
  action: FaultAction;
  /** How many fault:injected events the rate limit folded away since the last report. */
  count: number;
}

export interface BusEvents {
  'fault:injected': FaultEvent;
  'fault:folded': FaultsFolded;
  'conn:opened': ConnectionInfo & Stamp;
  'conn:closed': ConnectionClosed & Stamp;
  'state:changed': StateChange & Stamp;
  'log:warn': { ts: number; message: string; context: Record<string, unknown> };
  // Game-day runs started on the server (POST /scenarios/runs); `run` is the run's id.
  'scenario:started': ScenarioEvent & { duration_ms: number };
  /** A timeline step fired (or, with `revert`, its `for` ended); `line` is the runner's. */
  'scenario:step': ScenarioEvent & { step: number; kind: string; revert: boolean; ok: boolean; detail: string };
  'scenario:finished': ScenarioEvent & { status: string; exit_code: number; reason: string };
  // Chaos sessions (POST /sessions): so every dashboard sees one start and stop, whoever did it.
  'session:started': SessionEvent;
  'session:stopped': SessionEvent & { reason: string; action_count: number; fault_count: number };
}

export interface SessionEvent extends Stamp {
  session: string;
  name: string;
}

export interface ScenarioEvent extends Stamp {
  run: string;
  title: string;
}

/** Every logged event has an id from the moment it happens, so a live client and the stored
 *  log name it the same way. */
interface Stamp {
  id: string;
  /** Epoch milliseconds. */
  ts: number;
}

export interface FaultCount {
  proxy: string;
  protocol: Protocol;
  type: string;
  stream: Stream;
  action: FaultAction;
  count: number;
}

type Listener<T> = (payload: T) => void;

export class EventBus implements Reporter {
  private readonly listeners = new Map<keyof BusEvents, Set<Listener<never>>>();
  private readonly counts = new Map<string, FaultCount>();
  private readonly limiter = new FaultLimiter();
  private readonly flushTimer: NodeJS.Timeout;

  constructor() {
    this.flushTimer = setInterval(() => this.flushFolded(), 1000);
    this.flushTimer.unref();
  }

  on<K extends keyof BusEvents>(type: K, listener: Listener<BusEvents[K]>): () => void {
    let set = this.listeners.get(type);
    if (set === undefined) this.listeners.set(type, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  emit<K extends keyof BusEvents>(type: K, payload: BusEvents[K]): void {
    const set = this.listeners.get(type);
    if (set === undefined) return;
    for (const listener of set) (listener as Listener<BusEvents[K]>)(payload);
  }

  /** Every fault counted so far, by proxy, toxic type, stream and action. */
  faultCounts(): FaultCount[] {
    return [...this.counts.values()].map((c) => ({ ...c }));
  }

  close(): void {
    clearInterval(this.flushTimer);
    this.flushFolded();
  }

  // ---- Reporter ----

  fault(report: FaultReport): void {
    const countKey = `${report.proxy}\0${report.type}\0${report.stream}\0${report.action}`;
    const count = this.counts.get(countKey);
    if (count !== undefined) count.count++;
    else {
      this.counts.set(countKey, {
        proxy: report.proxy, protocol: report.protocol, type: report.type,
        stream: report.stream, action: report.action, count: 1,
      });
    }
    const now = Date.now();
    if (!this.limiter.admit(`${report.proxy}\0${report.toxic}\0${report.action}`, now)) return;
    this.emit('fault:injected', { id: nanoid(), ts: now, ...report });
  }

  changed(change: StateChange): void {
    this.emit('state:changed', { ...change, id: nanoid(), ts: Date.now() });
  }

  connectionOpened(info: ConnectionInfo): void {
    this.emit('conn:opened', { ...info, id: nanoid(), ts: Date.now() });
  }

  connectionClosed(info: ConnectionClosed): void {
    this.emit('conn:closed', { ...info, id: nanoid(), ts: Date.now() });
  }

  warn(message: string, context: Record<string, unknown> = {}): void {
    this.emit('log:warn', { ts: Date.now(), message, context });
  }

  private flushFolded(): void {
    const now = Date.now();
    for (const { key, folded } of this.limiter.drain(now)) {
      const [proxy = '', toxic = '', action = ''] = key.split('\0');
      this.emit('fault:folded', { id: nanoid(), ts: now, proxy, toxic, action: action as FaultAction, count: folded });
    }
  }
}
