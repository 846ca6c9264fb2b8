// What a chaos session keeps: every state change the bus reported while it recorded (control
// actions, and ttl expiries marked as not being one), the fault counts of that window, and the
// proxies as they were when it began, which the scenario export needs to be self-contained.
// The views here are what the API serves: the full record, the summary `stop` returns, and the
// list entry.

import type { StateChange } from '../core/reporter.js';
import type { SessionListing, StoredSession } from '../store/session-repo.js';

export interface SessionAction {
  /** Milliseconds since the session started. */
  offset_ms: number;
  /** Epoch ms. */
  ts: number;
  kind: StateChange['kind'];
  proxy: string;
  toxic: string | null;
  /** The proxy or toxic JSON after the change (as the API shows it); null for removals. */
  body: Record<string, unknown> | null;
  /** False for toxic:expired: a ttl ran out, nobody acted. */
  control: boolean;
  /** proxy:updated: the replayable fields that changed, with their new values. */
  changes?: ProxyChanges;
}

export interface ProxyChanges { enabled?: boolean; upstream?: string; listen?: string }

export interface FaultTally {
  proxy: string;
  action: string;
  /** Every fault counted, including those the event stream's rate limit folded away. */
  count: number;
  /** Epoch ms of the first and last fault events seen, or null if the stream saw none. */
  first_ts: number | null;
  last_ts: number | null;
}

/** A proxy as the API showed it when the session started (`protocol` filled in). */
export interface ProxySnapshot {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  protocol: 'tcp' | 'udp' | 'http' | 'dns';
  toxics: Array<Record<string, unknown>>;
}

export interface SessionRecord extends StoredSession {
  actions: SessionAction[];
  /** Actions beyond the cap that were not kept (a very long session). */
  actions_dropped: number;
  faults: FaultTally[];
  start_state: ProxySnapshot[];
}

/** What GET /sessions/{id} serves: the record, its duration and its event-log window. */
export type SessionView = SessionRecord & { duration_ms: number; events: EventWindow };
/** What stopping returns: the view without the starting state. */
export type SessionSummary = Omit<SessionView, 'start_state'>;

export interface EventWindow {
  since: number;
  /** Exclusive, as GET /events' `until`; null while recording. */
  until: number | null;
  /** The GET /events query for everything the log holds of the window. */
  query: string;
}

export function viewOf(record: SessionRecord, now: number): SessionView {
  const until = record.ended_at === null ? null : record.ended_at + 1;
  const query = `/events?since=${record.started_at}${until === null ? '' : `&until=${until}`}`;
  return {
    ...record,
    duration_ms: (record.ended_at ?? now) - record.started_at,
    events: { since: record.started_at, until, query },
  };
}

export function summaryOf(record: SessionRecord, now: number): SessionSummary {
  const { start_state: _start, ...summary } = viewOf(record, now);
  return summary;
}

export function listingOf(record: SessionRecord, now: number): SessionListing {
  const { id, name, status, reason, started_at, ended_at, action_count, fault_count, proxies_touched } = record;
  return {
    id, name, status, reason, started_at, ended_at, action_count, fault_count, proxies_touched,
    duration_ms: (ended_at ?? now) - started_at,
  };
}

/** The API's proxy JSON as a snapshot; TCP proxies do not name their protocol. */
export function snapshotOf(json: Record<string, unknown>): ProxySnapshot {
  return {
    name: String(json.name),
    listen: String(json.listen),
    upstream: String(json.upstream),
    enabled: json.enabled !== false,
    protocol: json.protocol === 'udp' || json.protocol === 'http' || json.protocol === 'dns' ? json.protocol : 'tcp',
    toxics: Array.isArray(json.toxics) ? (json.toxics as Array<Record<string, unknown>>) : [],
  };
}
