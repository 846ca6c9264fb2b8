// A real PostgreSQL (Debian's postgresql: a throwaway initdb cluster started here on an
// ephemeral port) behind faultline, driven by pg's Pool under latency, reset_peer, timeout, a
// partition, half_open and limit_data. Each test asserts what the client does: its timeouts
// fire, the pool recovers once the fault is removed, a transaction is all or nothing, and no
// result is ever partial or wrong. Without PostgreSQL the tests are reported as skipped, with
// a NOTE saying why.

import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { startFaultline, type FaultlineClient, type ProxyHandle } from '../src/index.js';
import { postgresAvailable, startPostgres, type Service } from './_helpers/databases.js';
import { sleep } from './_helpers/net.js';

const available = postgresAvailable();
if (!available.ok) console.log(`NOTE: skipping the PostgreSQL interop tests: ${available.reason}`);
const it = available.ok ? test : test.skip;

const ROWS = 200;
/** ~100 bytes a row, so a result spans many reads. */
const body = (id: number) => createHash('sha512').update(`row ${id}`).digest('base64');
const EXPECTED = {
  n: ROWS,
  digest: createHash('md5').update(Array.from({ length: ROWS }, (_, i) => body(i + 1)).join(',')).digest('hex'),
};
const CHECKSUM = "SELECT count(*)::int AS n, md5(string_agg(body, ',' ORDER BY id)) AS digest FROM items";

let server: (Service & { user: string; database: string }) | undefined;
let faultline: FaultlineClient | undefined;
let proxy: ProxyHandle;
/** Straight to PostgreSQL, not through faultline: what the server itself has and sees. */
let admin: pg.Client | undefined;

if (available.ok) {
  test.before(async () => {
    server = await startPostgres();
    faultline = await startFaultline();
    proxy = await faultline.proxy({ name: 'postgres', upstream: server.address });
    admin = new pg.Client({ host: '127.0.0.1', port: server.port, user: server.user, database: server.database });
    await admin.connect();
    await admin.query('CREATE TABLE items (id int PRIMARY KEY, body text NOT NULL)');
    await admin.query('INSERT INTO items SELECT i, ($1::text[])[i] FROM generate_series(1, $2::int) AS i', [
      Array.from({ length: ROWS }, (_, i) => body(i + 1)), ROWS,
    ]);
    await admin.query('CREATE TABLE writes (tag text PRIMARY KEY)');
  });
  test.before.each(() => faultline!.reset());
  test.after.each(async () => {
    for (const pool of pools.splice(0)) {
      // A pool whose sockets a fault left hanging must not hold the run: its end is not awaited
      // past a few seconds (reset() has removed the fault, so the sockets are closing anyway).
      await Promise.race([pool.end().catch(() => {}), new Promise((r) => setTimeout(r, 3000).unref())]);
    }
  });
  test.after(async () => {
    await admin?.end();
    await faultline?.close();
    await server?.close();
  });
}

const pools: pg.Pool[] = [];

/** A pool through the proxy; idle-client errors are collected (a pool without a listener
 *  would throw them). */
function poolThrough(options: pg.PoolConfig = {}): { pool: pg.Pool; errors: Error[] } {
  const errors: Error[] = [];
  const pool = new pg.Pool({
    host: proxy.host, port: proxy.port, user: server!.user, database: server!.database,
    max: 3, connectionTimeoutMillis: 3000, application_name: 'victim', ...options,
  });
  pool.on('error', (err) => errors.push(err));
  pools.push(pool);
  return { pool, errors };
}

async function checksum(queryable: pg.Pool | pg.PoolClient): Promise<typeof EXPECTED> {
  const { rows } = await queryable.query<{ n: number; digest: string }>(CHECKSUM);
  return { n: rows[0]!.n, digest: rows[0]!.digest };
}

/** A query with pg's client-side `query_timeout` (missing from @types/pg's QueryConfig). */
function timed(pool: pg.Pool, text: string, ms: number): Promise<pg.QueryResult> {
  return pool.query({ text, query_timeout: ms } as pg.QueryConfig);
}

/** A client checked out of the pool; a checked-out client's socket errors are the caller's to
 *  handle, and they arrive as rejected queries, so the event itself is only noted. */
async function checkOut(pool: pg.Pool): Promise<pg.PoolClient> {
  const client = await pool.connect();
  client.on('error', () => {});
  return client;
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  const outcome = await promise.then((value) => ({ value }), (err: Error) => ({ err }));
  if ('err' in outcome) return outcome.err;
  throw new Error(`expected the query to fail, got ${JSON.stringify(outcome.value)?.slice(0, 80)}`);
}

async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (await check()) return true;
  return check();
}

/** Server backends of the pool's connections, as PostgreSQL counts them. */
async function victims(): Promise<number> {
  const { rows } = await admin!.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'victim'");
  return rows[0]!.n;
}

