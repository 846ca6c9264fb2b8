// The SQLite connection and the schema: pragmas, migrations tracked by user_version (and never
// applied twice), transactions that commit, roll back and don't swallow concurrent writes, and
// errors that keep SQLite's code.

import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openDb, type SqliteError } from '../src/store/db.js';
import { migrate, MIGRATIONS, openStore, SCHEMA_VERSION, userVersion } from '../src/store/migrations.js';
import { sleep, withDb, withTempDir } from './_helpers/store.js';

test('openDb: WAL, synchronous NORMAL, foreign keys on, busy timeout set', async () => {
  await withDb(async ({ db }) => {
    assert.equal(await db.get('PRAGMA journal_mode'), { journal_mode: 'wal' });
    assert.equal(await db.get('PRAGMA synchronous'), { synchronous: 1 }); // 1 = NORMAL
    assert.equal(await db.get('PRAGMA foreign_keys'), { foreign_keys: 1 });
    assert.equal(await db.get('PRAGMA busy_timeout'), { timeout: 2000 });
  });
  await withDb(async ({ db }) => {
    assert.equal(await db.get('PRAGMA busy_timeout'), { timeout: 75 });
  }, { busyTimeoutMs: 75 });
});

test('migrations create every table, column and index, and set user_version', async () => {
  await withDb(async ({ db }) => {
    assert.is(SCHEMA_VERSION, MIGRATIONS.length);
    assert.is(await userVersion(db), SCHEMA_VERSION);
    const columns = async (table: string) => (await db.all<{ name: string }>(`PRAGMA table_info(${table})`)).map((c) => c.name);
    assert.equal(await columns('proxies'), ['name', 'protocol', 'listen', 'upstream', 'enabled', 'idle_timeout', 'body', 'updated_at']);
    assert.equal(await columns('toxics'), ['proxy', 'name', 'position', 'body', 'expires_at']);
    assert.equal(await columns('events'), [
      'seq', 'id', 'ts', 'kind', 'proxy', 'protocol', 'conn', 'client', 'toxic', 'type', 'stream', 'action', 'detail',
    ]);
    const indexes = await db.all<{ name: string; tbl_name: string }>(
      "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name");
    assert.equal(indexes, [
      { name: 'events_action', tbl_name: 'events' },
      { name: 'events_conn', tbl_name: 'events' },
      { name: 'events_proxy_seq', tbl_name: 'events' },
      { name: 'events_ts', tbl_name: 'events' },
    ]);
    const fks = await db.all<{ table: string; on_delete: string }>('PRAGMA foreign_key_list(toxics)');
    assert.equal(fks.map((f) => [f.table, f.on_delete]), [['proxies', 'CASCADE']]);
  });
});

test('reopening an existing file applies nothing twice and keeps the data', async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, 'state.db');
    const first = await openDb(file);
    assert.is(await migrate(first), SCHEMA_VERSION);
    await first.run("INSERT INTO events (id, ts, kind) VALUES ('a', 1, 'conn:opened')");
    await first.close();

    const second = await openDb(file);
    try {
      assert.is(await migrate(second), 0, 'no step runs again');
      assert.is(await migrate(second), 0);
      assert.is(await userVersion(second), SCHEMA_VERSION);
      assert.equal(await second.all('SELECT id, ts, kind FROM events'), [{ id: 'a', ts: 1, kind: 'conn:opened' }]);
    } finally {
      await second.close();
    }
    const third = await openStore(file);
    assert.is(await userVersion(third), SCHEMA_VERSION);
    await third.close();
  });
});

test('a database from a newer schema is refused, not written', async () => {
  await withDb(async ({ db }) => {
    await db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    try {
      await migrate(db);
      assert.unreachable('migrate should refuse a newer schema');
    } catch (err) {
      assert.match((err as Error).message, `has schema version ${SCHEMA_VERSION + 1}; this faultline knows only up to ${SCHEMA_VERSION}`);
    }
  });
});

