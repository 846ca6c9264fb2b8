// The event writer: add() is cheap and never touches the disk, events land in batches (few
// transactions) within ~100 ms, retention keeps the newest `retain`, the pending buffer drops
// its oldest when full, and a database that refuses writes is counted, reported once per
// streak and written again as soon as it accepts. The refusals are real SQLite errors that
// hold even as root (where chmod stops nothing): PRAGMA query_only (SQLITE_READONLY),
// PRAGMA max_page_count (SQLITE_FULL, a full disk) and another connection's write lock
// (SQLITE_BUSY, a locked file).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lag } from './_helpers/lag.js';
import { openDb, type SqliteError } from '../src/store/db.js';
import { EventWriter } from '../src/store/event-writer.js';
import { countingDb, countRows, fault, median, sleep, waitUntil, withDb } from './_helpers/store.js';

test('add is synchronous and never waits for the disk: 100k adds, nothing written until later', async () => {
  await withDb(async ({ db }) => {
    const writer = new EventWriter(db);
    const events = Array.from({ length: 100_000 }, (_, i) => fault(i));
    const start = performance.now();
    for (const event of events) writer.add(event);
    const elapsed = performance.now() - start;
    // Speed is the benchmark's business; this bound only catches work that grows with the
    // backlog (a copy or a scan per add), which would take seconds here even on an idle machine.
    assert.ok(elapsed < 1500 + lag.worst(), `100k adds took ${elapsed.toFixed(1)} ms (timer lag ${lag.worst()} ms)`);
    assert.equal(writer.stats(), { written: 0, pending: 100_000, dropped: 0, failures: 0, lastError: null });
    await writer.close();
    assert.is(await countRows(db), 100_000);
    assert.is(writer.stats().written, 100_000);
  });
});

test('events are written in batches: many adds, few transactions', async () => {
  await withDb(async ({ db: raw }) => {
    const { db, transactions } = countingDb(raw);
    const writer = new EventWriter(db, { batchSize: 1000 });
    for (let i = 0; i < 300; i++) writer.add(fault(i));
    await waitUntil(async () => (await countRows(raw)) === 300);
    assert.is(transactions(), 1, '300 adds in one tick are one transaction');
    for (let i = 300; i < 5300; i++) writer.add(fault(i));
    await writer.flush();
    assert.is(await countRows(raw), 5300);
    assert.is(transactions(), 6, '5000 more at batchSize 1000 are five more');
    // The rows are the events, in order, with their detail as JSON.
    const last = await raw.get('SELECT seq, id, ts, kind, proxy, conn, type, stream, action, detail FROM events ORDER BY seq DESC LIMIT 1');
    const e = fault(5299);
    assert.equal(last, {
      seq: 5300, id: e.id, ts: e.ts, kind: e.kind, proxy: e.proxy, conn: e.conn, type: e.type,
      stream: e.stream, action: e.action, detail: '{"n":5299}',
    });
    await writer.close();
  });
});

test('a full batch is written at once, without waiting for the timer; the rest waits for it', async () => {
  await withDb(async ({ db }) => {
    const writer = new EventWriter(db, { batchSize: 100, flushMs: 10_000 });
    for (let i = 0; i < 250; i++) writer.add(fault(i));
    // flushMs is 10 s: the two full batches on disk well before that means neither waited.
    await waitUntil(() => writer.stats().written === 200, 2000);
    // The last 50 are not a full batch: they wait for the timer (or a flush, or close).
    await sleep(100);
    assert.equal([writer.stats().written, writer.stats().pending], [200, 50]);
    await writer.flush();
    assert.is(await countRows(db), 250);
    await writer.close();
  });
});

