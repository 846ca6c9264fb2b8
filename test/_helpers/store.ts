// Helpers for the store tests: a real SQLite file in a fresh temp directory per test (removed
// afterwards), a transaction-counting view of a Db, synthetic events and polling.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openDb, type Db, type OpenOptions } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrations.js';
import type { StoredEvent } from '../../src/store/stored-event.js';

export interface TempDb {
  db: Db;
  dir: string;
  file: string;
}

/** A fresh directory under os.tmpdir(); `fn` gets it and it is removed afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'faultline-store-'));
  try {
    return await fn(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** A migrated database file in a fresh temp dir, closed and removed after `fn`. */
export async function withDb<T>(fn: (t: TempDb) => Promise<T>, options: OpenOptions = {}): Promise<T> {
  return withTempDir(async (dir) => {
    const file = path.join(dir, 'faultline.db');
    const db = await openDb(file, options);
    try {
      await migrate(db);
      return await fn({ db, dir, file });
    } finally {
      await db.close().catch(() => {});
    }
  });
}

/** The same Db, counting the transactions run through it. */
export function countingDb(db: Db): { db: Db; transactions: () => number } {
  let count = 0;
  const counted: Db = {
    path: db.path,
    run: (sql, params) => db.run(sql, params),
    get: (sql, params) => db.get(sql, params),
    all: (sql, params) => db.all(sql, params),
    exec: (sql) => db.exec(sql),
    transaction: (fn) => { count++; return db.transaction(fn); },
    close: () => db.close(),
  };
  return { db: counted, transactions: () => count };
}

export const PROXIES = ['api', 'db', 'cache'] as const;
export const ACTIONS = ['delayed', 'dropped', 'reset'] as const;
export const TYPES = ['latency', 'timeout', 'reset_peer'] as const;
export const BASE_TS = Date.parse('2024-05-01T12:00:00Z');

/** Event number `i` of a deterministic mix: the proxy, conn, type, action and ts all follow `i`
 *  (ts = BASE_TS + i seconds), so a test can compute what each filter should return. */
export function fault(i: number, overrides: Partial<StoredEvent> = {}): StoredEvent {
  return {
    id: `ev-${i}`,
    ts: BASE_TS + i * 1000,
    kind: i % 10 === 9 ? 'conn:closed' : 'fault:injected',
    proxy: PROXIES[i % 3],
    protocol: 'tcp',
    conn: `c${i % 7}`,
    client: '127.0.0.1:50000',
    toxic: `t${i % 3}`,
    type: TYPES[i % 3],
    stream: i % 2 === 0 ? 'downstream' : 'upstream',
    action: ACTIONS[Math.floor(i / 3) % 3],
    detail: { n: i },
    ...overrides,
  };
}

export async function countRows(db: Pick<Db, 'get'>, where = '1 = 1', params: unknown[] = []): Promise<number> {
  const row = await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM events WHERE ${where}`, params);
  return row?.n ?? -1;
}

/** Polls `check` every few ms until it is true; returns the ms it took, or throws after `timeoutMs`. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 3000, everyMs = 5): Promise<number> {
  const start = performance.now();
  while (!(await check())) {
    if (performance.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return performance.now() - start;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}
