// Chaos sessions over the REST API: what a session records (every control action from any
// client, with its offset; fault counts of its window), the one-at-a-time rule, the stop
// summary, storage across a clean restart and a crash, and the errors for bad input.

import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lag } from './_helpers/lag.js';
import { assertError } from './_helpers/api.js';
import { connect, echoServer, readBytes, sleep, startServer, type TestServer, type Upstream } from './_helpers/net.js';
import { call, spawnServe, tempDir, waitFor } from './_helpers/persistence.js';
import { watch } from './_helpers/ws.js';
import { INTERRUPTED_REASON } from '../src/sessions/recorder.js';

let echo: Upstream;
test.before(async () => { echo = await echoServer(); });
test.after(async () => { await echo.close(); });

/** Runs `fn` and reports the epoch ms just before and after, which bracket the server's stamp. */
async function timed<T>(fn: () => Promise<T>): Promise<{ before: number; after: number; value: T }> {
  const before = Date.now();
  const value = await fn();
  return { before, after: Date.now(), value };
}

async function roundTrips(port: number, n: number): Promise<void> {
  const socket = await connect(port);
  for (let i = 0; i < n; i++) {
    const got = readBytes(socket, 10);
    socket.write('0123456789');
    await got;
  }
  socket.destroy();
}

async function withServer(fn: (server: TestServer) => Promise<void>, options = {}): Promise<void> {
  const server = await startServer(options);
  try { await fn(server); } finally { await server.close(); }
}

test('a session records every control action from a plain client, at its offset, and stop summarises it', async () => {
  await withServer(async (server) => {
    await server.proxy('db', echo.address);
    const started = await server.api('POST', '/sessions', { name: 'checkout drill' });
    assert.is(started.status, 201);
    const s = started.json;
    assert.equal([s.name, s.status, s.reason, s.ended_at, s.actions, s.action_count], ['checkout drill', 'recording', '', null, [], 0]);
    assert.equal(s.start_state.map((p: any) => [p.name, p.upstream, p.enabled, p.protocol]), [['db', echo.address, true, 'tcp']]);
    await sleep(120);
    const calls = [
      await timed(() => server.toxic('db', { name: 'lat', type: 'latency', attributes: { latency: 20 } })),
      await timed(() => sleep(80).then(() => server.api('POST', '/proxies/db/toxics/lat', { attributes: { latency: 40 } }))),
      await timed(() => server.api('POST', '/proxies/db', { enabled: false })),
      await timed(() => server.api('DELETE', '/proxies/db/toxics/lat')),
    ];
    assert.equal(calls.map((c) => c.value.status), [200, 200, 200, 204]);
    const stopped = await server.api('POST', `/sessions/${s.id}/stop`);
    assert.is(stopped.status, 200);
    const sum = stopped.json;
    assert.equal(sum.actions.map((a: any) => [a.kind, a.proxy, a.toxic, a.control]), [
      ['toxic:added', 'db', 'lat', true], ['toxic:updated', 'db', 'lat', true],
      ['proxy:updated', 'db', null, true], ['toxic:removed', 'db', 'lat', true],
    ]);
    sum.actions.forEach((a: any, i: number) => {
      const { before, after } = calls[i]!;
      assert.ok(a.offset_ms >= before - s.started_at && a.offset_ms <= after - s.started_at,
        `action ${i} at +${a.offset_ms}ms, outside its request's +${before - s.started_at}..+${after - s.started_at}ms`);
      assert.is(a.ts - s.started_at, a.offset_ms);
    });
    assert.ok(sum.actions[0].offset_ms >= 120, `first action at +${sum.actions[0].offset_ms}ms, before the 120 ms wait ended`);
    assert.equal(sum.actions[0].body.attributes, { latency: 20, jitter: 0 });
    assert.equal(sum.actions[1].body.attributes, { latency: 40, jitter: 0 });
    assert.equal(sum.actions[2].changes, { enabled: false });
    assert.is(sum.actions[3].body, null);
    assert.equal([sum.status, sum.reason, sum.action_count, sum.proxies_touched, sum.faults], ['ended', 'stopped', 4, ['db'], []]);
    assert.is(sum.duration_ms, sum.ended_at - sum.started_at);
    assert.ok(sum.ended_at >= calls[3]!.after && sum.start_state === undefined, 'the summary leaves out the starting state');
    assert.equal(sum.events, { since: s.started_at, until: sum.ended_at + 1, query: `/events?since=${s.started_at}&until=${sum.ended_at + 1}` });
    // Nothing after the stop is recorded.
    await server.api('POST', '/proxies/db', { enabled: true });
    const full = (await server.api('GET', `/sessions/${s.id}`)).json;
    assert.equal(full.actions, sum.actions);
    assert.equal(full.start_state, s.start_state);
  });
});

