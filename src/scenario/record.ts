// A run's record: what GET /scenarios/runs/{id} serves and `faultline report` renders, built the
// same way for a run on the server (server-runs.ts) and one from `faultline run`.
// Its fault `windows` and per-step `event_counts` come from what each server was seen doing
// during the run (observe.ts): the toxics added and removed on the scenario's proxies and the
// faults they injected. A server that could not be watched gets its windows from the steps
// (from a step firing to its revert, a later remove or heal, or the run's end) and no counts;
// `observed` says which source each server's part came from.

import type { StoredRun } from '../store/run-repo.js';
import { serverOf } from './actions.js';
import { partitionCuts } from './partition-cuts.js';
import type { RecordedProbe, RunResult, RunStatus, StepRecord } from './runner.js';
import type { Scenario } from './types.js';

export interface FaultWindow { proxy: string; toxic: string; type: string; stream: string; from_ms: number; to_ms: number }

export interface EventCount { step: number; counts: Record<string, number> }

/** Where one server's part of the record came from. */
export interface ObservedServer {
  /** `events`: exact, from the server's events; `steps`: windows guessed from the steps, no counts. */
  source: 'events' | 'steps';
  /** The server's GET /events for the run's time window: the fault events themselves. */
  events_url?: string;
  /** Fault and toxic events read. */
  events?: number;
  /** More events than the reader takes: the counts miss the oldest. */
  truncated?: boolean;
  /** Why the server's events were not read. */
  note?: string;
}

export interface RunRecord extends StoredRun {
  /** `server`: started with POST /scenarios/runs; `cli`: by `faultline run`, stored with PUT. */
  origin: 'server' | 'cli';
  status: 'running' | RunStatus;
  steps: StepRecord[];
  probes: RecordedProbe[];
  rollback: { ok: boolean; errors: string[] } | null;
  /** When each toxic the run added was active, in ms from started_at. */
  windows: FaultWindow[];
  /** Fault events (action -> count) on the scenario's proxies between each step firing and the next. */
  event_counts: EventCount[];
  /** By server name. */
  observed: Record<string, ObservedServer>;
}

export interface SeenFault { ts: number; proxy: string; action: string; count: number }
export interface SeenToxic { ts: number; added: boolean; proxy: string; toxic: string; type: string; stream: string }

/** What one server did to the scenario's proxies during the run. */
export interface Seen { faults: SeenFault[]; toxics: SeenToxic[] }

/** One server's observation: what it was seen doing, or null (then `observed.note` says why). */
export interface Observation { seen: Seen | null; observed: ObservedServer }

export function newRecord(
  fields: { id: string; origin: RunRecord['origin']; scenario: Scenario; text: string; startedAt: number },
): RunRecord {
  return {
    id: fields.id, origin: fields.origin, title: fields.scenario.title, scenario: fields.text, status: 'running',
    exit_code: null, reason: '', started_at: fields.startedAt, ended_at: null, duration_ms: fields.scenario.durationMs,
    steps: [], probes: [], rollback: null, windows: [], event_counts: [], observed: {},
  };
}

/** The runner's verdict into the record (the evidence comes after, from `withEvidence`). */
export function settle(record: RunRecord, result: RunResult): void {
  Object.assign(record, {
    status: result.status, exit_code: result.exitCode, reason: result.reason, ended_at: result.endedAt,
    steps: result.steps, probes: result.probes, rollback: result.rollback,
  });
}

/** The scenario's proxies by the server they live on: ensured ones and those its steps touch. */
export function proxiesByServer(scenario: Scenario): Map<string, Set<string>> {
  const byServer = new Map<string, Set<string>>();
  const add = (proxy: string) => {
    const server = serverOf(scenario, proxy);
    let names = byServer.get(server);
    if (names === undefined) byServer.set(server, (names = new Set()));
    names.add(proxy);
  };
  for (const p of scenario.proxies) add(p.name);
  for (const { action: a } of scenario.timeline) {
    if (a.kind === 'toxic' || a.kind === 'update_toxic' || a.kind === 'remove_toxic') add(a.proxy);
    else if (a.kind === 'proxy') add(a.name);
    else if (a.kind === 'heal' && a.proxy !== null) add(a.proxy);
  }
  return byServer;
}

/**
 * Fills in windows, event_counts and observed. `t0` is the timeline's start (epoch ms, null if
 * it never started); `observations` are by server name, and a server the scenario uses but
 * that has none gets its windows from the steps.
 */
