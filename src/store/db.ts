// The one SQLite connection, behind a small promise API. node-sqlite3 is callback based and
// runs every call on a shared connection, so a transaction would otherwise swallow whatever
// else the server wrote meanwhile (and roll it back on error), or fail with "cannot start a
// transaction within a transaction". Every top-level call therefore goes through one FIFO
// lock; a transaction holds it from BEGIN to COMMIT and gives its body a handle that runs
// inside the lock. FIFO also keeps state writes in the order the server issued them.
// Errors are SQLite's own, so `code` stays 'SQLITE_FULL', 'SQLITE_READONLY', 'SQLITE_BUSY'...

import sqlite3 from 'sqlite3';

export type Params = readonly unknown[] | Record<string, unknown>;

export interface RunResult {
  /** Rows changed by the statement. */
  changes: number;
  /** The rowid of the last row inserted (for a multi-row INSERT, the last of them). */
  lastID: number;
}

/** What a statement can run on: the connection, or the handle inside a transaction. */
export interface Queryable {
  run(sql: string, params?: Params): Promise<RunResult>;
  get<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T | undefined>;
  all<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T[]>;
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly path: string;
  /**
   * Runs `fn` inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK if it throws). IMMEDIATE takes the
   * write lock up front, so a busy database fails at BEGIN (after busy_timeout) rather than
   * half way. `fn` must use the handle it is given: the connection itself waits for the lock.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** How long a statement waits for another connection's lock before SQLITE_BUSY (ms). */
  busyTimeoutMs?: number;
  /** Open without write access (sqlite3.OPEN_READONLY); migrations then fail. */
  readOnly?: boolean;
}

/** An Error as node-sqlite3 raises it: `code` is the SQLite result code's name. */
export interface SqliteError extends Error {
  code?: string;
  errno?: number;
}

class Connection implements Db {
  private tail: Promise<unknown> = Promise.resolve();
  /** Runs directly on the connection; used by transaction bodies, which already hold the lock. */
  private readonly direct: Queryable;

  constructor(readonly path: string, private readonly raw: sqlite3.Database) {
    this.direct = {
      run: (sql, params) => runRaw(raw, sql, params),
      get: (sql, params) => call(raw, 'get', sql, params),
      all: async (sql, params) => (await call(raw, 'all', sql, params)) ?? [],
      exec: (sql) => new Promise((resolve, reject) => raw.exec(sql, (err) => (err ? reject(err) : resolve()))),
    };
  }

  run(sql: string, params?: Params): Promise<RunResult> { return this.locked(() => this.direct.run(sql, params)); }
  get<T>(sql: string, params?: Params): Promise<T | undefined> { return this.locked(() => this.direct.get<T>(sql, params)); }
  all<T>(sql: string, params?: Params): Promise<T[]> { return this.locked(() => this.direct.all<T>(sql, params)); }
  exec(sql: string): Promise<void> { return this.locked(() => this.direct.exec(sql)); }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.locked(async () => {
      await this.direct.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.direct);
        await this.direct.exec('COMMIT');
        return result;
      } catch (err) {
        // A failed COMMIT (SQLITE_FULL, SQLITE_BUSY) may leave the transaction open; a
        // ROLLBACK with none open fails harmlessly, and the caller sees the first error.
        await this.direct.exec('ROLLBACK').catch(() => {});
        throw err;
      }
    });
  }

  close(): Promise<void> {
    return this.locked(() => new Promise<void>((resolve, reject) => this.raw.close((err) => (err ? reject(err) : resolve()))));
  }

  private locked<T>(op: () => Promise<T>): Promise<T> {
    const result = this.tail.then(op);
    // The next caller waits for this one to settle, whether it succeeded or not.
    this.tail = result.catch(() => {});
    return result;
  }
}

function runRaw(raw: sqlite3.Database, sql: string, params?: Params): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    raw.run(sql, params ?? [], function (this: sqlite3.RunResult, err: Error | null) {
      if (err) reject(err);
      else resolve({ changes: this.changes, lastID: this.lastID });
    });
  });
}

function call<T>(raw: sqlite3.Database, method: 'get' | 'all', sql: string, params?: Params): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    raw[method](sql, params ?? [], (err: Error | null, result: unknown) => (err ? reject(err) : resolve(result as T | undefined)));
  });
}

/**
 * Opens (creating if needed) the database at `path`, or a private in-memory one for ':memory:'.
 * WAL lets readers (GET /events) run while the event writer commits; synchronous=NORMAL is
 * durable across a process kill (only a power loss can lose the last commits) at a fraction of
 * FULL's fsyncs. Foreign keys are off by default in SQLite, and the toxics cascade needs them.
 */
export async function openDb(path: string, options: OpenOptions = {}): Promise<Db> {
  const mode = options.readOnly ? sqlite3.OPEN_READONLY : sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE;
  const raw = await new Promise<sqlite3.Database>((resolve, reject) => {
    const db: sqlite3.Database = new sqlite3.Database(path, mode, (err) => (err ? reject(err) : resolve(db)));
  });
  const db = new Connection(path, raw);
  try {
    raw.configure('busyTimeout', options.busyTimeoutMs ?? 2000);
    // An in-memory or read-only database can't switch to WAL; SQLite just keeps its mode.
    if (!options.readOnly) await db.exec('PRAGMA journal_mode = WAL');
    await db.exec('PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON');
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
  return db;
}