test('fault counts cover only the window, by proxy and action, and the event log holds them', async () => {
  await withServer(async (server) => {
    const port = await server.proxy('db', echo.address);
    await server.toxic('db', { name: 'lat', type: 'latency', attributes: { latency: 15 } });
    await roundTrips(port, 2);
    const s = (await server.api('POST', '/sessions', {})).json;
    const t0 = Date.now();
    await roundTrips(port, 3);
    const t1 = Date.now();
    const live = (await server.api('GET', `/sessions/${s.id}`)).json;
    assert.equal(live.faults.map((f: any) => [f.proxy, f.action, f.count]), [['db', 'delayed', 3]]);
    assert.is(live.duration_ms >= t1 - s.started_at, true);
    const sum = (await server.api('POST', `/sessions/${s.id}/stop`)).json;
    assert.equal(sum.faults.map((f: any) => [f.proxy, f.action, f.count]), [['db', 'delayed', 3]]);
    const [f] = sum.faults;
    assert.ok(f.first_ts >= t0 && f.first_ts <= f.last_ts && f.last_ts <= t1, `first ${f.first_ts} last ${f.last_ts}`);
    assert.is(sum.fault_count, 3);
    // A session of traffic only touched no proxy and has nothing to replay.
    assert.equal([sum.action_count, sum.proxies_touched], [0, []]);
    assertError(await server.api('GET', `/sessions/${s.id}/scenario`), 409, 'session has no control actions to replay');
    await sleep(150); // the event writer's batch
    const logged = (await server.api('GET', `${sum.events.query}&kind=fault:injected`)).json.events;
    assert.equal(logged.map((e: any) => [e.proxy, e.action]), [['db', 'delayed'], ['db', 'delayed'], ['db', 'delayed']]);
  });
});

test('one session records at a time; stopping twice, or an unknown id, is an error', async () => {
  await withServer(async (server) => {
    const first = (await server.api('POST', '/sessions')).json;
    assert.match(first.name, /^Session \d{4}-\d\d-\d\dT/);
    const second = await server.api('POST', '/sessions', { name: 'another' });
    assertError(second, 409, `a session is already recording: ${first.id}`);
    assert.is(second.json.code, 'ERR_SESSION_RECORDING');
    assert.is((await server.api('POST', `/sessions/${first.id}/stop`)).status, 200);
    const again = await server.api('POST', `/sessions/${first.id}/stop`);
    assertError(again, 409, 'session already ended');
    assert.is(again.json.code, 'ERR_SESSION_ENDED');
    const next = await server.api('POST', '/sessions', { name: 'next' });
    assert.is(next.status, 201);
    const list = (await server.api('GET', '/sessions')).json.sessions;
    assert.equal(list.map((x: any) => [x.id, x.status]), [[next.json.id, 'recording'], [first.id, 'ended']]);
    assert.equal(Object.keys(list[0]).sort(), ['action_count', 'duration_ms', 'ended_at', 'fault_count', 'id', 'name',
      'proxies_touched', 'reason', 'started_at', 'status']);
    // Deleting a recording session stops it first; then another may start.
    assert.is((await server.api('DELETE', `/sessions/${next.json.id}`)).status, 204);
    assertError(await server.api('GET', `/sessions/${next.json.id}`), 404, 'session not found');
    assert.is((await server.api('POST', '/sessions')).status, 201);
  }, { db: false });
});

test('a ttl expiry is recorded, marked as no control action', async () => {
  await withServer(async (server) => {
    await server.proxy('db', echo.address);
    const s = (await server.api('POST', '/sessions')).json;
    await server.toxic('db', { name: 'short', type: 'timeout', ttl: 100 });
    await waitFor(() => server.collection.get('db').listToxics().length === 0, 3000, 'the ttl');
    const sum = (await server.api('POST', `/sessions/${s.id}/stop`)).json;
    assert.equal(sum.actions.map((a: any) => [a.kind, a.toxic, a.control]), [['toxic:added', 'short', true], ['toxic:expired', 'short', false]]);
    // The ttl runs from the request; the added action is stamped once the change is on disk,
    // which on a busy machine takes a few milliseconds of the 100.
    const gap = sum.actions[1].offset_ms - sum.actions[0].offset_ms;
    assert.ok(gap >= 50 && gap < 600 + lag.worst(), `expired ${gap} ms after it was added (timer lag ${lag.worst()} ms)`);
  });
});