test(':memory: opens, migrates and keeps nothing between opens', async () => {
  const a = await openStore(':memory:');
  await a.run("INSERT INTO events (id, ts, kind) VALUES ('x', 1, 'k')");
  assert.equal(await a.get('SELECT COUNT(*) AS n FROM events'), { n: 1 });
  await a.close();
  const b = await openStore(':memory:');
  assert.equal(await b.get('SELECT COUNT(*) AS n FROM events'), { n: 0 });
  await b.close();
});

test('run reports changes and lastID; get returns undefined for no row', async () => {
  await withDb(async ({ db }) => {
    const r1 = await db.run("INSERT INTO events (id, ts, kind) VALUES ('a', 1, 'k'), ('b', 2, 'k')");
    assert.equal(r1, { changes: 2, lastID: 2 });
    const r2 = await db.run('UPDATE events SET kind = ? WHERE ts >= ?', ['z', 1]);
    assert.is(r2.changes, 2);
    assert.is(await db.get('SELECT * FROM events WHERE id = ?', ['nope']), undefined);
    assert.equal(await db.all('SELECT id FROM events WHERE id = $id', { $id: 'b' }), [{ id: 'b' }]);
  });
});

test('transaction commits, rolls back on error, and does not swallow a concurrent write', async () => {
  await withDb(async ({ db }) => {
    const value = await db.transaction(async (tx) => {
      await tx.run("INSERT INTO events (id, ts, kind) VALUES ('kept', 1, 'k')");
      return 42;
    });
    assert.is(value, 42);

    // While this transaction sleeps, a plain write is issued; it must wait for the rollback
    // instead of joining the transaction and vanishing with it.
    const failing = db.transaction(async (tx) => {
      await tx.run("INSERT INTO events (id, ts, kind) VALUES ('rolled-back', 2, 'k')");
      await sleep(30);
      throw new Error('boom');
    });
    const outside = db.run("INSERT INTO events (id, ts, kind) VALUES ('outside', 3, 'k')");
    try {
      await failing;
      assert.unreachable('the transaction should reject');
    } catch (err) {
      assert.is((err as Error).message, 'boom');
    }
    await outside;
    const ids = (await db.all<{ id: string }>('SELECT id FROM events ORDER BY seq')).map((r) => r.id);
    assert.equal(ids, ['kept', 'outside']);
    // The connection is usable: no transaction was left open.
    await db.transaction(async (tx) => { await tx.run("INSERT INTO events (id, ts, kind) VALUES ('after', 4, 'k')"); });
    assert.equal(await db.get('SELECT COUNT(*) AS n FROM events'), { n: 3 });
  });
});

test("errors keep SQLite's code: CONSTRAINT, READONLY, BUSY", async () => {
  await withDb(async ({ db, file }) => {
    await db.run("INSERT INTO proxies (name, listen, upstream, enabled, body, updated_at) VALUES ('p', 'l', 'u', 1, '{}', 0)");
    const codeOf = async (p: Promise<unknown>) => p.then(() => 'no error', (err: SqliteError) => err.code);
    assert.is(await codeOf(db.run("INSERT INTO proxies (name, listen, upstream, enabled, body, updated_at) VALUES ('p', 'l', 'u', 1, '{}', 0)")), 'SQLITE_CONSTRAINT');
    assert.is(await codeOf(db.run("INSERT INTO toxics (proxy, name, position, body) VALUES ('missing', 't', 0, '{}')")), 'SQLITE_CONSTRAINT');

    const reader = await openDb(file, { readOnly: true });
    try {
      assert.is(await codeOf(reader.run("INSERT INTO events (id, ts, kind) VALUES ('x', 1, 'k')")), 'SQLITE_READONLY');
    } finally {
      await reader.close();
    }

    // Another connection holds the write lock: after its busy timeout, BEGIN IMMEDIATE gives up.
    const other = await openDb(file, { busyTimeoutMs: 30 });
    try {
      await other.exec('BEGIN IMMEDIATE');
      const blocked = await openDb(file, { busyTimeoutMs: 30 });
      try {
        assert.is(await codeOf(blocked.transaction(async (tx) => tx.run("INSERT INTO events (id, ts, kind) VALUES ('x', 1, 'k')"))), 'SQLITE_BUSY');
      } finally {
        await blocked.close();
      }
    } finally {
      await other.exec('ROLLBACK');
      await other.close();
    }
  });
});

test.run();
