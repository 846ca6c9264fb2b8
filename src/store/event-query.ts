// Reading the event log back: GET /events pages newest first, and the ndjson export walks
// everything that matches without holding it in memory. Pages are cut by seq, not by offset
// or ts: seq only grows, so "strictly below the last seq seen" stays exact while the writer
// keeps inserting above it (no duplicates, no gaps), and pruning below it only shortens the end.

import type { Queryable } from './db.js';
import { eventFromRow, type StoredEvent } from './stored-event.js';

export interface EventFilter {
  proxy?: string;
  conn?: string;
  /** The toxic type. */
  type?: string;
  action?: string;
  kind?: string;
  toxic?: string;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
  /** Page size for queryEvents (default 100); a total cap for streamEvents (default none). */
  limit?: number;
  /** The `next` of the previous page. */
  cursor?: string;
}

/** A stored event with its position in the log. */
export type QueriedEvent = StoredEvent & { seq: number };

export interface EventPage {
  /** Newest first. */
  events: QueriedEvent[];
  /** The cursor for the next (older) page, or null when this is the last. */
  next: string | null;
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 10_000;

const EQUALITY = ['proxy', 'conn', 'type', 'action', 'kind', 'toxic'] as const;
const LIMIT_MESSAGE = `limit must be an integer from 1 to ${MAX_LIMIT}`;

export async function queryEvents(db: Queryable, filter: EventFilter = {}): Promise<EventPage> {
  const limit = filter.limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new RangeError(LIMIT_MESSAGE);
  const below = filter.cursor === undefined ? null : decodeCursor(filter.cursor);
  const events = await page(db, filter, below, limit + 1);
  // One row more than asked says whether an older page exists without a COUNT.
  if (events.length <= limit) return { events, next: null };
  events.length = limit;
  return { events, next: encodeCursor(events[limit - 1]!.seq) };
}

/** Every matching event, newest first, in pages of `pageSize`; `filter.limit` caps the total. */
export async function* streamEvents(db: Queryable, filter: EventFilter = {}, pageSize = 1000): AsyncGenerator<QueriedEvent[]> {
  let below = filter.cursor === undefined ? null : decodeCursor(filter.cursor);
  let left = filter.limit ?? Infinity;
  while (left > 0) {
    const events = await page(db, filter, below, Math.min(pageSize, left));
    if (events.length === 0) return;
    yield events;
    left -= events.length;
    below = events[events.length - 1]!.seq;
  }
}

/** streamEvents as ndjson text, one chunk per page: `Readable.from(eventsNdjson(...))` pipes it. */
export async function* eventsNdjson(db: Queryable, filter: EventFilter = {}, pageSize = 1000): AsyncGenerator<string> {
  for await (const events of streamEvents(db, filter, pageSize)) {
    yield events.map((e) => `${JSON.stringify(e)}\n`).join('');
  }
}

async function page(db: Queryable, filter: EventFilter, below: number | null, limit: number): Promise<QueriedEvent[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  for (const key of EQUALITY) {
    const value = filter[key];
    if (value === undefined) continue;
    where.push(`${key} = ?`); // key is one of our column names, never input
    params.push(value);
  }
  if (filter.since !== undefined) { where.push('ts >= ?'); params.push(filter.since); }
  if (filter.until !== undefined) { where.push('ts < ?'); params.push(filter.until); }
  if (below !== null) { where.push('seq < ?'); params.push(below); }
  const sql = `SELECT * FROM events ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
  const rows = await db.all(sql, [...params, limit]);
  return rows.map(eventFromRow);
}

export function encodeCursor(seq: number): string {
  return Buffer.from(`seq:${seq}`).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const match = /^seq:([1-9][0-9]{0,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  // Re-encoding rejects strings that base64url decoding merely tolerated.
  if (match === null || encodeCursor(Number(match[1])) !== cursor) throw new Error('cursor is not valid; use the `next` of a previous page');
  return Number(match[1]);
}

const KNOWN = new Set<string>([...EQUALITY, 'since', 'until', 'limit', 'cursor', 'format']);
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/;

/**
 * Validates GET /events' query string. Throws an Error whose message names the bad parameter
 * (the API turns it into a 400). `format` is left to the caller; other unknown parameters are
 * refused, so a misspelt filter doesn't silently return everything.
 */
export function parseEventFilter(query: URLSearchParams): EventFilter {
  const filter: EventFilter = {};
  for (const key of new Set(query.keys())) {
    if (!KNOWN.has(key)) throw new Error(`unknown query parameter '${key}'; use ${[...KNOWN].join(', ')}`);
    const values = query.getAll(key);
    if (values.length > 1) throw new Error(`${key} may be given only once`);
  }
  for (const key of EQUALITY) {
    const value = query.get(key);
    if (value === null) continue;
    if (value === '') throw new Error(`${key} must not be empty`);
    filter[key] = value;
  }
  const limit = query.get('limit');
  if (limit !== null) {
    if (!/^[0-9]{1,6}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIMIT) throw new Error(LIMIT_MESSAGE);
    filter.limit = Number(limit);
  }
  for (const key of ['since', 'until'] as const) {
    const value = query.get(key);
    if (value !== null) filter[key] = parseTime(key, value);
  }
  if (filter.since !== undefined && filter.until !== undefined && filter.since >= filter.until) {
    throw new Error('since must be before until');
  }
  const cursor = query.get('cursor');
  if (cursor !== null) {
    decodeCursor(cursor);
    filter.cursor = cursor;
  }
  return filter;
}

/** Epoch ms, or ISO 8601: a date (UTC midnight) or a date-time WITH a zone, because a bare
 *  date-time would mean the server's local time, which the client can't see. */
function parseTime(key: string, value: string): number {
  const ms = /^[0-9]{1,15}$/.test(value) ? Number(value) : ISO_8601.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) {
    throw new Error(`${key} must be epoch milliseconds or an ISO 8601 date-time with a zone (e.g. 2024-05-01T12:00:00Z), got '${value}'`);
  }
  return ms;
}