test('sessions are stored in SQLite: they survive a restart, and a clean close ends a recording one', async () => {
  const dir = await tempDir();
  const db = join(dir.dir, 'sessions.db');
  try {
    let done: any;
    let open: any;
    const first = await startServer({ db });
    try {
      await first.proxy('db', echo.address);
      const s = (await first.api('POST', '/sessions', { name: 'kept' })).json;
      await first.toxic('db', { name: 'lat', type: 'latency', attributes: { latency: 5 } });
      done = (await first.api('POST', `/sessions/${s.id}/stop`)).json;
      await sleep(5);
      open = (await first.api('POST', '/sessions', { name: 'open at close' })).json;
      await first.api('DELETE', '/proxies/db/toxics/lat');
    } finally {
      await first.close();
    }
    const second = await startServer({ db });
    try {
      const list = (await second.api('GET', '/sessions')).json.sessions;
      assert.equal(list.map((x: any) => [x.name, x.status, x.action_count, x.proxies_touched]),
        [['open at close', 'ended', 1, ['db']], ['kept', 'ended', 1, ['db']]]);
      assert.is(list[0].reason, 'the server closed while the session was recording');
      const kept = (await second.api('GET', `/sessions/${done.id}`)).json;
      const { start_state: _s, ...summary } = kept;
      assert.equal(summary, done);
      const yaml = await second.api('GET', `/sessions/${done.id}/scenario`);
      assert.equal([yaml.status, yaml.headers.get('content-type')], [200, 'text/yaml; charset=utf-8']);
      assert.match(yaml.text, `# Exported by faultline from chaos session ${done.id} ("kept")`);
      assert.is((await second.api('DELETE', `/sessions/${open.id}`)).status, 204);
    } finally {
      await second.close();
    }
    const third = await startServer({ db });
    try {
      assert.equal((await third.api('GET', '/sessions')).json.sessions.map((x: any) => x.id), [done.id]);
    } finally {
      await third.close();
    }
  } finally {
    await dir.remove();
  }
});

test('a session recording when the server is killed is ended at the next start, with what it had saved', async () => {
  const dir = await tempDir();
  try {
    const child = await spawnServe(['--db', dir.file], dir.dir);
    let id: string;
    try {
      await call(child.url, 'POST', '/proxies', { name: 'db', listen: '127.0.0.1:0', upstream: echo.address });
      id = (await call(child.url, 'POST', '/sessions', { name: 'crashed' })).json.id;
      await call(child.url, 'POST', '/proxies/db/toxics', { name: 'lat', type: 'latency' });
      await sleep(400); // past the save delay after an action
    } finally {
      await child.kill('SIGKILL');
    }
    const server = await startServer({ db: dir.file });
    try {
      const s = (await server.api('GET', `/sessions/${id}`)).json;
      assert.equal([s.status, s.reason, s.actions.map((a: any) => a.kind)], ['ended', INTERRUPTED_REASON, ['toxic:added']]);
      assert.ok(s.ended_at >= s.started_at && s.duration_ms === s.ended_at - s.started_at);
      assert.is((await server.api('POST', '/sessions')).status, 201);
    } finally {
      await server.close();
    }
  } finally {
    await dir.remove();
  }
});

test('bad bodies, ids and queries get JSON errors', async () => {
  await withServer(async (server) => {
    for (const [body, message] of [
      ['{', /^bad request body: /],
      ['[1]', 'bad request body: expected a JSON object like {"name": "checkout latency"} (or no body)'],
      [{ name: 5 }, 'bad request body: name must be a non-empty string of at most 200 characters'],
      [{ name: '  ' }, 'bad request body: name must be a non-empty string of at most 200 characters'],
      [{ name: 'x'.repeat(201) }, 'bad request body: name must be a non-empty string of at most 200 characters'],
      [{ title: 'x' }, 'bad request body: unknown field "title"; only name is accepted'],
    ] as const) {
      const res = await server.api('POST', '/sessions', body);
      assertError(res, 400, message);
      assert.is(res.json.code, 'ERR_BAD_BODY');
    }
    assert.equal((await server.api('GET', '/sessions')).json, { sessions: [] });
    for (const [method, path] of [['GET', '/sessions/nope'], ['POST', '/sessions/nope/stop'], ['DELETE', '/sessions/nope'],
      ['GET', '/sessions/nope/scenario']]) {
      const res = await server.api(method!, path!);
      assertError(res, 404, 'session not found');
      assert.is(res.json.code, 'ERR_SESSION_NOT_FOUND');
    }
    const id = (await server.api('POST', '/sessions', { name: ' trimmed ' })).json.id;
    assert.is((await server.api('GET', `/sessions/${id}`)).json.name, 'trimmed');
    for (const [query, message] of [
      ['format=xml', 'bad query: format must be yaml or json, got "xml"'],
      ['format=json&format=yaml', 'bad query: format given more than once'],
      ['fmt=json', 'bad query: unknown parameter "fmt"; only format is accepted'],
    ]) {
      const res = await server.api('GET', `/sessions/${id}/scenario?${query}`);
      assertError(res, 400, message!);
      assert.is(res.json.code, 'ERR_BAD_QUERY');
    }
    assert.is((await server.api('PUT', '/sessions')).status, 405);
  });
});


test('session start and stop go out on the event stream, whoever called the API', async () => {
  await withServer(async (server) => {
    const ws = await watch(`${server.url.replace('http', 'ws')}/events/stream?kind=session:started,session:stopped`);
    try {
      await ws.next(1);
      const started = await server.api('POST', '/sessions', { name: 'drill' });
      await server.api('POST', `/sessions/${started.json.id}/stop`);
      const [, a, b] = await ws.next(3);
      assert.equal([a.kind, a.event.session, a.event.name], ['session:started', started.json.id, 'drill']);
      assert.equal([b.kind, b.event.session, b.event.reason, b.event.action_count], ['session:stopped', started.json.id, 'stopped', 0]);
    } finally {
      ws.ws.close();
    }
  });
});

test.run();
