// Chaos sessions: "start" records every state change the bus reports from then on, whoever
// made it (the dashboard, any API client, a server-side scenario run), with its offset in time,
// and counts the faults injected meanwhile; "stop" ends it. One session records at a time.
// A recording session is saved when it starts, shortly after each action (so a crash loses at
// most the last moments) and when it ends; one a crash left recording is ended at the next
// start. The fault events themselves stay in the event log, found by the session's window.

import { nanoid } from 'nanoid';
import { publicId } from '../ids.js';
import { FaultlineError } from '../errors.js';
import type { BusEvents, EventBus } from '../events/bus.js';
import { memoryRecords } from '../store/json-record-repo.js';
import type { SessionListing, SessionStore, StoredSession } from '../store/session-repo.js';
import { exportScenario } from './export.js';
import {
  listingOf, snapshotOf, summaryOf, viewOf,
  type ProxyChanges, type SessionAction, type SessionRecord, type SessionSummary, type SessionView,
} from './record.js';

export interface SessionDeps {
  bus: EventBus;
  store: SessionStore;
  /** Every proxy as the API shows it now: the state a session starts from. */
  proxies: () => Array<Record<string, unknown>>;
  /** The server's own API URL, named in an export's header. */
  url: () => string;
  /** A recording session is saved at most this long after an action. Default 200 ms. */
  saveDelayMs?: number;
}

export const INTERRUPTED_REASON = 'interrupted: the server stopped while the session was recording';
/** Beyond this many actions a session keeps counting but stops keeping them. */
const MAX_ACTIONS = 10_000;

interface Live {
  record: SessionRecord;
  stops: Array<() => void>;
  /** Fault counts (proxy\0action -> count) when recording began. */
  before: Map<string, number>;
  seen: Map<string, { first: number; last: number }>;
  /** The replayable fields of each proxy as last seen, to tell what an update changed. */
  fields: Map<string, Required<ProxyChanges>>;
  saveTimer: NodeJS.Timeout | null;
}

export class SessionRecorder {
  private live: Live | null = null;
  private closed = false;
  /** Saves run one at a time, in order. */
  private writes: Promise<void> = Promise.resolve();
  private warned = false;

  constructor(private readonly deps: SessionDeps) {}

  /** Ends the sessions a crash left recording; the server calls it once at start. */
  recover(): Promise<string[]> {
    return this.deps.store.endInterrupted(Date.now(), INTERRUPTED_REASON);
  }

  async start(name?: string): Promise<SessionView> {
    if (this.closed) throw new FaultlineError('ERR_INTERNAL', 'the server is closing');
    if (this.live !== null) {
      throw new FaultlineError('ERR_SESSION_RECORDING', `a session is already recording: ${this.live.record.id}`);
    }
    const startedAt = Date.now();
    const snapshot = this.deps.proxies().map(snapshotOf);
    const record: SessionRecord = {
      id: publicId(), name: name ?? `Session ${new Date(startedAt).toISOString()}`, status: 'recording', reason: '',
      started_at: startedAt, ended_at: null, action_count: 0, fault_count: 0, proxies_touched: [],
      actions: [], actions_dropped: 0, faults: [], start_state: snapshot,
    };
    const live: Live = {
      record, stops: [], before: this.faultTotals(), seen: new Map(), saveTimer: null,
      fields: new Map(snapshot.map((p) => [p.name, { enabled: p.enabled, upstream: p.upstream, listen: p.listen }])),
    };
    // Claimed before the first await, so a concurrent start sees it and gets its 409.
    this.live = live;
    const { bus } = this.deps;
    const saw = (proxy: string, action: string, ts: number) => {
      const key = `${proxy}\0${action}`;
      const s = live.seen.get(key);
      if (s === undefined) live.seen.set(key, { first: ts, last: ts });
      else s.last = Math.max(s.last, ts);
    };
    live.stops.push(
      bus.on('state:changed', (change) => this.note(live, change)),
      bus.on('fault:injected', (e) => saw(e.proxy, e.action, e.ts)),
      bus.on('fault:folded', (e) => saw(e.proxy, e.action, e.ts)),
    );
    try {
      await this.save(record);
    } catch (err) {
      for (const stop of live.stops) stop();
      this.live = null;
      throw err;
    }
    bus.emit('session:started', { id: nanoid(), ts: Date.now(), session: record.id, name: record.name });
    return viewOf(record, Date.now());
  }

  async stop(id: string, reason = 'stopped'): Promise<SessionSummary> {
    const live = this.live;
    if (live !== null && live.record.id === id) return summaryOf(await this.end(live, reason), Date.now());
    if ((await this.deps.store.get(id)) === null) throw new FaultlineError('ERR_SESSION_NOT_FOUND');
    throw new FaultlineError('ERR_SESSION_ENDED');
  }

  async list(): Promise<SessionListing[]> {
    const stored = await this.deps.store.list();
    const live = this.live;
    if (live === null) return stored;
    this.tally(live);
    return stored.map((s) => (s.id === live.record.id ? listingOf(live.record, Date.now()) : s));
  }

  async get(id: string): Promise<SessionView | null> {
    const record = await this.recordOf(id);
    return record === null ? null : viewOf(record, Date.now());
  }

