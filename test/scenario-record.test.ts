// The record of a run from `faultline run`: stored on the default server with PUT (origin cli),
// with windows timed exactly by each server's event log and per-step counts of the faults the
// test's own traffic met; `faultline report` and `run --report` write it; `--embedded --db`
// keeps it in the file; PUT /scenarios/runs/{id} checks what it stores.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lag } from './_helpers/lag.js';
import { cli, type CliResult } from './_helpers/cli.js';
import { echoServer, startServer, type TestServer, type Upstream } from './_helpers/net.js';
import { roundTrip, tempDir, waitFor, type TempDir } from './_helpers/persistence.js';

let upstream: Upstream;
let tmp: TempDir;
test.before(async () => { upstream = await echoServer(); tmp = await tempDir(); });
test.after(async () => { await upstream.close(); await tmp.remove(); });

async function scenarioFile(name: string, lines: string[]): Promise<string> {
  const file = join(tmp.dir, `${name}.yaml`);
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

/** `run ID: ...` from the CLI's output. */
function runId(r: CliResult): string {
  const m = /^run ([\w-]{21}): /m.exec(r.stdout);
  assert.ok(m, `no run line in:\n${r.stdout}\n${r.stderr}`);
  return m![1]!;
}

/** Waits for the toxic on the proxy, then sends `n` one-byte round trips through it. */
async function traffic(server: TestServer, proxy: string, port: number, n: number): Promise<void> {
  await waitFor(() => (server.collection.get(proxy)?.listToxics().length ?? 0) > 0, 5000, `a toxic on ${proxy}`);
  for (let i = 0; i < n; i++) assert.ok((await roundTrip(port, Buffer.from('x'))) !== null, `round trip ${i} through ${proxy}`);
}

/** [from_ms, to_ms] of the toxic per the server's own event log, relative to `startedAt`. */
async function loggedWindow(server: TestServer, proxy: string, startedAt: number): Promise<number[]> {
  const ts = async (kind: string) => (await server.api('GET', `/events?kind=${kind}&proxy=${proxy}`)).json.events[0].ts as number;
  return [await ts('toxic:added') - startedAt, await ts('toxic:removed') - startedAt];
}

test('a CLI run is stored on its server with exact windows and fault counts; `report` writes both files', async () => {
  const server = await startServer();
  try {
    const port = await server.proxy('rec-a', upstream.address);
    const file = await scenarioFile('one', [
      'title: Recorded run',
      `proxies: [{name: rec-a, upstream: "${upstream.address}"}]`,
      `steady_state: {probes: [{name: up, tcp: {address: "${upstream.address}"}}]}`,
      'timeline:',
      '  - {at: 0s, toxic: {proxy: rec-a, name: lat, type: latency, attributes: {latency: 10}}, for: 1200ms}',
      `  - {at: 1000ms, probe: {name: mid, tcp: {address: "${upstream.address}"}}}`,
    ]);
    const running = cli(['run', file, '--url', server.url]);
    await traffic(server, 'rec-a', port, 5);
    const r = await running;
    assert.is(r.code, 0, r.stdout + r.stderr);
    const id = runId(r);
    assert.equal(r.stdout.trimEnd().split('\n').slice(-2), [`run ${id}: held (exit 0)`, `report: faultline report ${id} --url ${server.url}`]);
    assert.is(r.stderr, '');

    const rec = (await server.api('GET', `/scenarios/runs/${id}`)).json;
    assert.equal([rec.origin, rec.status, rec.exit_code, rec.title], ['cli', 'held', 0, 'Recorded run']);
    assert.is(rec.scenario, await readFile(file, 'utf8'));
    assert.equal(rec.steps.map((s: any) => [s.index, s.kind, s.ok]), [[0, 'toxic', true], [1, 'probe', true]]);
    assert.equal(rec.probes.map((p: any) => `${p.probe}:${p.phase}:${p.ok}`).sort(), ['mid:step:true', 'up:after:true', 'up:before:true']);
    assert.equal(rec.windows.map((w: any) => [w.proxy, w.toxic, w.type, w.stream, w.from_ms, w.to_ms]),
      [['rec-a', 'lat', 'latency', 'downstream', ...await loggedWindow(server, 'rec-a', rec.started_at)]]);
    assert.equal(rec.event_counts, [{ step: 0, counts: { delayed: 5 } }, { step: 1, counts: {} }]);
    assert.is(rec.observed.default.source, 'events');
    assert.is(rec.observed.default.events_url, `${server.url}/events?since=${rec.started_at}&until=${rec.ended_at + 1}`);
    assert.ok((await server.api('GET', '/scenarios/runs')).json.runs.some((s: any) => s.id === id && s.status === 'held'));

    const out = join(tmp.dir, 'reports');
    const rep = await cli(['report', id, '--out', out, '--url', server.url]);
    assert.equal(rep, { code: 0, stdout: `${join(out, `${id}.json`)}\n${join(out, `${id}.html`)}\n`, stderr: '' });
    const json = JSON.parse(await readFile(join(out, `${id}.json`), 'utf8'));
    assert.equal([json.id, json.origin, json.event_counts[0].counts.delayed], [id, 'cli', 5]);
    assert.match(await readFile(join(out, `${id}.html`), 'utf8'), 'Recorded run');
  } finally {
    await server.close();
  }
});

test('--embedded --report DIR writes the report at the end; without --db nothing else keeps the run', async () => {
  const file = await scenarioFile('embedded', [
    'title: Embedded and reported',
    `proxies: [{name: rec-e, upstream: "${upstream.address}"}]`,
    'timeline:',
    '  - {at: 0s, toxic: {proxy: rec-e, name: slow, type: latency, attributes: {latency: 5}}, for: 300ms}',
  ]);
  const dir = join(tmp.dir, 'embedded-report');
  const r = await cli(['run', file, '--embedded', '--report', dir]);
  assert.is(r.code, 0, r.stdout + r.stderr);
  const id = runId(r);
  assert.equal(r.stdout.trimEnd().split('\n').slice(-4), [
    `run ${id}: held (exit 0)`, `report: ${join(dir, `${id}.json`)}`, `report: ${join(dir, `${id}.html`)}`,
    `note: the embedded server is gone, so run ${id} is kept in the report only; --db FILE stores it too`,
  ]);
  const json = JSON.parse(await readFile(join(dir, `${id}.json`), 'utf8'));
  assert.equal([json.status, json.origin, json.windows.length, json.observed.default.source], ['held', 'cli', 1, 'events']);
  const w = json.windows[0];
  // Timed by the embedded server's log: the add's round trip comes off the planned 300 ms.
  assert.ok(w.to_ms - w.from_ms >= 200 && w.to_ms - w.from_ms < 2000, `window ${w.from_ms}..${w.to_ms}`);
  assert.match(await readFile(join(dir, `${id}.html`), 'utf8'), 'Embedded and reported');
});

test('--embedded --db FILE leaves the record in the file, readable by a server started on it', async () => {
  const db = join(tmp.dir, 'embedded.db');
  const file = await scenarioFile('kept', [
    'title: Kept in a file',
    `proxies: [{name: rec-k, upstream: "${upstream.address}"}]`,
    'timeline:',
    '  - {at: 0s, toxic: {proxy: rec-k, name: gone, type: reset_peer}, for: 200ms}',
  ]);
  const r = await cli(['run', file, '--embedded', '--db', db]);
  assert.is(r.code, 0, r.stdout + r.stderr);
  const id = runId(r);
  assert.is(r.stdout.trimEnd().split('\n').at(-1), `report: faultline serve --db ${db}, then faultline report ${id}`);
  const server = await startServer({ db });
  try {
    const rec = (await server.api('GET', `/scenarios/runs/${id}`)).json;
    assert.equal([rec.origin, rec.status, rec.title], ['cli', 'held', 'Kept in a file']);
    assert.equal(rec.windows.map((w: any) => [w.proxy, w.toxic, w.type]), [['rec-k', 'gone', 'reset_peer']]);
    assert.equal(rec.windows.map((w: any) => [w.from_ms, w.to_ms]), [await loggedWindow(server, 'rec-k', rec.started_at)]);
    assert.equal((await server.api('GET', '/scenarios/runs')).json.runs.map((s: any) => s.id), [id]);
  } finally {
    await server.close();
  }
  assert.equal(await cli(['run', file, '--db', db]), {
    code: 1, stdout: '', stderr: 'faultline: --db is for --embedded runs; a standalone server keeps its own (faultline serve --db FILE)\n',
  });
});

test('a run driving two servers gets windows and fault counts from both event logs', async () => {
  const a = await startServer();
  const b = await startServer();
  try {
    const portA = await a.proxy('two-a', upstream.address);
    const portB = await b.proxy('two-b', upstream.address);
    const file = await scenarioFile('two', [
      'title: Two servers',
      `servers: {edge: "${b.url}"}`,
      `proxies: [{name: two-a, upstream: "${upstream.address}"}, {name: two-b, upstream: "${upstream.address}", server: edge}]`,
      'timeline:',
      '  - {at: 0s, toxic: {proxy: two-a, name: lat, type: latency, attributes: {latency: 5}}, for: 1500ms}',
      '  - {at: 200ms, toxic: {proxy: two-b, name: bits, type: corrupt, attributes: {probability: 1}}, for: 1300ms}',
    ]);
    const running = cli(['run', file, '--url', a.url]);
    await waitFor(() => b.collection.get('two-b')!.listToxics().length > 0, 5000, 'the corrupt toxic');
    await traffic(a, 'two-a', portA, 4);
    await traffic(b, 'two-b', portB, 3);
    const r = await running;
    assert.is(r.code, 0, r.stdout + r.stderr);
    const rec = (await a.api('GET', `/scenarios/runs/${runId(r)}`)).json;
    assert.equal(rec.event_counts, [{ step: 0, counts: {} }, { step: 1, counts: { delayed: 4, corrupted: 3 } }]);
    assert.equal(rec.windows.map((w: any) => [w.proxy, w.type, w.from_ms, w.to_ms]), [
      ['two-a', 'latency', ...await loggedWindow(a, 'two-a', rec.started_at)],
      ['two-b', 'corrupt', ...await loggedWindow(b, 'two-b', rec.started_at)],
    ]);
    assert.equal([rec.observed.default.source, rec.observed.edge.source], ['events', 'events']);
    assert.is((await b.api('GET', `/scenarios/runs/${runId(r)}`)).status, 404);
  } finally {
    await a.close();
    await b.close();
  }
});

test('a server without an event log: windows from the steps, no counts, and the record says so', async () => {
  const server = await startServer({ db: false });
  try {
    const file = await scenarioFile('nolog', [
      'title: No event log',
      `proxies: [{name: rec-n, upstream: "${upstream.address}"}]`,
      'timeline:',
      '  - {at: 0s, toxic: {proxy: rec-n, name: lat, type: latency, attributes: {latency: 5}}, for: 300ms}',
    ]);
    const r = await cli(['run', file, '--url', server.url]);
    assert.is(r.code, 0, r.stdout + r.stderr);
    const rec = (await server.api('GET', `/scenarios/runs/${runId(r)}`)).json;
    assert.is(rec.observed.default.source, 'steps');
    assert.match(rec.observed.default.note, 'the event log is off');
    assert.equal(rec.event_counts, [{ step: 0, counts: {} }]);
    const w = rec.windows[0];
    assert.equal([rec.windows.length, w.proxy, w.toxic, w.type, w.stream], [1, 'rec-n', 'lat', 'latency', 'downstream']);
    assert.ok(w.to_ms - w.from_ms >= 290 && w.to_ms - w.from_ms <= 310 + lag.worst(), `window ${w.from_ms}..${w.to_ms}: the step's for (timer lag ${lag.worst()} ms)`);
  } finally {
    await server.close();
  }
});

/** A finished run's record as `faultline run` sends it. */
function record(id: string): Record<string, unknown> {
  return {
    id, title: 'From a client', scenario: 'title: From a client\n', status: 'halted', exit_code: 2, reason: 'halted: api down',
    started_at: 1_700_000_000_000, ended_at: 1_700_000_001_000, duration_ms: 1000,
    steps: [{ index: 0, kind: 'toxic', atMs: 0, firedAtMs: 1.5, lateMs: 1.5, ok: true, detail: 'added' }],
    probes: [{ probe: 'up', ok: false, value: 'ECONNREFUSED', latencyMs: 0.4, ts: 1_700_000_000_010, phase: 'halt', reason: 'refused' }],
    rollback: { ok: true, errors: [] },
    windows: [{ proxy: 'db', toxic: 'lat', type: 'latency', stream: 'downstream', from_ms: 2, to_ms: 900 }],
    event_counts: [{ step: 0, counts: { delayed: 3 } }],
    observed: { default: { source: 'events', events: 5 } },
  };
}

test('PUT /scenarios/runs/{id}: 201 then 200, strict 400s, 409 on a run in progress', async () => {
  const server = await startServer();
  try {
    const put = (id: string, body: unknown) => server.api('PUT', `/scenarios/runs/${id}`, body);
    const created = await put('client-run_1', record('client-run_1'));
    assert.equal([created.status, created.json.origin], [201, 'cli'], created.text);
    assert.equal((await server.api('GET', '/scenarios/runs/client-run_1')).json, { ...record('client-run_1'), origin: 'cli' });
    assert.is((await put('client-run_1', { ...record('client-run_1'), origin: 'cli', reason: 'again' })).status, 200);
    assert.is((await server.api('GET', '/scenarios/runs/client-run_1')).json.reason, 'again');

    const bad = async (id: string, body: unknown, message: string) => {
      const res = await put(id, body);
      assert.equal([res.status, res.json?.code, res.json?.error], [400, 'ERR_BAD_BODY', `bad request body: ${message}`], res.text);
    };
    await bad('a.b', record('a.b'), 'a run id is 1 to 64 letters, digits, _ or -, got "a.b"');
    await bad('x'.repeat(65), record('x'.repeat(65)), `a run id is 1 to 64 letters, digits, _ or -, got "${'x'.repeat(39)}...`);
    await bad('one', record('two'), 'id: expected the id in the path, "one", got "two"');
    await bad('one', [record('one')], 'the body: expected a run record (an object), got [{"id":"one","title":"From a client","sc...');
    await bad('one', { ...record('one'), status: 'running' }, 'status: expected one of held, deviated, halted, error, aborted, not_started, got "running"');
    await bad('one', { ...record('one'), origin: 'server' }, 'origin: expected one of cli, got "server"');
    await bad('one', { ...record('one'), started_at: '1700000000000' }, 'started_at: expected a whole number, 0 or more, got "1700000000000"');
    await bad('one', { ...record('one'), exit_code: 256 }, 'exit_code: expected an exit code from 0 to 255, got 256');
    await bad('one', { ...record('one'), steps: 'all' }, 'steps: expected an array, got "all"');
    await bad('one', { ...record('one'), probes: [{ probe: 'up', ok: 'yes' }] }, 'probes[0].ok: expected true or false, got "yes"');
    await bad('one', { ...record('one'), event_counts: [{ step: 0, counts: { delayed: -1 } }] }, 'event_counts[0].counts.delayed: expected a whole number, 0 or more, got -1');
    await bad('one', { ...record('one'), windows: [{ proxy: 'db' }] }, 'windows[0].toxic: expected a string, got nothing');
    await bad('one', { ...record('one'), ended_at: 1 }, 'ended_at: expected a time at or after started_at (1700000000000), got 1');
    await bad('one', { ...record('one'), verdict: 'ok' }, "unknown key 'verdict'; expected id, origin, title, scenario, status, exit_code, reason, started_at, ended_at, duration_ms, steps, probes, rollback, windows, event_counts, observed");
    const huge = await put('one', { ...record('one'), scenario: 'x'.repeat(1024 * 1024) });
    assert.equal([huge.status, huge.json.code], [413, 'ERR_BODY_TOO_LARGE']);
    assert.is((await server.api('GET', '/scenarios/runs/one')).status, 404);

    const live = await server.api('POST', '/scenarios/runs', {
      scenario: `title: Live\nproxies: [{name: rec-live, upstream: "${upstream.address}"}]\ntimeline:\n  - {at: 0s, toxic: {proxy: rec-live, name: lat, type: latency}, for: 60s}\n`,
    });
    assert.is(live.status, 201, live.text);
    const clash = await put(live.json.id, record(live.json.id));
    assert.equal([clash.status, clash.json.code, clash.json.error], [409, 'ERR_RUN_RUNNING', 'scenario run is running on this server']);
    assert.equal((await server.api('GET', '/scenarios/runs')).json.runs.map((r: any) => [r.id, r.status]),
      [[live.json.id, 'running'], ['client-run_1', 'halted']]);
    assert.is((await server.api('DELETE', `/scenarios/runs/${live.json.id}`)).status, 204);
    assert.is((await server.api('GET', `/scenarios/runs/${live.json.id}`)).json.origin, 'server');
  } finally {
    await server.close();
  }
});

test.run();
