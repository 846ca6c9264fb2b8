// Reading the event log: each filter alone and combined, limit bounds, newest first, cursor
// paging that stays exact while new events arrive, since/until as ISO 8601 or epoch ms, ndjson
// export past one page, and the query-string validation the API turns into 400s.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Db } from '../src/store/db.js';
import { eventsNdjson, parseEventFilter, queryEvents, streamEvents, type EventFilter } from '../src/store/event-query.js';
import { EventWriter } from '../src/store/event-writer.js';
import type { StoredEvent } from '../src/store/stored-event.js';
import { BASE_TS, fault, withDb } from './_helpers/store.js';

async function seeded(n: number, fn: (db: Db, events: StoredEvent[], writer: EventWriter) => Promise<void>): Promise<void> {
  await withDb(async ({ db }) => {
    const writer = new EventWriter(db);
    const events = Array.from({ length: n }, (_, i) => fault(i));
    for (const e of events) writer.add(e);
    await writer.flush();
    try {
      await fn(db, events, writer);
    } finally {
      await writer.close();
    }
  });
}

/** The ids the filter should match, newest first, computed from the seeded events. */
function expected(events: StoredEvent[], f: EventFilter): string[] {
  return events.filter((e) =>
    (f.proxy === undefined || e.proxy === f.proxy) && (f.conn === undefined || e.conn === f.conn) &&
    (f.type === undefined || e.type === f.type) && (f.action === undefined || e.action === f.action) &&
    (f.kind === undefined || e.kind === f.kind) && (f.toxic === undefined || e.toxic === f.toxic) &&
    (f.since === undefined || e.ts >= f.since) && (f.until === undefined || e.ts < f.until))
    .map((e) => e.id).reverse();
}

const ids = (events: StoredEvent[]) => events.map((e) => e.id);

test('no filter: newest first, default limit 100, events come back as stored', async () => {
  await seeded(150, async (db) => {
    const page = await queryEvents(db);
    assert.is(page.events.length, 100);
    assert.equal(page.events.map((e) => e.seq), Array.from({ length: 100 }, (_, i) => 150 - i));
    assert.equal(page.events[0], { seq: 150, ...fault(149) });
    assert.type(page.next, 'string');
  });
});

test('each filter alone, and combined, returns exactly the matching events', async () => {
  await seeded(300, async (db, events) => {
    const filters: EventFilter[] = [
      { proxy: 'db' }, { conn: 'c3' }, { type: 'timeout' }, { action: 'reset' }, { kind: 'conn:closed' }, { toxic: 't2' },
      { since: BASE_TS + 250_000 }, { until: BASE_TS + 20_000 },
      { proxy: 'api', action: 'dropped' }, { proxy: 'cache', conn: 'c5', type: 'reset_peer' },
      { action: 'delayed', since: BASE_TS + 100_000, until: BASE_TS + 200_000 },
      { proxy: 'nope' }, { proxy: 'api', type: 'timeout' },
    ];
    for (const filter of filters) {
      const want = expected(events, filter);
      const page = await queryEvents(db, { ...filter, limit: 10_000 });
      assert.equal(ids(page.events), want, JSON.stringify(filter));
      assert.is(page.next, null);
      if (!('proxy' in filter && filter.proxy === 'nope') && !(filter.proxy === 'api' && filter.type === 'timeout')) {
        assert.ok(want.length > 0 && want.length < 300, `${JSON.stringify(filter)} should select some, not all (${want.length})`);
      }
    }
  });
});

test('limit bounds: 1 and 10,000 work; 0, 10,001 and fractions are refused', async () => {
  await seeded(20, async (db) => {
    assert.equal(ids((await queryEvents(db, { limit: 1 })).events), ['ev-19']);
    assert.is((await queryEvents(db, { limit: 10_000 })).events.length, 20);
    for (const limit of [0, 10_001, 2.5, -1]) {
      try {
        await queryEvents(db, { limit });
        assert.unreachable(`limit ${limit} accepted`);
      } catch (err) {
        assert.is((err as Error).message, 'limit must be an integer from 1 to 10000');
      }
    }
  });
});

test('cursor paging: no duplicates, no gaps, while new events are inserted between pages', async () => {
  await seeded(230, async (db, events, writer) => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    let extra = 1000;
    do {
      const page: { events: StoredEvent[]; next: string | null } = await queryEvents(db, { limit: 40, ...(cursor ? { cursor } : {}) });
      seen.push(...ids(page.events));
      cursor = page.next ?? undefined;
      pages++;
      // New events land above everything already paged: later pages must not see them.
      for (let i = 0; i < 15; i++) writer.add(fault(extra++));
      await writer.flush();
    } while (cursor !== undefined && pages < 20);
    assert.is(pages, 6, '230 events in pages of 40');
    assert.equal(seen, ids(events).reverse());
    // A filtered walk pages the same way.
    const apiIds: string[] = [];
    let next: string | null = null;
    do {
      const page: { events: StoredEvent[]; next: string | null } = await queryEvents(db, { proxy: 'api', limit: 7, ...(next ? { cursor: next } : {}) });
      apiIds.push(...ids(page.events));
      next = page.next;
    } while (next !== null);
    assert.equal(apiIds, [...expected([...events, ...Array.from({ length: extra - 1000 }, (_, i) => fault(1000 + i))], { proxy: 'api' })]);
  });
});