it('latency: query_timeout fires under a longer delay; the pool then serves correct results', async () => {
  const { pool } = poolThrough();
  assert.equal(await checksum(pool), EXPECTED);
  const latency = await proxy.latency({ latency: 1500 });
  const err = await rejection(timed(pool, CHECKSUM, 400));
  assert.match(err.message, /Query read timeout/);
  await faultline!.events.waitFor({ proxy, type: 'latency', action: 'delayed' });
  await latency.remove();
  for (let i = 0; i < 4; i++) assert.equal(await checksum(pool), EXPECTED);
});

it('reset_peer on a transaction: cut before COMMIT arrives nothing is written; cut after, it is committed though the client saw an error', async () => {
  const { pool } = poolThrough();
  for (const [stream, tag, committed] of [['upstream', 'before-commit', 0], ['downstream', 'after-commit', 1]] as const) {
    const client = await checkOut(pool);
    await client.query('BEGIN');
    await client.query('INSERT INTO writes VALUES ($1)', [tag]);
    const toxic = await proxy.resetPeer({ stream });
    const err = await rejection(client.query('COMMIT'));
    assert.match(`${err.code} ${err.message}`, /ECONNRESET|Connection terminated unexpectedly/, `${stream}: ${err.message}`);
    client.release(err);
    await faultline!.events.waitFor({ proxy, stream, action: 'reset' });
    await toxic.remove();
    // Once the server has ended the broken session, its transaction is settled either way.
    assert.ok(await eventually(async () => (await victims()) === 0), 'the backend ended');
    const { rows } = await admin!.query<{ n: number }>('SELECT count(*)::int AS n FROM writes WHERE tag = $1', [tag]);
    assert.is(rows[0]!.n, committed, `${stream}: rows tagged ${tag}`);
  }
  assert.equal(await checksum(pool), EXPECTED, 'the pool recovers');
});

it('timeout: a new connection goes unanswered and connectionTimeoutMillis fires; the pool connects once the toxic goes', async () => {
  const { pool } = poolThrough();
  const toxic = await proxy.timeout({ stream: 'upstream', timeout: 0 });
  const err = await rejection(pool.query(CHECKSUM));
  assert.match(err.message, /timeout/i);
  await faultline!.events.waitFor({ proxy, type: 'timeout', stream: 'upstream', action: 'dropped' });
  await toxic.remove();
  assert.equal(await checksum(pool), EXPECTED);
});

it('partition: a query in flight stalls, then completes correctly when it heals; new connections wait and time out meanwhile', async () => {
  const { pool } = poolThrough();
  const client = await checkOut(pool);
  try {
    assert.equal(await checksum(client), EXPECTED);
    const up = await proxy.partition({ stream: 'upstream', name: 'cut_up' });
    const down = await proxy.partition({ stream: 'downstream', name: 'cut_down' });
    const inflight = checksum(client);
    inflight.catch(() => {});
    assert.is(await Promise.race([inflight.then(() => 'answered'), sleep(800).then(() => 'stalled')]), 'stalled');
    // Both directions cut: a new connection is accepted but not forwarded, so pg gives up on it.
    assert.match((await rejection(pool.connect())).message, /timeout/i);
    await faultline!.events.waitFor({ proxy, type: 'partition', action: 'held', detail: { connection: true } });
    await up.remove();
    await down.remove();
    assert.equal(await inflight, EXPECTED, 'the stalled query completes, whole');
  } finally {
    client.release();
  }
  assert.equal(await checksum(pool), EXPECTED);
});

it('half_open: PostgreSQL sees its client go while the client hears nothing; query_timeout fires; the pool recovers after removal', async () => {
  const { pool } = poolThrough({ max: 1 });
  assert.equal(await checksum(pool), EXPECTED);
  assert.is(await victims(), 1);
  const toxic = await proxy.halfOpen();
  await faultline!.events.waitFor({ proxy, type: 'half_open', action: 'closed' });
  assert.ok(await eventually(async () => (await victims()) === 0), 'the backend ended when its client vanished');
  assert.match((await rejection(timed(pool, CHECKSUM, 500))).message, /Query read timeout/);
  await toxic.remove();
  assert.equal(await checksum(pool), EXPECTED);
  assert.is(await victims(), 1);
});

it('limit_data: a result cut short is an error, never a partial result; the pool recovers', async () => {
  const { pool } = poolThrough();
  assert.equal(await checksum(pool), EXPECTED);
  const toxic = await proxy.limitData({ bytes: 2000 });
  const err = await rejection(pool.query('SELECT id, body FROM items ORDER BY id'));
  assert.match(err.message, /Connection terminated unexpectedly|ECONNRESET/);
  await faultline!.events.waitFor({ proxy, type: 'limit_data', action: 'closed' });
  await toxic.remove();
  const { rows } = await pool.query<{ id: number; body: string }>('SELECT id, body FROM items ORDER BY id');
  assert.is(rows.length, ROWS);
  assert.ok(rows.every((r, i) => r.id === i + 1 && r.body === body(i + 1)), 'every row intact');
});

test.run();
