// The configured state round trip: proxies and toxics saved on every change come back after a
// reopen, toxics in insertion order (an update keeps its place), a proxy's delete takes its
// toxics, an update of the proxy doesn't, and expires_at survives.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openDb, type SqliteError } from '../src/store/db.js';
import { migrate } from '../src/store/migrations.js';
import {
  applyChange, deleteProxy, deleteToxic, loadState, restoredProxies, saveProxy, saveToxic,
} from '../src/store/state-repo.js';
import { withDb } from './_helpers/store.js';

const latency = (name: string, ms: number, stream = 'downstream') =>
  ({ attributes: { latency: ms, jitter: 0 }, name, type: 'latency', stream, toxicity: 1 });

test('proxies and toxics round trip through a reopened file, toxics in insertion order', async () => {
  await withDb(async ({ db, file }) => {
    await saveProxy(db, { name: 'web', listen: '127.0.0.1:8474', upstream: 'localhost:80', enabled: true, toxics: [] });
    await saveProxy(db, {
      name: 'dns', listen: '127.0.0.1:5353', upstream: '127.0.0.1:53', enabled: false,
      protocol: 'udp', idle_timeout: 30000, sessions: 4, toxics: [],
    });
    await saveToxic(db, 'web', latency('z-first', 100, 'UpStream'), null);
    await saveToxic(db, 'web', { attributes: { timeout: 5 }, name: 'a-second', type: 'timeout', stream: 'downstream', toxicity: 0.5 }, 1_900_000_000_000);
    await saveToxic(db, 'web', latency('m-third', 7), null);
    await db.close();

    const reopened = await openDb(file);
    try {
      assert.is(await migrate(reopened), 0);
      assert.equal(await loadState(reopened), [
        {
          name: 'dns', protocol: 'udp', listen: '127.0.0.1:5353', upstream: '127.0.0.1:53', enabled: false,
          idle_timeout: 30000, toxics: [],
        },
        {
          name: 'web', protocol: 'tcp', listen: '127.0.0.1:8474', upstream: 'localhost:80', enabled: true,
          toxics: [
            { name: 'z-first', type: 'latency', stream: 'UpStream', toxicity: 1, attributes: { latency: 100, jitter: 0 }, expires_at: null },
            { name: 'a-second', type: 'timeout', stream: 'downstream', toxicity: 0.5, attributes: { timeout: 5 }, expires_at: 1_900_000_000_000 },
            { name: 'm-third', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 7, jitter: 0 }, expires_at: null },
          ],
        },
      ]);
      // The stored body is the API JSON minus what has its own rows or is not state.
      const body = await reopened.get<{ body: string }>("SELECT body FROM proxies WHERE name = 'dns'");
      assert.equal(JSON.parse(body!.body), {
        name: 'dns', listen: '127.0.0.1:5353', upstream: '127.0.0.1:53', enabled: false, protocol: 'udp', idle_timeout: 30000,
      });
    } finally {
      await reopened.close();
    }
  });
});

test('updating a toxic keeps its position; a new one goes last, even after deletes', async () => {
  await withDb(async ({ db }) => {
    await saveProxy(db, { name: 'p', listen: 'l:1', upstream: 'u:1', enabled: true });
    for (const name of ['a', 'b', 'c']) await saveToxic(db, 'p', latency(name, 1), null);
    await saveToxic(db, 'p', latency('a', 999), 123);
    await deleteToxic(db, 'p', 'b');
    await saveToxic(db, 'p', latency('d', 4), null);
    const [p] = await loadState(db);
    assert.equal(p!.toxics.map((t) => [t.name, t.attributes.latency, t.expires_at]), [['a', 999, 123], ['c', 1, null], ['d', 4, null]]);
    const positions = await db.all('SELECT name, position FROM toxics ORDER BY position');
    assert.equal(positions, [{ name: 'a', position: 0 }, { name: 'c', position: 2 }, { name: 'd', position: 3 }]);
    // An update can clear the expiry as well as set it.
    await saveToxic(db, 'p', latency('a', 999), null);
    assert.is((await loadState(db))[0]!.toxics[0]!.expires_at, null);
  });
});

