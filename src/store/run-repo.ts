// Game-day runs in SQLite (the scenario_runs table): one row per run, written when it starts
// and again when it ends. The row's `record` column holds the whole run record as the API
// serves it; the store does not look inside beyond the columns it lists by.

import type { Queryable } from './db.js';

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

/** Inserts the run, or replaces the stored copy of it. */
export async function saveRun(db: Queryable, run: StoredRun): Promise<void> {
  await db.run(
    `INSERT INTO scenario_runs (id, title, scenario, status, exit_code, reason, started_at, ended_at, duration_ms, record)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET title = excluded.title, scenario = excluded.scenario, status = excluded.status,
       exit_code = excluded.exit_code, reason = excluded.reason, started_at = excluded.started_at,
       ended_at = excluded.ended_at, duration_ms = excluded.duration_ms, record = excluded.record`,
    [run.id, run.title, run.scenario, run.status, run.exit_code, run.reason, run.started_at, run.ended_at,
      run.duration_ms, JSON.stringify(run)],
  );
}

export async function getRun(db: Queryable, id: string): Promise<StoredRun | null> {
  const row = await db.get<{ record: string }>('SELECT record FROM scenario_runs WHERE id = ?', [id]);
  return row === undefined ? null : (JSON.parse(row.record) as StoredRun);
}

/** Newest first. */
export async function listRuns(db: Queryable, limit = 1000): Promise<RunSummary[]> {
  return db.all<RunSummary>(
    `SELECT id, title, status, exit_code, reason, started_at, ended_at, duration_ms,
       json_extract(record, '$.origin') AS origin
     FROM scenario_runs ORDER BY started_at DESC, rowid DESC LIMIT ?`,
    [limit],
  );
}

/**
 * Runs still marked running when the server starts were cut short by a crash (a clean close
 * aborts and finishes them): they end now, as aborted, with `reason`. Returns their ids.
 */
export async function endInterruptedRuns(
  db: Queryable, now: number, reason: string,
): Promise<string[]> {
  const rows = await db.all<{ record: string }>("SELECT record FROM scenario_runs WHERE status = 'running'");
  const ids: string[] = [];
  for (const row of rows) {
    const run = JSON.parse(row.record) as StoredRun;
    await saveRun(db, { ...run, status: 'aborted', exit_code: 2, reason, ended_at: now });
    ids.push(run.id);
  }
  return ids;
}
