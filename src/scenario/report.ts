// The run record (what GET /scenarios/runs/{id} returns and `faultline report` consumes) and the
// JSON report written next to the HTML one: the record itself, plus a computed summary (per-probe
// statistics, step timing) so that a reader of the JSON does not have to recompute them.

import type { FaultWindow } from './record.js';
import type { RecordedProbe } from './runner.js';
import type { StepRecord } from './timeline.js';

export type { FaultWindow } from './record.js';

export type RunRecordStatus = 'running' | 'held' | 'deviated' | 'halted' | 'error' | 'aborted' | 'not_started';

export interface RunRecord {
  id: string;
  title: string;
  /** The scenario file's text as submitted. */
  scenario: string;
  status: RunRecordStatus;
  /** null while running. */
  exit_code: number | null;
  /** '' while running. */
  reason: string;
  /** Epoch ms. */
  started_at: number;
  ended_at: number | null;
  /** The scenario's planned duration. */
  duration_ms: number;
  steps: StepRecord[];
  probes: RecordedProbe[];
  rollback: { ok: boolean; errors: string[] } | null;
  windows: FaultWindow[];
  /** Fault event counts (action -> count) between a step firing and the next. */
  event_counts: Array<{ step: number; counts: Record<string, number> }>;
}

export interface ProbeSummary {
  probe: string;
  runs: number;
  failures: number;
  p50_ms: number | null;
  max_ms: number | null;
  /** The output of the latest result that recorded one (exec probes); absent if none did. */
  last_output?: string;
}

export interface ReportJson extends RunRecord {
  summary: {
    probes: ProbeSummary[];
    steps: { total: number; failed: number; max_late_ms: number | null };
    rollback_ok: boolean | null;
  };
}

/** The median (lower middle for even counts, so it is an observed value) or null when empty. */
function median(sorted: readonly number[]): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? null;
}

/** Per probe name, in first-seen order: runs, failures, p50 and max latency, last output. */
export function summarizeProbes(probes: readonly RecordedProbe[]): ProbeSummary[] {
  const byName = new Map<string, RecordedProbe[]>();
  for (const p of probes) {
    const list = byName.get(p.probe);
    if (list) list.push(p);
    else byName.set(p.probe, [p]);
  }
  return [...byName].map(([probe, list]) => {
    const latencies = list.map((p) => p.latencyMs).filter((n) => Number.isFinite(n)).sort((a, b) => a - b);
    const lastOutput = list.map((p) => p.output).filter((o): o is string => typeof o === 'string' && o !== '').pop();
    return {
      probe,
      runs: list.length,
      failures: list.filter((p) => !p.ok).length,
      p50_ms: median(latencies),
      max_ms: latencies.length === 0 ? null : (latencies[latencies.length - 1] ?? null),
      ...(lastOutput !== undefined ? { last_output: lastOutput } : {}),
    };
  });
}

/** The JSON report: the record, unchanged, plus a summary. */
export function buildReportJson(record: RunRecord): ReportJson {
  const late = record.steps.map((s) => s.lateMs).filter((n) => Number.isFinite(n));
  return {
    ...record,
    summary: {
      probes: summarizeProbes(record.probes),
      steps: {
        total: record.steps.length,
        failed: record.steps.filter((s) => !s.ok).length,
        max_late_ms: late.length === 0 ? null : Math.max(...late),
      },
      rollback_ok: record.rollback === null ? null : record.rollback.ok,
    },
  };
}

function isRunRecord(value: unknown): value is RunRecord {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.id === 'string' && typeof v.status === 'string' && Array.isArray(v.steps) && Array.isArray(v.probes);
}

/** A record as a server returns it, with the fields older records may lack filled in; throws
 *  when it is not a run record at all. */
export function asRunRecord(raw: unknown, id: string): RunRecord {
  if (!isRunRecord(raw)) throw new Error(`unexpected response for run ${id}: not a run record`);
  return {
    ...raw,
    windows: Array.isArray(raw.windows) ? raw.windows : [],
    event_counts: Array.isArray(raw.event_counts) ? raw.event_counts : [],
    rollback: raw.rollback ?? null,
    scenario: typeof raw.scenario === 'string' ? raw.scenario : '',
    title: typeof raw.title === 'string' ? raw.title : raw.id,
    reason: typeof raw.reason === 'string' ? raw.reason : '',
  };
}
