// Chaos sessions in SQLite (the sessions table): one row per session, written when it starts,
// again as its actions arrive, and when it ends. The row's `record` column holds the whole
// session as the API serves it; the store does not look inside beyond the columns it lists by.

import type { Queryable } from './db.js';
import { jsonRecordRepo } from './json-record-repo.js';

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

const sessions = jsonRecordRepo<StoredSession>('sessions', {
  name: (s) => s.name, status: (s) => s.status, reason: (s) => s.reason, started_at: (s) => s.started_at,
  ended_at: (s) => s.ended_at, action_count: (s) => s.action_count, fault_count: (s) => s.fault_count,
  proxies: (s) => JSON.stringify(s.proxies_touched),
});

export const saveSession = sessions.save;
export const getSession = sessions.get;
export const removeSession = sessions.remove;

interface ListingRow extends Omit<SessionListing, 'proxies_touched' | 'duration_ms'> { proxies: string }

/** Newest first. */
export async function listSessions(db: Queryable, limit = 1000): Promise<SessionListing[]> {
  const rows = await sessions.list<ListingRow>(db,
    'id, name, status, reason, started_at, ended_at, action_count, fault_count, proxies', limit);
  return rows.map(({ proxies, ...row }) => ({
    ...row, proxies_touched: JSON.parse(proxies) as string[],
    duration_ms: row.ended_at === null ? null : row.ended_at - row.started_at,
  }));
}

/**
 * Sessions still recording when the server starts were cut short by a crash (a clean close
 * stops them): they end now, with `reason`. Returns their ids.
 */
export function endInterruptedSessions(db: Queryable, now: number, reason: string): Promise<string[]> {
  return sessions.endAll(db, 'recording',
    (session) => ({ ...session, status: 'ended', reason, ended_at: Math.max(now, session.started_at) }));
}