test('the last page has next null, even when it is exactly full', async () => {
  await seeded(20, async (db) => {
    const first = await queryEvents(db, { limit: 10 });
    assert.ok(first.next !== null);
    const second = await queryEvents(db, { limit: 10, cursor: first.next! });
    assert.equal(ids(second.events), Array.from({ length: 10 }, (_, i) => `ev-${9 - i}`));
    assert.is(second.next, null);
  });
});

test('since/until from the query string: ISO 8601 or epoch ms, since inclusive, until exclusive', async () => {
  await seeded(60, async (db, events) => {
    const iso = parseEventFilter(new URLSearchParams('since=2024-05-01T12:00:10Z&until=2024-05-01T12:00:20.000Z'));
    assert.equal(iso, { since: BASE_TS + 10_000, until: BASE_TS + 20_000 });
    const epoch = parseEventFilter(new URLSearchParams(`since=${BASE_TS + 10_000}&until=${BASE_TS + 20_000}`));
    assert.equal(epoch, iso);
    const offset = parseEventFilter(new URLSearchParams('since=2024-05-01T14:00:10%2B02:00'));
    assert.equal(offset, { since: BASE_TS + 10_000 });
    const page = await queryEvents(db, iso);
    assert.equal(ids(page.events), Array.from({ length: 10 }, (_, i) => `ev-${19 - i}`));
    assert.equal(ids(page.events), expected(events, iso));
    assert.equal(parseEventFilter(new URLSearchParams('until=2024-05-02')), { until: Date.parse('2024-05-02T00:00:00Z') });
  });
});

test('ndjson export streams every match past one page, newest first, in chunks', async () => {
  await seeded(2500, async (db, events) => {
    const sizes: number[] = [];
    for await (const batch of streamEvents(db, {}, 1000)) {
      sizes.push(batch.length);
      if (sizes.length > 10) break; // a paging bug that repeats pages fails here instead of hanging
    }
    assert.equal(sizes, [1000, 1000, 500]);

    const chunks: string[] = [];
    for await (const chunk of eventsNdjson(db, { proxy: 'db' }, 300)) {
      chunks.push(chunk);
      if (chunks.length > 10) break;
    }
    const lines = chunks.join('').split('\n');
    assert.is(lines.pop(), '', 'every line ends with a newline');
    const parsed = lines.map((l) => JSON.parse(l) as StoredEvent & { seq: number });
    assert.equal(ids(parsed), expected(events, { proxy: 'db' }));
    assert.is(chunks.length, Math.ceil(parsed.length / 300));
    assert.equal(parsed[0], { seq: 2498, ...fault(2497) }); // the newest 'db' event (i % 3 === 1)

    const capped: string[] = [];
    for await (const batch of streamEvents(db, { limit: 1500 }, 1000)) {
      capped.push(...ids(batch));
      if (capped.length > 3000) break;
    }
    assert.equal(capped, ids(events).reverse().slice(0, 1500), 'an explicit limit caps the total');
  });
});

test('parseEventFilter: the filters it accepts', () => {
  assert.equal(parseEventFilter(new URLSearchParams('')), {});
  assert.equal(
    parseEventFilter(new URLSearchParams('proxy=api&conn=c1&type=latency&action=delayed&kind=fault:injected&toxic=t&limit=10000&format=ndjson')),
    { proxy: 'api', conn: 'c1', type: 'latency', action: 'delayed', kind: 'fault:injected', toxic: 't', limit: 10000 },
  );
});

test('parseEventFilter: clear errors for bad input', async () => {
  const cases: [string, string | RegExp][] = [
    ['limit=0', 'limit must be an integer from 1 to 10000'],
    ['limit=10001', 'limit must be an integer from 1 to 10000'],
    ['limit=1.5', 'limit must be an integer from 1 to 10000'],
    ['limit=abc', 'limit must be an integer from 1 to 10000'],
    ['limit=', 'limit must be an integer from 1 to 10000'],
    ['since=yesterday', "since must be epoch milliseconds or an ISO 8601 date-time with a zone (e.g. 2024-05-01T12:00:00Z), got 'yesterday'"],
    ['until=2024-05-01T12:00:00', /^until must be epoch milliseconds or an ISO 8601 date-time with a zone/],
    ['until=2024-13-45T00:00:00Z', /^until must be epoch milliseconds/],
    ['since=-5', /^since must be epoch milliseconds/],
    ['since=2000&until=1000', 'since must be before until'],
    ['since=1000&until=1000', 'since must be before until'],
    ['proxy=', 'proxy must not be empty'],
    ['proxy=a&proxy=b', 'proxy may be given only once'],
    ['proxies=a', /^unknown query parameter 'proxies'; use proxy, conn, type, action, kind, toxic, since, until, limit, cursor, format$/],
    ['cursor=garbage', 'cursor is not valid; use the `next` of a previous page'],
    [`cursor=${Buffer.from('seq:0').toString('base64url')}`, 'cursor is not valid; use the `next` of a previous page'],
  ];
  for (const [qs, message] of cases) {
    try {
      parseEventFilter(new URLSearchParams(qs));
      assert.unreachable(`'${qs}' was accepted`);
    } catch (err) {
      if (typeof message === 'string') assert.is((err as Error).message, message, qs);
      else assert.match((err as Error).message, message, qs);
    }
  }
  // A cursor from a real page passes.
  await seeded(3, async (db) => {
    const { next } = await queryEvents(db, { limit: 1 });
    assert.equal(parseEventFilter(new URLSearchParams({ cursor: next! })), { cursor: next! });
  });
});

test.run();
