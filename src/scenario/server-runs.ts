// Game-day runs on the server itself (POST /scenarios/runs), so a run outlives the client that
// started it and the dashboard can launch and watch it. The run drives this very server over
// its REST API (`default` is the server's own URL), exactly as `faultline run` would.
// Each run is stored when it starts and again when it ends; while it runs, a bus listener notes
// the toxics added and removed on the scenario's proxies and the faults they inject, from which
// the record's fault `windows` and per-step `event_counts` are built at the end. Aborting a run
// (DELETE, or the server closing) rolls it back before its final record is written.

import { nanoid } from 'nanoid';
import { FaultlineError } from '../errors.js';
import type { BusEvents, EventBus, ScenarioEvent } from '../events/bus.js';
import type { RunStore, RunSummary, StoredRun } from '../store/run-repo.js';
import { serverOf } from './actions.js';
import { parseScenario } from './parse.js';
import { runScenario, type RecordedProbe, type RunStatus, type StepRecord } from './runner.js';
import type { Scenario } from './types.js';

export interface FaultWindow { proxy: string; toxic: string; type: string; stream: string; from_ms: number; to_ms: number }

/** What GET /scenarios/runs/{id} serves and `faultline report` reads. */
export interface RunRecord extends StoredRun {
  status: 'running' | RunStatus;
  steps: StepRecord[];
  probes: RecordedProbe[];
  rollback: { ok: boolean; errors: string[] } | null;
  /** When each toxic the run added was active, in ms from started_at. */
  windows: FaultWindow[];
  /** Fault events (action -> count) between each step firing and the next. */
  event_counts: Array<{ step: number; counts: Record<string, number> }>;
}

export interface RunManagerOptions {
  bus: EventBus;
  /** The server's own API URL, the runs' `default` server (known once it listens). */
  url: () => string;
  store: RunStore;
  /** Added to every toxic's ttl beyond its planned end (the runner's default when absent). */
  graceMs?: number;
}

export const INTERRUPTED_REASON = 'interrupted: the server stopped during the run (the toxics it added expire by their ttl)';


interface Live { record: RunRecord; controller: AbortController; done: Promise<void> }
interface Seen {
  faults: Array<{ ts: number; proxy: string; action: string; count: number }>;
  toxics: Array<{ ts: number; added: boolean; proxy: string; toxic: string; type: string; stream: string }>;
}

export class RunManager {
  private readonly live = new Map<string, Live>();
  private closed = false;

  constructor(private readonly options: RunManagerOptions) {}

  /** Ends the runs a crash left marked running; the server calls it once at start. */
  recover(): Promise<string[]> {
    return this.options.store.endInterrupted(Date.now(), INTERRUPTED_REASON);
  }

  async start(text: string): Promise<{ record: RunRecord } | { issues: string[] }> {
    if (this.closed) throw new FaultlineError('ERR_INTERNAL', 'the server is closing');
    const { scenario, issues } = parseScenario(text, { defaultServer: this.options.url() });
    if (scenario === null) {
      return { issues: issues.map((i) => `${i.line}:${i.column}: ${i.path === '' ? '' : `${i.path}: `}${i.message}`) };
    }
    const record: RunRecord = {
      id: nanoid(), title: scenario.title, scenario: text, status: 'running', exit_code: null, reason: '',
      started_at: Date.now(), ended_at: null, duration_ms: scenario.durationMs,
      steps: [], probes: [], rollback: null, windows: [], event_counts: [],
    };
    await this.options.store.save(record);
    const controller = new AbortController();
    const live: Live = { record, controller, done: Promise.resolve() };
    this.live.set(record.id, live);
    this.emit('scenario:started', record, { duration_ms: record.duration_ms });
    live.done = this.execute(scenario, record, controller.signal).finally(() => this.live.delete(record.id));
    return { record: { ...record } };
  }

  async list(): Promise<RunSummary[]> {
    return this.options.store.list();
  }