test('a steady stream is written a batch per flush interval, not a transaction per few events', async () => {
  await withDb(async ({ db: raw }) => {
    const { db, transactions } = countingDb(raw);
    const writer = new EventWriter(db, { flushMs: 50 });
    // One event a millisecond for about 500 ms, as connections opening and closing at 1,000/s
    // make. Writing whatever arrived during the last write, back to back, made a transaction
    // every few milliseconds here; a late timer only makes fewer, larger ones.
    const start = performance.now();
    let n = 0;
    while (performance.now() - start < 500) {
      writer.add(fault(n++));
      await sleep(1);
    }
    const elapsed = performance.now() - start;
    await writer.flush();
    assert.is(await countRows(raw), n);
    const most = Math.ceil(elapsed / 50) + 2;
    assert.ok(transactions() <= most, `${transactions()} transactions for ${n} events over ${elapsed.toFixed(0)} ms (at most ${most})`);
    await writer.close();
  });
});

test('events reach the disk within ~100 ms (flushMs 50), seen by another connection', async () => {
  await withDb(async ({ db, file }) => {
    const reader = await openDb(file);
    const writer = new EventWriter(db);
    try {
      const delays: number[] = [];
      for (let round = 0; round < 7; round++) {
        writer.add(fault(round));
        delays.push(await waitUntil(async () => (await countRows(reader)) === round + 1, 2000, 2));
      }
      const mid = median(delays);
      assert.ok(mid >= 40 && mid < 100, `median time to disk ${mid.toFixed(1)} ms (all: ${delays.map((d) => d.toFixed(0)).join(', ')})`);
      assert.ok(Math.max(...delays) < 300, `slowest ${Math.max(...delays).toFixed(1)} ms`);
    } finally {
      await writer.close();
      await reader.close();
    }
  });
});

test('retention keeps the newest `retain` events', async () => {
  await withDb(async ({ db }) => {
    const writer = new EventWriter(db, { retain: 100, batchSize: 30 });
    for (let i = 0; i < 250; i++) writer.add(fault(i));
    await writer.flush();
    assert.equal(await db.get('SELECT COUNT(*) AS n, MIN(seq) AS lo, MAX(seq) AS hi FROM events'), { n: 100, lo: 151, hi: 250 });
    assert.equal(await db.get('SELECT MIN(id) AS first FROM events WHERE seq = 151'), { first: 'ev-150' });
    // Pruned numbers are never reused, so seq keeps growing.
    writer.add(fault(250));
    await writer.flush();
    assert.equal(await db.get('SELECT COUNT(*) AS n, MIN(seq) AS lo, MAX(seq) AS hi FROM events'), { n: 100, lo: 152, hi: 251 });
    assert.is(writer.stats().written, 251);
    await writer.close();
  });
});

test('the pending buffer is bounded: the oldest are dropped and counted', async () => {
  await withDb(async ({ db }) => {
    const writer = new EventWriter(db, { maxPending: 10 });
    for (let i = 0; i < 25; i++) writer.add(fault(i));
    assert.equal(writer.stats(), { written: 0, pending: 10, dropped: 15, failures: 0, lastError: null });
    await writer.flush();
    const ids = (await db.all<{ id: string }>('SELECT id FROM events ORDER BY seq')).map((r) => r.id);
    assert.equal(ids, Array.from({ length: 10 }, (_, i) => `ev-${15 + i}`));
    assert.equal(writer.stats(), { written: 10, pending: 0, dropped: 15, failures: 0, lastError: null });
    await writer.close();
  });
});