test("updating a proxy keeps its toxics; deleting it cascades to them", async () => {
  await withDb(async ({ db }) => {
    await saveProxy(db, { name: 'p', listen: 'l:1', upstream: 'u:1', enabled: true });
    await saveProxy(db, { name: 'q', listen: 'l:2', upstream: 'u:2', enabled: true });
    await saveToxic(db, 'p', latency('t1', 1), null);
    await saveToxic(db, 'q', latency('t2', 2), null);
    await saveProxy(db, { name: 'p', listen: 'l:9', upstream: 'u:9', enabled: false });
    let state = await loadState(db);
    assert.equal(state.map((p) => [p.name, p.listen, p.enabled, p.toxics.map((t) => t.name)]), [['p', 'l:9', false, ['t1']], ['q', 'l:2', true, ['t2']]]);
    await deleteProxy(db, 'p');
    assert.equal(await db.all('SELECT proxy, name FROM toxics'), [{ proxy: 'q', name: 't2' }]);
    state = await loadState(db);
    assert.equal(state.map((p) => p.name), ['q']);
    // Deleting what isn't there is not an error (a replayed change must be harmless).
    await deleteProxy(db, 'p');
    await deleteToxic(db, 'q', 'nope');
  });
});

test('a toxic for a proxy that is not stored fails with SQLITE_CONSTRAINT; bad JSON with a TypeError', async () => {
  await withDb(async ({ db }) => {
    const err = await saveToxic(db, 'ghost', latency('t', 1), null).then(() => null, (e: SqliteError) => e);
    assert.is(err?.code, 'SQLITE_CONSTRAINT');
    const bad = await saveProxy(db, { name: 'p', listen: 'l', enabled: true }).then(() => null, (e: Error) => e);
    assert.instance(bad, TypeError);
    assert.match(bad!.message, 'stored state needs upstream as a string');
  });
});

test('applyChange maps every state:changed kind onto the tables', async () => {
  await withDb(async ({ db }) => {
    const expires = Date.parse('2030-01-01T00:00:00.000Z');
    await applyChange(db, { kind: 'proxy:created', proxy: 'p', body: { name: 'p', listen: 'l:1', upstream: 'u:1', enabled: true, toxics: [] } });
    await applyChange(db, { kind: 'toxic:added', proxy: 'p', toxic: 'a', body: { ...latency('a', 5), expires_at: '2030-01-01T00:00:00.000Z' } });
    await applyChange(db, { kind: 'toxic:added', proxy: 'p', toxic: 'b', body: latency('b', 6) });
    await applyChange(db, { kind: 'toxic:updated', proxy: 'p', toxic: 'b', body: latency('b', 60) });
    await applyChange(db, { kind: 'proxy:updated', proxy: 'p', body: { name: 'p', listen: 'l:1', upstream: 'u:2', enabled: false } });
    let [p] = await loadState(db);
    assert.equal(p!.upstream, 'u:2');
    assert.equal(p!.toxics.map((t) => [t.name, t.attributes.latency, t.expires_at]), [['a', 5, expires], ['b', 60, null]]);
    await applyChange(db, { kind: 'toxic:expired', proxy: 'p', toxic: 'a' });
    [p] = await loadState(db);
    assert.equal(p!.toxics.map((t) => t.name), ['b']);
    await applyChange(db, { kind: 'toxic:removed', proxy: 'p', toxic: 'b' });
    assert.equal((await loadState(db))[0]!.toxics, []);
    await applyChange(db, { kind: 'proxy:deleted', proxy: 'p' });
    assert.equal(await loadState(db), []);
  });
});

test('restoredProxies gives Collection.restore its shape (expiresAt in epoch ms)', () => {
  const restored = restoredProxies([{
    name: 'p', protocol: 'udp', listen: 'l:1', upstream: 'u:1', enabled: true, idle_timeout: 5,
    toxics: [{ name: 't', type: 'latency', stream: 'upstream', toxicity: 1, attributes: { latency: 3 }, expires_at: 77 }],
  }]);
  assert.equal(restored, [{
    name: 'p', protocol: 'udp', listen: 'l:1', upstream: 'u:1', enabled: true, idle_timeout: 5,
    toxics: [{ name: 't', type: 'latency', stream: 'upstream', toxicity: 1, attributes: { latency: 3 }, expiresAt: 77 }],
  }]);
});

test.run();