  async get(id: string): Promise<RunRecord | null> {
    const live = this.live.get(id);
    if (live !== undefined) return { ...live.record };
    return (await this.options.store.get(id)) as RunRecord | null;
  }

  async abort(id: string): Promise<'aborted' | 'finished' | 'not_found'> {
    const live = this.live.get(id);
    if (live !== undefined) {
      live.controller.abort();
      await live.done;
      return 'aborted';
    }
    return (await this.options.store.get(id)) === null ? 'not_found' : 'finished';
  }

  /** Aborts every running run and waits for their rollbacks and final records. */
  async close(): Promise<void> {
    this.closed = true;
    const running = [...this.live.values()];
    for (const live of running) live.controller.abort();
    await Promise.all(running.map((live) => live.done));
  }

  private async execute(scenario: Scenario, record: RunRecord, signal: AbortSignal): Promise<void> {
    const url = this.options.url();
    const names = proxiesOf(scenario);
    const seen: Seen = { faults: [], toxics: [] };
    const { bus } = this.options;
    const stops = [
      bus.on('fault:injected', (e) => { if (names.has(e.proxy)) seen.faults.push({ ts: e.ts, proxy: e.proxy, action: e.action, count: 1 }); }),
      bus.on('fault:folded', (e) => { if (names.has(e.proxy)) seen.faults.push({ ts: e.ts, proxy: e.proxy, action: e.action, count: e.count }); }),
      bus.on('state:changed', (e) => {
        if (!('toxic' in e) || !names.has(e.proxy) || e.kind === 'toxic:updated') return;
        const body = 'body' in e ? e.body : {};
        seen.toxics.push({
          ts: e.ts, added: e.kind === 'toxic:added', proxy: e.proxy, toxic: e.toxic,
          type: String(body.type ?? ''), stream: String(body.stream ?? ''),
        });
      }),
    ];
    let t0 = record.started_at;
    try {
      const result = await runScenario(scenario, {
        out: () => {},
        onTimelineStart: (at) => { t0 = at; },
        onStep: (e) => this.emit('scenario:step', record, { step: e.step, kind: e.kind, revert: e.revert, ok: e.ok, detail: e.detail }),
        signal, now: Date.now, ...(this.options.graceMs !== undefined ? { graceMs: this.options.graceMs } : {}),
      });
      Object.assign(record, {
        status: result.status, exit_code: result.exitCode, reason: result.reason, ended_at: result.endedAt,
        steps: result.steps, probes: result.probes, rollback: result.rollback,
      });
    } catch (err) {
      Object.assign(record, { status: 'error', exit_code: 1, reason: `runner failed: ${(err as Error).message}`, ended_at: Date.now() });
    } finally {
      for (const stop of stops) stop();
    }
    record.windows = windowsOf(scenario, record, t0, seen, url);
    record.event_counts = countsOf(record, t0, seen);
    try {
      await this.options.store.save(record);
    } catch (err) {
      bus.warn(`cannot store the record of scenario run ${record.id}: ${(err as Error).message}`, { run: record.id });
    }
    this.emit('scenario:finished', record, { status: record.status, exit_code: record.exit_code ?? 1, reason: record.reason });
  }

  private emit<K extends 'scenario:started' | 'scenario:step' | 'scenario:finished'>(
    kind: K, record: RunRecord, fields: Omit<BusEvents[K], keyof ScenarioEvent>,
  ): void {
    this.options.bus.emit(kind, { id: nanoid(), ts: Date.now(), run: record.id, title: record.title, ...fields } as BusEvents[K]);
  }
}

/** Every proxy the scenario names: ensured ones and those its steps touch. */
function proxiesOf(scenario: Scenario): Set<string> {
  const names = new Set(scenario.proxies.map((p) => p.name));
  for (const { action: a } of scenario.timeline) {
    if (a.kind === 'toxic' || a.kind === 'update_toxic' || a.kind === 'remove_toxic') names.add(a.proxy);
    else if (a.kind === 'proxy') names.add(a.name);
    else if (a.kind === 'heal' && a.proxy !== null) names.add(a.proxy);
  }
  return names;
}

