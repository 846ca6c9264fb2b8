// The configured state (proxies and their toxics) as rows, so a restart can bring it back.
// Each function is one small statement; server.ts calls them from its state:changed listener
// (applyChange does that mapping) and loadState at start. They take a Queryable, so a caller
// may run several inside one transaction.

import type { RestoredProxy } from '../core/inputs.js';
import type { StateChange } from '../core/reporter.js';
import type { Queryable } from './db.js';

export interface StoredToxic {
  name: string;
  type: string;
  /** As the client sent it: Toxiproxy echoes `UpStream` back verbatim. */
  stream: string;
  toxicity: number;
  attributes: Record<string, unknown>;
  /** Epoch ms at which the toxic removes itself, or null. */
  expires_at: number | null;
}

export interface StoredProxy {
  name: string;
  protocol: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  idle_timeout?: number;
  /** In insertion order. */
  toxics: StoredToxic[];
}

/** Creates or updates a proxy from its API JSON. An upsert, not a REPLACE: REPLACE deletes the
 *  row first, and the cascade would take the proxy's toxics with it. */
export async function saveProxy(db: Queryable, json: Record<string, unknown>): Promise<void> {
  const name = field(json, 'name', 'string');
  const listen = field(json, 'listen', 'string');
  const upstream = field(json, 'upstream', 'string');
  const enabled = field(json, 'enabled', 'boolean');
  const protocol = json.protocol === undefined ? 'tcp' : field(json, 'protocol', 'string');
  const idle = json.idle_timeout === undefined || json.idle_timeout === null ? null : field(json, 'idle_timeout', 'number');
  // Toxics have their own rows; live session counts are not state.
  const { toxics: _toxics, sessions: _sessions, ...body } = json;
  await db.run(
    `INSERT INTO proxies (name, protocol, listen, upstream, enabled, idle_timeout, body, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET protocol = excluded.protocol, listen = excluded.listen,
       upstream = excluded.upstream, enabled = excluded.enabled, idle_timeout = excluded.idle_timeout,
       body = excluded.body, updated_at = excluded.updated_at`,
    [name, protocol, listen, upstream, enabled ? 1 : 0, idle, JSON.stringify(body), Date.now()],
  );
}

/** Removes a proxy; its toxics go with it (ON DELETE CASCADE). */
export async function deleteProxy(db: Queryable, name: string): Promise<void> {
  await db.run('DELETE FROM proxies WHERE name = ?', [name]);
}

/**
 * Creates or updates a toxic from its API JSON (toxicJSON). A new toxic goes after the proxy's
 * last one; an updated one keeps its place, as it does in the running proxy. Fails with
 * SQLITE_CONSTRAINT if the proxy is not stored.
 */
export async function saveToxic(db: Queryable, proxy: string, json: Record<string, unknown>, expiresAt: number | null): Promise<void> {
  const name = field(json, 'name', 'string');
  field(json, 'type', 'string');
  // The column is the one truth for the expiry; the ISO copy in the JSON would go stale.
  const { expires_at: _expires, ...body } = json;
  await db.run(
    `INSERT INTO toxics (proxy, name, position, body, expires_at)
     VALUES (?, ?, (SELECT COALESCE(MAX(position), -1) + 1 FROM toxics WHERE proxy = ?), ?, ?)
     ON CONFLICT (proxy, name) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at`,
    [proxy, name, proxy, JSON.stringify(body), expiresAt],
  );
}

export async function deleteToxic(db: Queryable, proxy: string, name: string): Promise<void> {
  await db.run('DELETE FROM toxics WHERE proxy = ? AND name = ?', [proxy, name]);
}

/** Everything stored: proxies by name, each with its toxics in insertion order. */
export async function loadState(db: Queryable): Promise<StoredProxy[]> {
  const proxies = await db.all<ProxyRow>('SELECT name, protocol, listen, upstream, enabled, idle_timeout FROM proxies ORDER BY name');
  const toxics = await db.all<ToxicRow>('SELECT proxy, body, expires_at FROM toxics ORDER BY proxy, position');
  const byProxy = new Map<string, StoredProxy>();
  const result = proxies.map((row) => {
    const proxy: StoredProxy = {
      name: row.name, protocol: row.protocol, listen: row.listen, upstream: row.upstream,
      enabled: row.enabled !== 0, toxics: [],
    };
    if (row.idle_timeout !== null) proxy.idle_timeout = row.idle_timeout;
    byProxy.set(row.name, proxy);
    return proxy;
  });
  for (const row of toxics) {
    const body = JSON.parse(row.body) as Record<string, unknown>;
    byProxy.get(row.proxy)?.toxics.push({
      name: String(body.name), type: String(body.type), stream: String(body.stream ?? 'downstream'),
      toxicity: typeof body.toxicity === 'number' ? body.toxicity : 1,
      attributes: (body.attributes ?? {}) as Record<string, unknown>,
      expires_at: row.expires_at,
    });
  }
  return result;
}

/** Persists one state:changed event: the whole mapping from the bus to this table set. */
export async function applyChange(db: Queryable, change: StateChange): Promise<void> {
  switch (change.kind) {
    case 'proxy:created':
    case 'proxy:updated':
      return saveProxy(db, change.body);
    case 'proxy:deleted':
      return deleteProxy(db, change.proxy);
    case 'toxic:added':
    case 'toxic:updated': {
      const iso = change.body.expires_at;
      const expiresAt = typeof iso === 'string' && !Number.isNaN(Date.parse(iso)) ? Date.parse(iso) : null;
      return saveToxic(db, change.proxy, change.body, expiresAt);
    }
    case 'toxic:removed':
    case 'toxic:expired':
      return deleteToxic(db, change.proxy, change.toxic);
  }
}

/** The stored state in the shape Collection.restore takes. */
export function restoredProxies(state: readonly StoredProxy[]): RestoredProxy[] {
  return state.map(({ toxics, ...proxy }) => ({
    ...proxy,
    toxics: toxics.map(({ expires_at, ...toxic }) => ({ ...toxic, expiresAt: expires_at })),
  }));
}

interface ProxyRow { name: string; protocol: string; listen: string; upstream: string; enabled: number; idle_timeout: number | null }
interface ToxicRow { proxy: string; body: string; expires_at: number | null }

type Kinds = { string: string; number: number; boolean: boolean };

/** A field the row can't be written without; a wrong one is a bug in the caller, not input. */
function field<K extends keyof Kinds>(json: Record<string, unknown>, key: string, kind: K): Kinds[K] {
  const value = json[key];
  if (typeof value !== kind) throw new TypeError(`stored state needs ${key} as a ${kind}, got ${JSON.stringify(value)}`);
  return value as Kinds[K];
}