  /** The session as a scenario file (YAML with a header comment, or JSON). */
  async scenario(id: string, format: 'yaml' | 'json'): Promise<string> {
    const record = await this.recordOf(id);
    if (record === null) throw new FaultlineError('ERR_SESSION_NOT_FOUND');
    const exported = exportScenario(record, { url: this.deps.url(), now: Date.now() });
    if (exported === null) throw new FaultlineError('ERR_SESSION_EMPTY');
    return format === 'json' ? JSON.stringify(exported.scenario, null, 2) + '\n' : exported.yaml;
  }

  /** Deletes a session, stopping it first if it is recording. False if there is none. */
  async delete(id: string): Promise<boolean> {
    const live = this.live;
    if (live !== null && live.record.id === id) await this.end(live, 'deleted');
    await this.writes;
    return this.deps.store.remove(id);
  }

  /** Stops a recording session (the server is closing) and waits for its last save. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.live !== null) await this.end(this.live, 'the server closed while the session was recording');
    await this.writes;
  }

  private async recordOf(id: string): Promise<SessionRecord | null> {
    const live = this.live;
    if (live !== null && live.record.id === id) {
      this.tally(live);
      return structuredClone(live.record);
    }
    return (await this.deps.store.get(id)) as SessionRecord | null;
  }

  private async end(live: Live, reason: string): Promise<SessionRecord> {
    for (const stop of live.stops) stop();
    if (live.saveTimer !== null) clearTimeout(live.saveTimer);
    if (this.live === live) this.live = null;
    this.tally(live);
    Object.assign(live.record, { status: 'ended', reason, ended_at: Date.now() });
    // The session has ended either way; a failed last save is reported, not thrown.
    await this.save(live.record).catch((err: Error) => this.warnOnce(live.record.id, err));
    const { id, name, action_count, fault_count } = live.record;
    this.deps.bus.emit('session:stopped', { id: nanoid(), ts: Date.now(), session: id, name, reason, action_count, fault_count });
    return live.record;
  }

  private note(live: Live, c: BusEvents['state:changed']): void {
    const { record } = live;
    const action: SessionAction = {
      offset_ms: Math.max(0, c.ts - record.started_at), ts: c.ts, kind: c.kind, proxy: c.proxy,
      toxic: 'toxic' in c ? c.toxic : null, body: 'body' in c ? c.body : null, control: c.kind !== 'toxic:expired',
    };
    if (c.kind === 'proxy:created' || c.kind === 'proxy:updated') {
      const now = { enabled: c.body.enabled !== false, upstream: String(c.body.upstream), listen: String(c.body.listen) };
      const was = live.fields.get(c.proxy);
      if (c.kind === 'proxy:updated') {
        const changes: ProxyChanges = {};
        for (const key of ['enabled', 'upstream', 'listen'] as const) {
          if (was === undefined || was[key] !== now[key]) (changes as Record<string, unknown>)[key] = now[key];
        }
        action.changes = changes;
      }
      live.fields.set(c.proxy, now);
    }
    record.action_count++;
    if (action.control && !record.proxies_touched.includes(c.proxy)) record.proxies_touched.push(c.proxy);
    if (record.actions.length < MAX_ACTIONS) record.actions.push(action);
    else record.actions_dropped++;
    if (live.saveTimer === null) {
      live.saveTimer = setTimeout(() => {
        live.saveTimer = null;
        if (this.live !== live) return;
        this.tally(live);
        this.save(live.record).catch((err: Error) => this.warnOnce(record.id, err));
      }, this.deps.saveDelayMs ?? 200);
      live.saveTimer.unref();
    }
  }

  /** Brings the record's fault counts up to date: the bus's counters now, less those at start. */
  private tally(live: Live): void {
    const faults: SessionRecord['faults'] = [];
    for (const [key, count] of this.faultTotals()) {
      const n = count - (live.before.get(key) ?? 0);
      if (n <= 0) continue;
      const [proxy = '', action = ''] = key.split('\0');
      const seen = live.seen.get(key);
      faults.push({ proxy, action, count: n, first_ts: seen?.first ?? null, last_ts: seen?.last ?? null });
    }
    faults.sort((a, b) => (a.proxy < b.proxy ? -1 : a.proxy > b.proxy ? 1 : a.action < b.action ? -1 : a.action > b.action ? 1 : 0));
    live.record.faults = faults;
    live.record.fault_count = faults.reduce((sum, f) => sum + f.count, 0);
  }

  private faultTotals(): Map<string, number> {
    const totals = new Map<string, number>();
    for (const c of this.deps.bus.faultCounts()) {
      const key = `${c.proxy}\0${c.action}`;
      totals.set(key, (totals.get(key) ?? 0) + c.count);
    }
    return totals;
  }

  private save(record: SessionRecord): Promise<void> {
    const copy = structuredClone(record) as StoredSession;
    const write = this.writes.then(() => this.deps.store.save(copy));
    this.writes = write.catch(() => {});
    return write;
  }

  private warnOnce(id: string, err: Error): void {
    if (this.warned) return;
    this.warned = true;
    this.deps.bus.warn(`cannot save chaos session ${id}: ${err.message}`, { session: id });
  }
}

/** Sessions kept in memory, for a server started without persistence (db: false). */
export function memorySessionStore(): SessionStore {
  return memoryRecords<StoredSession, SessionListing>((s) =>
    ({ ...listingOf(s as SessionRecord, 0), duration_ms: s.ended_at === null ? null : s.ended_at - s.started_at }));
}
