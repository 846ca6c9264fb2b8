// One row of the event log, and the mapping from each bus event to it. The columns are the
// fields people filter on; everything else goes into `detail`, so a new kind of event needs
// no migration.

import type { BusEvents } from '../events/bus.js';

export interface StoredEvent {
  id: string;
  /** Epoch ms. */
  ts: number;
  /** The bus event ('fault:injected', 'fault:folded', 'conn:opened', 'conn:closed') or, for a
   *  state change, its kind ('proxy:created', 'toxic:added', 'toxic:expired', ...). */
  kind: string;
  proxy?: string;
  protocol?: string;
  conn?: string;
  client?: string;
  toxic?: string;
  /** The toxic type. */
  type?: string;
  stream?: string;
  action?: string;
  detail?: Record<string, unknown>;
}

/** The bus events the log keeps (log:warn is for the log, not the event log). */
export type LoggedBusEvent = Exclude<keyof BusEvents, 'log:warn'>;

export function toStoredEvent<K extends LoggedBusEvent>(kind: K, payload: BusEvents[K]): StoredEvent {
  // TypeScript can't narrow `payload` through the generic `kind`, so each case names its type.
  switch (kind) {
    case 'fault:injected': {
      const p = payload as BusEvents['fault:injected'];
      return {
        id: p.id, ts: p.ts, kind, proxy: p.proxy, protocol: p.protocol, conn: p.conn, client: p.client,
        toxic: p.toxic, type: p.type, stream: p.stream, action: p.action, detail: { ...p.detail },
      };
    }
    case 'fault:folded': {
      const p = payload as BusEvents['fault:folded'];
      return { id: p.id, ts: p.ts, kind, proxy: p.proxy, toxic: p.toxic, action: p.action, detail: { count: p.count } };
    }
    case 'conn:opened': {
      const p = payload as BusEvents['conn:opened'];
      return {
        id: p.id, ts: p.ts, kind, proxy: p.proxy, protocol: p.protocol, conn: p.conn, client: p.client,
        detail: { upstream: p.upstream },
      };
    }
    case 'conn:closed': {
      const p = payload as BusEvents['conn:closed'];
      return {
        id: p.id, ts: p.ts, kind, proxy: p.proxy, protocol: p.protocol, conn: p.conn, client: p.client,
        detail: {
          upstream: p.upstream, bytesUp: p.bytesUp, bytesDown: p.bytesDown, durationMs: p.durationMs, reason: p.reason,
          ...(p.upstreamErrors === undefined ? {} : { upstreamErrors: p.upstreamErrors }),
        },
      };
    }
    default: {
      const p = payload as BusEvents['state:changed'];
      const event: StoredEvent = { id: p.id, ts: p.ts, kind: p.kind, proxy: p.proxy };
      if ('toxic' in p) event.toxic = p.toxic;
      if ('body' in p) {
        event.detail = 'restored' in p && p.restored ? { ...p.body, restored: true } : p.body;
        // A toxic's type and stream get their columns too, so `?type=latency` finds its history.
        if (p.kind.startsWith('toxic:') && typeof p.body.type === 'string') event.type = p.body.type;
        if (p.kind.startsWith('toxic:') && typeof p.body.stream === 'string') event.stream = p.body.stream.toLowerCase();
      }
      return event;
    }
  }
}

/** The columns in insert order; the writer and the reader share it. */
export const EVENT_COLUMNS = ['id', 'ts', 'kind', 'proxy', 'protocol', 'conn', 'client', 'toxic', 'type', 'stream', 'action', 'detail'] as const;

/** One event as the values of EVENT_COLUMNS. */
export function eventValues(e: StoredEvent): unknown[] {
  return [
    e.id, e.ts, e.kind, e.proxy ?? null, e.protocol ?? null, e.conn ?? null, e.client ?? null,
    e.toxic ?? null, e.type ?? null, e.stream ?? null, e.action ?? null,
    e.detail === undefined ? null : JSON.stringify(e.detail),
  ];
}

/** A row back into an event, leaving out the NULL columns. */
export function eventFromRow(row: Record<string, unknown>): StoredEvent & { seq: number } {
  const event: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    if (value === null) continue;
    event[key] = key === 'detail' ? JSON.parse(value as string) : value;
  }
  return event as unknown as StoredEvent & { seq: number };
}
