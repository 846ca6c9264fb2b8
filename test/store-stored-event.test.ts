// toStoredEvent: each bus payload becomes one event-log row with the filterable fields in
// their columns and the rest in detail, and survives the trip through SQLite unchanged.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { queryEvents } from '../src/store/event-query.js';
import { EventWriter, toStoredEvent } from '../src/store/event-writer.js';
import { withDb } from './_helpers/store.js';

const conn = { proxy: 'api', protocol: 'tcp' as const, conn: 'c-1', client: '127.0.0.1:5000', upstream: '127.0.0.1:80' };

test('fault:injected keeps its id and every field', () => {
  const e = toStoredEvent('fault:injected', {
    id: 'abc', ts: 10, ...conn, toxic: 'lat', type: 'latency', stream: 'downstream', action: 'delayed', detail: { ms: 50 },
  });
  assert.equal(e, {
    id: 'abc', ts: 10, kind: 'fault:injected', proxy: 'api', protocol: 'tcp', conn: 'c-1', client: '127.0.0.1:5000',
    toxic: 'lat', type: 'latency', stream: 'downstream', action: 'delayed', detail: { ms: 50 },
  });
});

test('fault:folded carries the count; conn events carry bytes, duration and reason', () => {
  const folded = toStoredEvent('fault:folded', { id: 'fo1', ts: 11, proxy: 'api', toxic: 'lat', action: 'delayed', count: 1234 });
  assert.is(folded.id, 'fo1', 'the id given on the bus is the id stored');
  assert.equal({ ...folded, id: '' }, { id: '', ts: 11, kind: 'fault:folded', proxy: 'api', toxic: 'lat', action: 'delayed', detail: { count: 1234 } });

  const opened = toStoredEvent('conn:opened', { ...conn, id: 'o1', ts: 12 });
  assert.is(opened.id, 'o1');
  assert.equal({ ...opened, id: '' }, {
    id: '', ts: 12, kind: 'conn:opened', proxy: 'api', protocol: 'tcp', conn: 'c-1', client: '127.0.0.1:5000',
    detail: { upstream: '127.0.0.1:80' },
  });

  const closed = toStoredEvent('conn:closed', { ...conn, id: 'c1', ts: 13, bytesUp: 5, bytesDown: 700, durationMs: 42, reason: 'reset' });
  assert.equal({ ...closed, id: '' }, {
    id: '', ts: 13, kind: 'conn:closed', proxy: 'api', protocol: 'tcp', conn: 'c-1', client: '127.0.0.1:5000',
    detail: { upstream: '127.0.0.1:80', bytesUp: 5, bytesDown: 700, durationMs: 42, reason: 'reset' },
  });
  assert.not.equal(opened.id, closed.id);
});

test('state:changed is stored under its own kind, a toxic with its type and stream', () => {
  const body = { attributes: { latency: 5 }, name: 'lat', type: 'latency', stream: 'UpStream', toxicity: 1 };
  const added = toStoredEvent('state:changed', { kind: 'toxic:added', proxy: 'api', toxic: 'lat', body, id: 's1', ts: 14 });
  assert.equal({ ...added, id: '' }, { id: '', ts: 14, kind: 'toxic:added', proxy: 'api', toxic: 'lat', type: 'latency', stream: 'upstream', detail: body });
  const expired = toStoredEvent('state:changed', { kind: 'toxic:expired', proxy: 'api', toxic: 'lat', id: 's2', ts: 15 });
  assert.equal({ ...expired, id: '' }, { id: '', ts: 15, kind: 'toxic:expired', proxy: 'api', toxic: 'lat' });
  const created = toStoredEvent('state:changed', { kind: 'proxy:created', proxy: 'api', body: { name: 'api' }, id: 's3', ts: 16 });
  assert.equal({ ...created, id: '' }, { id: '', ts: 16, kind: 'proxy:created', proxy: 'api', detail: { name: 'api' } });
  const deleted = toStoredEvent('state:changed', { kind: 'proxy:deleted', proxy: 'api', id: 's4', ts: 17 });
  assert.equal({ ...deleted, id: '' }, { id: '', ts: 17, kind: 'proxy:deleted', proxy: 'api' });
});

test('every mapped event reads back from SQLite exactly as it went in', async () => {
  await withDb(async ({ db }) => {
    const writer = new EventWriter(db);
    const events = [
      toStoredEvent('fault:injected', { id: 'f', ts: 1, ...conn, toxic: 't', type: 'slicer', stream: 'upstream', action: 'sliced', detail: { bytes: 3, on: true } }),
      toStoredEvent('conn:closed', { ...conn, id: 'c2', ts: 2, bytesUp: 1, bytesDown: 2, durationMs: 3, reason: 'end' }),
      toStoredEvent('state:changed', { kind: 'proxy:deleted', proxy: 'api', id: 's5', ts: 3 }),
    ];
    for (const e of events) writer.add(e);
    await writer.close();
    const back = (await queryEvents(db)).events.reverse();
    assert.equal(back, events.map((e, i) => ({ seq: i + 1, ...e })));
  });
});

test.run();
