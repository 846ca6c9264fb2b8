// Concurrent changes of one proxy name, over the real API (`localhost:0` among them: its lookup
// widens the window between checking a name and committing a change): after any interleaving of creates,
// updates, deletes and populates, the listeners the kernel holds for this process are exactly
// those of the proxies the API lists, a deleted proxy forwards nothing, and (on a real file)
// stays deleted after a restart.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tryConnect } from './_helpers/api.js';
import { boundPorts } from './_helpers/listeners.js';
import { echoServer, portOf, sleep, startServer, type TestServer } from './_helpers/net.js';
import { tempDir } from './_helpers/persistence.js';

/** The proxies' listeners as the kernel sees them, against the ports the API lists. */
async function assertListenersMatch(s: TestServer, baseline: Set<number>, what: string): Promise<number[]> {
  const listed = Object.values((await s.api('GET', '/proxies')).json as Record<string, any>)
    .filter((p) => p.enabled).map((p) => portOf(p.listen)).sort((a, b) => a - b);
  const bound = [...boundPorts().tcp].filter((p) => !baseline.has(p)).sort((a, b) => a - b);
  assert.equal(bound, listed, `${what}: bound ${bound.join(',')} vs listed ${listed.join(',')}`);
  return listed;
}

async function withRig(fn: (s: TestServer, upstream: string, baseline: Set<number>) => Promise<void>, db?: string): Promise<void> {
  const echo = await echoServer();
  const s = await startServer(db !== undefined ? { db } : {});
  try {
    await fn(s, echo.address, new Set(boundPorts().tcp));
  } finally {
    await s.close();
    await echo.close();
  }
}

test('create and delete of one name, 30 rounds of 10 concurrent calls: listeners equal the list', () => withRig(async (s, upstream, baseline) => {
  let statuses = new Map<number, number>();
  for (let round = 0; round < 30; round++) {
    const calls = Array.from({ length: 10 }, (_, i) => i % 2 === 0
      ? s.api('POST', '/proxies', { name: 'x', listen: i % 4 === 0 ? 'localhost:0' : '127.0.0.1:0', upstream })
      : s.api('DELETE', '/proxies/x'));
    for (const r of await Promise.all(calls)) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    await assertListenersMatch(s, baseline, `round ${round}`);
  }
  console.log(`  create/delete races: ${JSON.stringify(Object.fromEntries(statuses))}`);
  statuses = new Map([...statuses].filter(([st]) => ![201, 204, 404, 409].includes(st)));
  assert.equal([...statuses], [], 'only 201, 204, 404 and 409');
}));

test('an update that moves listen racing a delete, 20 rounds: no zombie listener, nothing forwards for a deleted proxy', () => withRig(async (s, upstream, baseline) => {
  let moveFirst = 0;
  for (let round = 0; round < 20; round++) {
    const made = await s.api('POST', '/proxies', { name: 'v', listen: '127.0.0.1:0', upstream });
    assert.is(made.status, 201, made.text);
    const oldPort = portOf(made.json.listen);
    // Staggered by 0 to 4 ms, so the delete lands before, during and after the move's bind.
    const [moved, deleted] = await Promise.all([
      s.api('POST', '/proxies/v', { listen: round % 2 === 0 ? 'localhost:0' : '127.0.0.1:0' }),
      sleep(round % 5).then(() => s.api('DELETE', '/proxies/v')),
    ]);
    assert.ok([200, 404].includes(moved.status), moved.text);
    assert.is(deleted.status, 204, deleted.text);
    assert.is((await s.api('GET', '/proxies/v')).status, 404, 'deleted stays deleted');
    if (moved.status === 200) moveFirst++;
    await assertListenersMatch(s, baseline, `round ${round}`);
    for (const port of [oldPort, ...(moved.status === 200 ? [portOf(moved.json.listen)] : [])]) {
      assert.is.not(await tryConnect(port), 'connected', `port ${port} of the deleted proxy still accepts`);
    }
  }
  console.log(`  move/delete races: the move ran first in ${moveFirst} of 20, the delete in ${20 - moveFirst}`);
}));

test('10 concurrent populates of one name, 10 rounds: one proxy, one listener', () => withRig(async (s, upstream, baseline) => {
  for (let round = 0; round < 10; round++) {
    const answers = await Promise.all(Array.from({ length: 10 }, () =>
      s.api('POST', '/populate', [{ name: 'pop', listen: 'localhost:0', upstream }])));
    assert.ok(answers.every((r) => r.status === 201), answers.map((r) => r.status).join());
    const ports = await assertListenersMatch(s, baseline, `round ${round}`);
    assert.is(ports.length, 1);
  }
}));

test('concurrent creates of one name on localhost:0: exactly one 201, the rest 409', () => withRig(async (s, upstream, baseline) => {
  for (let round = 0; round < 10; round++) {
    const answers = await Promise.all(Array.from({ length: 8 }, () =>
      s.api('POST', '/proxies', { name: `h${round}`, listen: 'localhost:0', upstream })));
    const codes = answers.map((r) => r.status).sort();
    assert.equal(codes, [201, 409, 409, 409, 409, 409, 409, 409], codes.join());
    assert.ok(answers.filter((r) => r.status === 409).every((r) => r.json.error === 'proxy already exists'));
  }
  await assertListenersMatch(s, baseline, 'after the rounds');
}));

test('a proxy deleted while an update raced it stays deleted after a restart (a real file, 5 rounds)', async () => {
  const t = await tempDir();
  try {
    for (let round = 0; round < 5; round++) {
      let listed: string[] = [];
      await withRig(async (s, upstream) => {
        assert.is((await s.api('POST', '/proxies', { name: `d${round}`, listen: '127.0.0.1:0', upstream })).status, 201);
        // The delete lands while the update looks up localhost and binds.
        await Promise.all([
          s.api('POST', `/proxies/d${round}`, { listen: 'localhost:0', upstream: '127.0.0.1:9' }),
          sleep(1 + (round % 3)).then(() => s.api('DELETE', `/proxies/d${round}`)),
          s.api('POST', `/proxies/d${round}/toxics`, { type: 'latency', attributes: { latency: 1 } }),
        ]);
        assert.is((await s.api('GET', `/proxies/d${round}`)).status, 404);
        listed = Object.keys((await s.api('GET', '/proxies')).json);
      }, t.file);
      await withRig(async (s) => {
        assert.equal(Object.keys((await s.api('GET', '/proxies')).json), listed, `round ${round}: the restart shows what the API said`);
      }, t.file);
    }
  } finally {
    await t.remove();
  }
});

test.run();
