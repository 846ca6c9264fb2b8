// The schema, as an append-only list of steps. PRAGMA user_version records how many have run,
// so a database created by any earlier release is brought forward by running the rest, and
// nothing runs twice. Never edit or reorder a released step: add a new one.

import { openDb, type Db, type OpenOptions } from './db.js';

export const MIGRATIONS: readonly string[] = [
  // 1: configured state, and the event log.
  `
  CREATE TABLE proxies (
    name         TEXT PRIMARY KEY,
    protocol     TEXT NOT NULL DEFAULT 'tcp',
    listen       TEXT NOT NULL,
    upstream     TEXT NOT NULL,
    enabled      INTEGER NOT NULL,
    idle_timeout INTEGER,
    body         TEXT NOT NULL,  -- the proxy JSON as the API shows it, without toxics
    updated_at   INTEGER NOT NULL -- epoch ms
  );

  CREATE TABLE toxics (
    proxy      TEXT NOT NULL REFERENCES proxies(name) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    position   INTEGER NOT NULL, -- insertion order, kept when the toxic is updated
    body       TEXT NOT NULL,    -- toxic JSON: attributes, name, type, stream as sent, toxicity
    expires_at INTEGER,          -- epoch ms, or NULL for no ttl
    PRIMARY KEY (proxy, name)
  );

  -- seq is AUTOINCREMENT so it never reuses the numbers of pruned rows: cursors and
  -- retention both rely on it only ever growing.
  CREATE TABLE events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    id       TEXT NOT NULL,
    ts       INTEGER NOT NULL, -- epoch ms
    kind     TEXT NOT NULL,    -- 'fault:injected', 'conn:closed', 'toxic:added', ...
    proxy    TEXT,
    protocol TEXT,
    conn     TEXT,
    client   TEXT,
    toxic    TEXT,
    type     TEXT,             -- the toxic type
    stream   TEXT,
    action   TEXT,
    detail   TEXT              -- JSON object
  );
  CREATE INDEX events_ts ON events (ts);
  CREATE INDEX events_proxy_seq ON events (proxy, seq);
  CREATE INDEX events_conn ON events (conn);
  CREATE INDEX events_action ON events (action);
  `,
  // 2: game-day runs started on the server (POST /scenarios/runs). `record` is the whole run
  // record as GET /scenarios/runs/{id} serves it; the other columns are for listing.
  `
  CREATE TABLE scenario_runs (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    scenario    TEXT NOT NULL,    -- the scenario file's text as submitted
    status      TEXT NOT NULL,    -- 'running', 'held', 'deviated', 'halted', 'error', 'aborted', 'not_started'
    exit_code   INTEGER,          -- NULL while running
    reason      TEXT NOT NULL,
    started_at  INTEGER NOT NULL, -- epoch ms
    ended_at    INTEGER,          -- epoch ms, NULL while running
    duration_ms INTEGER NOT NULL, -- the scenario's planned duration
    record      TEXT NOT NULL     -- JSON
  );
  `,
  // 3: chaos sessions (POST /sessions): the control actions taken while one recorded. `record`
  // is the whole session as GET /sessions/{id} serves it; the other columns are for listing.
  `
  CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    status       TEXT NOT NULL,    -- 'recording' or 'ended'
    reason       TEXT NOT NULL,    -- why it ended; '' while recording
    started_at   INTEGER NOT NULL, -- epoch ms
    ended_at     INTEGER,          -- epoch ms, NULL while recording
    action_count INTEGER NOT NULL,
    fault_count  INTEGER NOT NULL,
    proxies      TEXT NOT NULL,    -- JSON array: the proxies its control actions touched
    record       TEXT NOT NULL     -- JSON
  );
  `,
];

/** The schema version this build writes: the number of steps. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Applies the steps the database has not seen, each in its own transaction together with its
 * user_version bump, so a crash leaves the database at a whole step. Returns how many ran.
 * A database from a NEWER build is refused rather than written with an older schema.
 */
export async function migrate(db: Db): Promise<number> {
  const version = await userVersion(db);
  if (version > MIGRATIONS.length) {
    throw new Error(`database ${db.path} has schema version ${version}; this faultline knows only up to ${MIGRATIONS.length}`);
  }
  for (let step = version; step < MIGRATIONS.length; step++) {
    await db.transaction(async (tx) => {
      await tx.exec(MIGRATIONS[step]!);
      // PRAGMA takes no bound parameters; `step` is our own integer.
      await tx.exec(`PRAGMA user_version = ${step + 1}`);
    });
  }
  return MIGRATIONS.length - version;
}

export async function userVersion(db: Db): Promise<number> {
  const row = await db.get<{ user_version: number }>('PRAGMA user_version');
  return row?.user_version ?? 0;
}

/** openDb and migrate: what the server calls at start. */
export async function openStore(path: string, options: OpenOptions = {}): Promise<Db> {
  const db = await openDb(path, options);
  try {
    await migrate(db);
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
  return db;
}
