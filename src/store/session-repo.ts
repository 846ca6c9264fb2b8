// Chaos sessions in SQLite (the sessions table): one row per session, written when it starts,
// again as its actions arrive, and when it ends. The row's `record` column holds the whole
// session as the API serves it; the store does not look inside beyond the columns it lists by.

import type { Queryable } from './db.js';

/** The fields of a session record the table keeps as columns; the rest rides along in `record`. */
export interface StoredSession {
  id: string;
  name: string;
  status: 'recording' | 'ended';
  /** Why it ended ('stopped', ...); '' while recording. */
  reason: string;
  started_at: number;
  ended_at: number | null;
  action_count: number;
  fault_count: number;
  proxies_touched: string[];
  [key: string]: unknown;
}

/** One entry of GET /sessions. */
export type SessionListing = Pick<StoredSession,
  'id' | 'name' | 'status' | 'reason' | 'started_at' | 'ended_at' | 'action_count' | 'fault_count' | 'proxies_touched'>
  & { duration_ms: number | null };

/** The table behind an interface, as the session recorder takes it (persist.ts builds it). */
export interface SessionStore {
  save(session: StoredSession): Promise<void>;
  get(id: string): Promise<StoredSession | null>;
  /** Newest first. */
  list(): Promise<SessionListing[]>;
  /** True if there was such a session. */
  remove(id: string): Promise<boolean>;
  /** Ends the sessions a crash left recording; returns their ids. */
  endInterrupted(now: number, reason: string): Promise<string[]>;
}

/** Inserts the session, or replaces the stored copy of it. */
export async function saveSession(db: Queryable, s: StoredSession): Promise<void> {
  await db.run(
    `INSERT INTO sessions (id, name, status, reason, started_at, ended_at, action_count, fault_count, proxies, record)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET name = excluded.name, status = excluded.status, reason = excluded.reason,
       started_at = excluded.started_at, ended_at = excluded.ended_at, action_count = excluded.action_count,
       fault_count = excluded.fault_count, proxies = excluded.proxies, record = excluded.record`,
    [s.id, s.name, s.status, s.reason, s.started_at, s.ended_at, s.action_count, s.fault_count,
      JSON.stringify(s.proxies_touched), JSON.stringify(s)],
  );
}

export async function getSession(db: Queryable, id: string): Promise<StoredSession | null> {
  const row = await db.get<{ record: string }>('SELECT record FROM sessions WHERE id = ?', [id]);
  return row === undefined ? null : (JSON.parse(row.record) as StoredSession);
}

interface ListingRow extends Omit<SessionListing, 'proxies_touched' | 'duration_ms'> { proxies: string }

/** Newest first. */
export async function listSessions(db: Queryable, limit = 1000): Promise<SessionListing[]> {
  const rows = await db.all<ListingRow>(
    `SELECT id, name, status, reason, started_at, ended_at, action_count, fault_count, proxies
     FROM sessions ORDER BY started_at DESC, rowid DESC LIMIT ?`,
    [limit],
  );
  return rows.map(({ proxies, ...row }) => ({
    ...row, proxies_touched: JSON.parse(proxies) as string[],
    duration_ms: row.ended_at === null ? null : row.ended_at - row.started_at,
  }));
}

export async function removeSession(db: Queryable, id: string): Promise<boolean> {
  return (await db.run('DELETE FROM sessions WHERE id = ?', [id])).changes > 0;
}

/**
 * Sessions still recording when the server starts were cut short by a crash (a clean close
 * stops them): they end now, with `reason`. Returns their ids.
 */
export async function endInterruptedSessions(db: Queryable, now: number, reason: string): Promise<string[]> {
  const rows = await db.all<{ record: string }>("SELECT record FROM sessions WHERE status = 'recording'");
  const ids: string[] = [];
  for (const row of rows) {
    const session = JSON.parse(row.record) as StoredSession;
    await saveSession(db, { ...session, status: 'ended', reason, ended_at: Math.max(now, session.started_at) });
    ids.push(session.id);
  }
  return ids;
}
