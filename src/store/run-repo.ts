// Game-day runs in SQLite (the scenario_runs table): one row per run, written when it starts
// and again when it ends. The row's `record` column holds the whole run record as the API
// serves it; the store does not look inside beyond the columns it lists by.

import type { Queryable } from './db.js';
import { jsonRecordRepo } from './json-record-repo.js';

/** The fields of a run record the table keeps as columns; the rest rides along in `record`. */
export interface StoredRun {
  id: string;
  title: string;
  scenario: string;
  status: string;
  exit_code: number | null;
  reason: string;
  started_at: number;
  ended_at: number | null;
  duration_ms: number;
  [key: string]: unknown;
}

export type RunSummary = Pick<StoredRun,
  'id' | 'title' | 'status' | 'exit_code' | 'reason' | 'started_at' | 'ended_at' | 'duration_ms'> & { origin: string | null };

/** The table behind an interface, as the run manager takes it (persist.ts builds it). */
export interface RunStore {
  save(run: StoredRun): Promise<void>;
  get(id: string): Promise<StoredRun | null>;
  list(): Promise<RunSummary[]>;
  /** Ends the runs a crash left marked running; returns their ids. */
  endInterrupted(now: number, reason: string): Promise<string[]>;
}

const runs = jsonRecordRepo<StoredRun>('scenario_runs', {
  title: (r) => r.title, scenario: (r) => r.scenario, status: (r) => r.status, exit_code: (r) => r.exit_code,
  reason: (r) => r.reason, started_at: (r) => r.started_at, ended_at: (r) => r.ended_at, duration_ms: (r) => r.duration_ms,
});

export const saveRun = runs.save;
export const getRun = runs.get;

/** Newest first. */
export function listRuns(db: Queryable, limit = 1000): Promise<RunSummary[]> {
  return runs.list(db, `id, title, status, exit_code, reason, started_at, ended_at, duration_ms,
    json_extract(record, '$.origin') AS origin`, limit);
}

/**
 * Runs still marked running when the server starts were cut short by a crash (a clean close
 * aborts and finishes them): they end now, as aborted, with `reason`. Returns their ids.
 */
export function endInterruptedRuns(db: Queryable, now: number, reason: string): Promise<string[]> {
  return runs.endAll(db, 'running', (run) => ({ ...run, status: 'aborted', exit_code: 2, reason, ended_at: now }));
}