/**
 * Fault windows. On this server the bus saw each toxic added and removed (partition cuts
 * included), so those times are exact; a toxic step on another server gets its window from
 * the steps: from its firing to its revert, a later remove or heal of it, or the run's end.
 */
function windowsOf(scenario: Scenario, record: RunRecord, t0: number, seen: Seen, url: string): FaultWindow[] {
  const end = record.ended_at ?? Date.now();
  const rel = (ts: number) => Math.max(0, Math.round(ts - record.started_at));
  const windows: Array<FaultWindow & { at: number }> = [];
  const removals = seen.toxics.filter((t) => !t.added);
  for (const added of seen.toxics.filter((t) => t.added)) {
    const removed = removals.find((r) => r.proxy === added.proxy && r.toxic === added.toxic && r.ts >= added.ts);
    if (removed !== undefined) removals.splice(removals.indexOf(removed), 1);
    windows.push({
      proxy: added.proxy, toxic: added.toxic, type: added.type, stream: added.stream,
      from_ms: rel(added.ts), to_ms: rel(removed?.ts ?? end), at: added.ts,
    });
  }
  for (const step of record.steps) {
    const a = scenario.timeline.find((s) => s.index === step.index);
    if (a === undefined || a.action.kind !== 'toxic' || !step.ok) continue;
    if (scenario.servers[serverOf(scenario, a.action.proxy)] === url) continue;
    const { proxy, name } = a.action;
    const from = t0 + step.firedAtMs;
    const ends = [end, ...(a.forMs !== null ? [t0 + a.atMs + a.forMs] : [])];
    for (const later of record.steps) {
      const b = scenario.timeline.find((s) => s.index === later.index)?.action;
      const hits = b !== undefined && ((b.kind === 'remove_toxic' && b.proxy === proxy && b.toxic === name) ||
        (b.kind === 'heal' && (b.proxy === null || b.proxy === proxy)));
      if (hits && t0 + later.firedAtMs > from) ends.push(t0 + later.firedAtMs);
    }
    windows.push({
      proxy, toxic: name, type: a.action.type, stream: a.action.stream,
      from_ms: rel(from), to_ms: rel(Math.min(...ends)), at: from,
    });
  }
  return windows.sort((x, y) => x.at - y.at).map(({ at: _at, ...w }) => w);
}

/** Fault events on the scenario's proxies, by action, from each step's firing to the next's. */
function countsOf(record: RunRecord, t0: number, seen: Seen): RunRecord['event_counts'] {
  const end = record.ended_at ?? Date.now();
  const steps = [...record.steps].sort((a, b) => a.firedAtMs - b.firedAtMs || a.index - b.index);
  return steps.map((step, i) => {
    const from = t0 + step.firedAtMs;
    const next = steps[i + 1];
    const to = next === undefined ? end + 1 : t0 + next.firedAtMs;
    const counts: Record<string, number> = {};
    for (const f of seen.faults) if (f.ts >= from && f.ts < to) counts[f.action] = (counts[f.action] ?? 0) + f.count;
    return { step: step.index, counts };
  });
}

/** Run records kept in memory, for a server started without persistence (db: false). */
export function memoryRunStore(): RunStore {
  const runs = new Map<string, StoredRun>();
  return {
    async save(run) { runs.set(run.id, structuredClone(run)); },
    async get(id) { const run = runs.get(id); return run === undefined ? null : structuredClone(run); },
    async list() {
      return [...runs.values()].reverse().sort((a, b) => b.started_at - a.started_at)
        .map(({ id, title, status, exit_code, reason, started_at, ended_at, duration_ms }) =>
          ({ id, title, status, exit_code, reason, started_at, ended_at, duration_ms }));
    },
    async endInterrupted() { return []; },
  };
}