test('a read-only database: failures counted, onError once per streak, writing resumes', async () => {
  await withDb(async ({ db }) => {
    const errors: SqliteError[] = [];
    let recoveries = 0;
    const writer = new EventWriter(db, { flushMs: 5, retryMs: 10, maxRetryMs: 20, onError: (e) => errors.push(e), onRecover: () => recoveries++ });
    await db.exec('PRAGMA query_only = ON');
    for (let i = 0; i < 40; i++) writer.add(fault(i));
    await waitUntil(() => writer.stats().failures >= 4, 3000);
    assert.is(errors.length, 1, 'one report for the whole streak');
    assert.is(errors[0]!.code, 'SQLITE_READONLY');
    let stats = writer.stats();
    assert.equal([stats.written, stats.pending, stats.dropped], [0, 40, 0]);
    assert.match(stats.lastError ?? '', 'SQLITE_READONLY');
    // add stays cheap and keeps queueing while the disk refuses.
    for (let i = 40; i < 50; i++) writer.add(fault(i));
    const flushed = await writer.flush().then(() => null, (e: SqliteError) => e);
    assert.is(flushed?.code, 'SQLITE_READONLY', 'flush() says the events are still pending');

    await db.exec('PRAGMA query_only = OFF');
    await waitUntil(() => writer.stats().written === 50, 3000);
    stats = writer.stats();
    assert.equal([stats.pending, stats.dropped, stats.lastError, recoveries], [0, 0, null, 1]);
    assert.ok(stats.failures >= 5, `failures ${stats.failures}`);
    assert.is(await countRows(db), 50);

    // A new streak is reported again, once.
    await db.exec('PRAGMA query_only = ON');
    writer.add(fault(50));
    await waitUntil(() => writer.stats().failures >= stats.failures + 2, 3000);
    assert.is(errors.length, 2);
    await db.exec('PRAGMA query_only = OFF');
    await writer.flush();
    assert.is(await countRows(db), 51);
    await writer.close();
  });
});

test('a full disk (max_page_count): SQLITE_FULL, nothing lost within the bound, resumes when space returns', async () => {
  await withDb(async ({ db }) => {
    const errors: SqliteError[] = [];
    const writer = new EventWriter(db, { flushMs: 5, retryMs: 10, maxRetryMs: 20, onError: (e) => errors.push(e) });
    const { page_count: pages } = (await db.get<{ page_count: number }>('PRAGMA page_count'))!;
    await db.exec(`PRAGMA max_page_count = ${pages}`);
    const big = 'x'.repeat(4000); // each row needs a page of its own: the file must grow
    for (let i = 0; i < 20; i++) writer.add(fault(i, { detail: { big } }));
    await waitUntil(() => writer.stats().failures >= 3, 3000);
    assert.equal(errors.map((e) => e.code), ['SQLITE_FULL']);
    assert.is(await countRows(db), 0, 'the failed batch was rolled back whole');
    assert.is(writer.stats().pending, 20);
    await db.exec('PRAGMA max_page_count = 1073741823');
    await waitUntil(() => writer.stats().written === 20, 3000);
    assert.is(await countRows(db), 20);
    await writer.close();
  });
});

test('a locked file (another connection holds the write lock): SQLITE_BUSY, resumes after release', async () => {
  await withDb(async ({ file }) => {
    const db = await openDb(file, { busyTimeoutMs: 20 });
    const locker = await openDb(file);
    const errors: SqliteError[] = [];
    const writer = new EventWriter(db, { flushMs: 5, retryMs: 10, maxRetryMs: 20, onError: (e) => errors.push(e) });
    try {
      await locker.exec('BEGIN IMMEDIATE');
      for (let i = 0; i < 10; i++) writer.add(fault(i));
      await waitUntil(() => writer.stats().failures >= 2, 3000);
      assert.equal(errors.map((e) => e.code), ['SQLITE_BUSY']);
      await locker.exec('COMMIT');
      await waitUntil(() => writer.stats().written === 10, 3000);
      assert.is(await countRows(locker), 10);
    } finally {
      await writer.close();
      await db.close();
      await locker.close();
    }
  });
});

test('close flushes, stops the timer, and drops later adds', async () => {
  await withDb(async ({ db }) => {
    const writer = new EventWriter(db, { flushMs: 60_000 });
    for (let i = 0; i < 5; i++) writer.add(fault(i));
    await writer.close();
    assert.is(await countRows(db), 5);
    writer.add(fault(5));
    await sleep(20);
    assert.equal(writer.stats(), { written: 5, pending: 0, dropped: 1, failures: 0, lastError: null });
    assert.is(await countRows(db), 5);
  });
});

test('options are validated', () => {
  for (const bad of [{ flushMs: 0 }, { retain: -1 }, { maxPending: 1.5 }, { batchSize: Number.NaN }]) {
    assert.throws(() => new EventWriter({} as never, bad), /must be a positive integer/);
  }
});

test.run();