export function withEvidence(
  record: RunRecord, scenario: Scenario, t0: number | null, observations: ReadonlyMap<string, Observation>,
): RunRecord {
  const observed: Record<string, ObservedServer> = {};
  const exact = new Set<string>();
  for (const server of proxiesByServer(scenario).keys()) {
    const o = observations.get(server);
    observed[server] = o?.observed ?? { source: 'steps', note: 'events not read: no step fired' };
    if (o?.seen != null) exact.add(server);
  }
  const seen = [...observations].filter(([server, o]) => exact.has(server) && o.seen !== null).map(([, o]) => o.seen!);
  const start = t0 ?? record.started_at;
  record.windows = [...seenWindows(record, seen), ...stepWindows(scenario, record, start, exact)]
    .sort((x, y) => x.at - y.at).map(({ at: _at, ...w }) => w);
  record.event_counts = countsOf(record, start, seen.flatMap((s) => s.faults));
  record.observed = observed;
  return record;
}

type Timed = FaultWindow & { at: number };

function relative(record: RunRecord): (ts: number) => number {
  return (ts) => Math.max(0, Math.round(ts - record.started_at));
}

/** Each toxic added, paired with its removal (or expiry), else open until the run's end. */
function seenWindows(record: RunRecord, seen: readonly Seen[]): Timed[] {
  const end = record.ended_at ?? Date.now();
  const rel = relative(record);
  const windows: Timed[] = [];
  for (const { toxics } of seen) {
    const ordered = [...toxics].sort((a, b) => a.ts - b.ts);
    const removals = ordered.filter((t) => !t.added);
    for (const added of ordered.filter((t) => t.added)) {
      const removed = removals.find((r) => r.proxy === added.proxy && r.toxic === added.toxic && r.ts >= added.ts);
      if (removed !== undefined) removals.splice(removals.indexOf(removed), 1);
      windows.push({
        proxy: added.proxy, toxic: added.toxic, type: added.type, stream: added.stream,
        from_ms: rel(added.ts), to_ms: rel(removed?.ts ?? end), at: added.ts,
      });
    }
  }
  return windows;
}

/** Windows of the toxic and partition steps on servers that were not observed. */
function stepWindows(scenario: Scenario, record: RunRecord, t0: number, exact: ReadonlySet<string>): Timed[] {
  const end = record.ended_at ?? Date.now();
  const rel = relative(record);
  const actionOf = (index: number) => scenario.timeline.find((s) => s.index === index);
  const windows: Timed[] = [];
  for (const step of record.steps) {
    const s = actionOf(step.index);
    if (s === undefined || !step.ok) continue;
    const a = s.action;
    const toxics = a.kind === 'toxic'
      ? [{ proxy: a.proxy, toxic: a.name, type: a.type, stream: a.stream as string }]
      : a.kind === 'partition'
        ? partitionCuts(scenario, a).map((c) => ({ proxy: c.proxy, toxic: `scenario_partition_${s.index}_${c.stream}`, type: 'partition', stream: c.stream as string }))
        : [];
    const from = t0 + step.firedAtMs;
    for (const t of toxics) {
      if (exact.has(serverOf(scenario, t.proxy))) continue;
      const ends = [end, ...(s.forMs !== null ? [t0 + s.atMs + s.forMs] : [])];
      for (const later of record.steps) {
        const b = actionOf(later.index)?.action;
        const hits = b !== undefined && ((b.kind === 'remove_toxic' && b.proxy === t.proxy && b.toxic === t.toxic) ||
          (b.kind === 'heal' && (b.proxy === null || b.proxy === t.proxy)));
        if (hits && t0 + later.firedAtMs > from) ends.push(t0 + later.firedAtMs);
      }
      windows.push({ ...t, from_ms: rel(from), to_ms: rel(Math.min(...ends)), at: from });
    }
  }
  return windows;
}

/** Faults by action from each step's firing to the next's; the last step keeps what follows
 *  (a rate-limit summary can arrive after the run's end). */
function countsOf(record: RunRecord, t0: number, faults: readonly SeenFault[]): EventCount[] {
  const steps = [...record.steps].sort((a, b) => a.firedAtMs - b.firedAtMs || a.index - b.index);
  return steps.map((step, i) => {
    const from = t0 + step.firedAtMs;
    const next = steps[i + 1];
    const to = next === undefined ? Infinity : t0 + next.firedAtMs;
    const counts: Record<string, number> = {};
    for (const f of faults) if (f.ts >= from && f.ts < to) counts[f.action] = (counts[f.action] ?? 0) + f.count;
    return { step: step.index, counts };
  });
}
