// Game-day runs on the server (POST/GET/DELETE /scenarios/runs): a run drives the server it was
// started on, reports running then its verdict with steps and probes, can be aborted (which rolls
// back), survives a restart on a file database, is refused with line:col issues when invalid,
// streams scenario:* events, and is aborted and rolled back when the server closes.

import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, echoServer, readBytes, startServer, type TestServer, type Upstream } from './_helpers/net.js';
import { tempDir } from './_helpers/persistence.js';
import { until, watch } from './_helpers/ws.js';

/** A proxy the run ensures (and removes), a toxic for `forMs`, and a tcp probe through it. */
function scenarioText(upstream: string, forMs: number, proxy = 'sr-db'): string {
  return [
    'title: Short latency',
    'proxies:',
    `  - {name: ${proxy}, upstream: ${upstream}}`,
    'steady_state:',
    `  probes: [{name: up, tcp: {address: ${upstream}, timeout: 1s}}]`,
    'timeline:',
    `  - {at: 0s, toxic: {proxy: ${proxy}, name: lat, type: latency, attributes: {latency: 20}}, for: ${forMs}ms}`,
    `  - {at: 100ms, probe: {name: mid, tcp: {address: ${upstream}, timeout: 1s}}}`,
    '',
  ].join('\n');
}

async function waitStatus(server: TestServer, id: string, done: (status: string) => boolean, ms = 5000): Promise<any> {
  let last: any;
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    last = (await server.api('GET', `/scenarios/runs/${id}`)).json;
    if (done(last.status)) return last;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.unreachable(`run ${id} still ${last?.status}`);
}

let upstream: Upstream;
test.before(async () => { upstream = await echoServer(); });
test.after(async () => { await upstream.close(); });

test('a run starts with 201, shows running, then held with its steps, probes, windows and rollback', async () => {
  const server = await startServer();
  try {
    const started = await server.api('POST', '/scenarios/runs', { scenario: scenarioText(upstream.address, 300) });
    assert.is(started.status, 201, started.text);
    const run = started.json;
    assert.is(run.status, 'running');
    assert.is(run.title, 'Short latency');
    assert.is(run.exit_code, null);
    assert.is(run.duration_ms, 300);
    assert.is(run.scenario, scenarioText(upstream.address, 300));
    const during = await server.api('GET', `/scenarios/runs/${run.id}`);
    assert.is(during.json.status, 'running');

    const done = await waitStatus(server, run.id, (s) => s !== 'running');
    assert.is(done.status, 'held', done.reason);
    assert.is(done.exit_code, 0);
    assert.is(done.reason, 'the steady state held');
    assert.ok(done.ended_at >= done.started_at + 300, `ended ${done.ended_at - done.started_at} ms after the start`);
    assert.equal(done.steps.map((s: any) => [s.index, s.kind, s.ok]), [[0, 'toxic', true], [1, 'probe', true]]);
    assert.equal(done.probes.map((p: any) => [p.probe, p.phase, p.ok]).sort(),
      [['mid', 'step', true], ['up', 'after', true], ['up', 'before', true]]);
    assert.equal(done.rollback, { ok: true, errors: [] });
    assert.is(done.windows.length, 1);
    const w = done.windows[0];
    assert.equal([w.proxy, w.toxic, w.type, w.stream], ['sr-db', 'lat', 'latency', 'downstream']);
    assert.ok(w.to_ms - w.from_ms >= 250 && w.to_ms - w.from_ms < 1500, `window ${w.from_ms}..${w.to_ms}`);
    assert.equal(done.event_counts.map((c: any) => c.step), [0, 1]);
    assert.is(done.origin, 'server');
    assert.equal(done.observed, { default: { source: 'events', events_url: `${server.url}/events?since=${done.started_at}&until=${done.ended_at + 1}`, events: 2 } });

    const list = await server.api('GET', '/scenarios/runs');
    assert.is(list.status, 200);
    assert.equal(list.json.runs.map((r: any) => [r.id, r.status]), [[run.id, 'held']]);
    // The run created the proxy, so the rollback removed it.
    assert.is((await server.api('GET', '/proxies/sr-db')).status, 404);
    assert.is((await server.api('GET', '/scenarios/runs/nope')).json.code, 'ERR_RUN_NOT_FOUND');
    // The dashboard's "open report": the same self-contained HTML as `faultline report` writes.
    const report = await server.api('GET', `/scenarios/runs/${run.id}/report`);
    assert.is(report.status, 200);
    assert.is(report.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.ok(report.text.startsWith('<!doctype html>') && report.text.includes('Short latency') && report.text.includes('held'), report.text.slice(0, 200));
    assert.is((await server.api('GET', '/scenarios/runs/nope/report')).status, 404);
    const again = await server.api('DELETE', `/scenarios/runs/${run.id}`);
    assert.equal([again.status, again.json.code], [409, 'ERR_RUN_FINISHED']);
    assert.is((await server.api('DELETE', '/scenarios/runs/nope')).status, 404);
  } finally {
    await server.close();
  }
});

test('DELETE aborts a long run: 204 once rolled back, the toxic is gone, status aborted', async () => {
  const server = await startServer();
  try {
    await server.proxy('kept', upstream.address); // exists already: the run leaves it in place
    const started = await server.api('POST', '/scenarios/runs', { scenario: scenarioText(upstream.address, 60_000, 'kept') });
    assert.is(started.status, 201, started.text);
    const id = started.json.id;
    await until(() => server.collection.get('kept')?.listToxics().length === 1, 3000, () => 'the toxic');
    const t = Date.now();
    const del = await server.api('DELETE', `/scenarios/runs/${id}`);
    assert.is(del.status, 204, del.text);
    assert.ok(Date.now() - t < 2000, `abort took ${Date.now() - t} ms`);
    const toxics = await server.api('GET', '/proxies/kept/toxics');
    assert.equal(toxics.json, []);
    const run = (await server.api('GET', `/scenarios/runs/${id}`)).json;
    assert.equal([run.status, run.exit_code], ['aborted', 2]);
    assert.equal(run.rollback, { ok: true, errors: [] });
    assert.is(run.windows.length, 1);
    assert.ok(run.windows[0].to_ms <= run.ended_at - run.started_at, 'the window ends by the end of the run');
  } finally {
    await server.close();
  }
});

test('the record survives a restart on a file database', async () => {
  const dir = await tempDir();
  const db = join(dir.dir, 'runs.db');
  try {
    const first = await startServer({ db });
    let id: string;
    try {
      id = (await first.api('POST', '/scenarios/runs', { scenario: scenarioText(upstream.address, 200) })).json.id;
      await waitStatus(first, id, (s) => s !== 'running');
    } finally {
      await first.close();
    }
    const second = await startServer({ db });
    try {
      const run = await second.api('GET', `/scenarios/runs/${id}`);
      assert.is(run.status, 200);
      assert.equal([run.json.status, run.json.title, run.json.steps.length], ['held', 'Short latency', 2]);
      assert.is(run.json.scenario, scenarioText(upstream.address, 200));
      assert.equal((await second.api('GET', '/scenarios/runs')).json.runs.map((r: any) => r.id), [id]);
    } finally {
      await second.close();
    }
  } finally {
    await dir.remove();
  }
});

test('an invalid scenario gets a 400 listing every issue with line:col', async () => {
  const server = await startServer();
  try {
    const bad = 'title: Bad\ntimeline:\n  - {at: soon, heal: all}\n  - {at: 1s, toxic: {proxy: nope, type: latency}}\n';
    const res = await server.api('POST', '/scenarios/runs', { scenario: bad });
    assert.is(res.status, 400, res.text);
    assert.is(res.json.code, 'ERR_INVALID_SCENARIO');
    assert.ok(res.json.issues.length >= 2, res.text);
    for (const issue of res.json.issues) assert.match(issue, /^\d+:\d+: /);
    assert.ok(res.json.issues.some((i: string) => i.startsWith('3:') && i.includes('timeline[0].at')), res.text);
    assert.ok(res.json.issues.some((i: string) => i.startsWith('4:')), res.text);
    assert.is(res.json.error, `invalid scenario: ${res.json.issues.length} issues`);
    const noField = await server.api('POST', '/scenarios/runs', { text: 'x' });
    assert.equal([noField.status, noField.json.code], [400, 'ERR_BAD_BODY']);
    assert.equal((await server.api('GET', '/scenarios/runs')).json.runs, []);
  } finally {
    await server.close();
  }
});

test('scenario:* events reach a client of /events/stream', async () => {
  const server = await startServer();
  const client = await watch(`${server.url.replace('http', 'ws')}/events/stream?kind=scenario:started&kind=scenario:step&kind=scenario:finished`);
  try {
    const id = (await server.api('POST', '/scenarios/runs', { scenario: scenarioText(upstream.address, 200) })).json.id;
    await until(() => client.messages.some((m) => m.kind === 'scenario:finished'), 5000, () => 'scenario:finished');
    const events = client.messages.filter((m) => m.type === 'event');
    assert.ok(events.every((m) => m.event.run === id && m.event.title === 'Short latency'));
    assert.is(events[0].kind, 'scenario:started');
    assert.is(events[0].event.duration_ms, 200);
    const steps = events.filter((m) => m.kind === 'scenario:step').map((m) => [m.event.step, m.event.kind, m.event.revert]);
    assert.equal(steps, [[0, 'toxic', false], [1, 'probe', false], [0, 'toxic', true]]);
    const finished = events[events.length - 1];
    assert.equal([finished.kind, finished.event.status, finished.event.exit_code], ['scenario:finished', 'held', 0]);
  } finally {
    client.ws.close();
    await server.close();
  }
});

test('closing the server aborts running runs and rolls them back', async () => {
  const dir = await tempDir();
  const db = join(dir.dir, 'close.db');
  try {
    const server = await startServer({ db });
    let id: string;
    try {
      await server.proxy('kept', upstream.address);
      id = (await server.api('POST', '/scenarios/runs', { scenario: scenarioText(upstream.address, 60_000, 'kept') })).json.id;
      await until(() => server.collection.get('kept')?.listToxics().length === 1, 3000, () => 'the toxic');
    } finally {
      await server.close();
    }
    const again = await startServer({ db });
    try {
      // The toxic was removed by the rollback (not left to its ttl, which is a minute away).
      assert.equal((await again.api('GET', '/proxies/kept/toxics')).json, []);
      const run = (await again.api('GET', `/scenarios/runs/${id}`)).json;
      assert.equal([run.status, run.exit_code, run.rollback], ['aborted', 2, { ok: true, errors: [] }]);
    } finally {
      await again.close();
    }
  } finally {
    await dir.remove();
  }
});

/** Waits for a toxic on the proxy, then sends `n` one-byte round trips over one connection. */
async function chatter(server: TestServer, proxy: string, port: number, n: number): Promise<void> {
  await until(() => (server.collection.get(proxy)?.listToxics().length ?? 0) > 0, 3000, () => `a toxic on ${proxy}`);
  const socket = await connect(port);
  for (let i = 0; i < n; i++) {
    socket.write('x');
    await readBytes(socket, 1);
  }
  socket.destroy();
}

test('a run that drives another server reads it over its API; rate-limit summaries after the end still count', async () => {
  const a = await startServer();
  const b = await startServer();
  try {
    const portA = await a.proxy('sr-own', upstream.address);
    const portB = await b.proxy('sr-far', upstream.address);
    const text = [
      'title: Far and near',
      `servers: {edge: "${b.url}"}`,
      `proxies: [{name: sr-own, upstream: "${upstream.address}"}, {name: sr-far, upstream: "${upstream.address}", server: edge}]`,
      'timeline:',
      '  - {at: 0s, toxic: {proxy: sr-own, name: bits, type: corrupt, attributes: {probability: 1}}, for: 800ms}',
      '  - {at: 100ms, toxic: {proxy: sr-far, name: bits, type: corrupt, attributes: {probability: 1}}, for: 700ms}',
      '',
    ].join('\n');
    const id = (await a.api('POST', '/scenarios/runs', { scenario: text })).json.id;
    await until(() => (b.collection.get('sr-far')?.listToxics().length ?? 0) > 0, 3000, () => 'the far toxic');
    // Past the bus's 50 events a second per toxic: the rest is folded into a summary, sent
    // once a second, so it may well come after the run has ended.
    await Promise.all([chatter(a, 'sr-own', portA, 120), chatter(b, 'sr-far', portB, 120)]);
    const done = await waitStatus(a, id, (s) => s !== 'running', 8000);
    assert.is(done.status, 'held', done.reason);
    assert.equal(done.event_counts, [{ step: 0, counts: {} }, { step: 1, counts: { corrupted: 240 } }]);
    const window = async (server: TestServer, proxy: string) => {
      const ts = async (kind: string) => (await server.api('GET', `/events?kind=${kind}&proxy=${proxy}`)).json.events[0].ts - done.started_at;
      return [proxy, await ts('toxic:added'), await ts('toxic:removed')];
    };
    assert.equal(done.windows.map((w: any) => [w.proxy, w.from_ms, w.to_ms]), [await window(a, 'sr-own'), await window(b, 'sr-far')]);
    assert.equal([done.observed.default.source, done.observed.edge.source], ['events', 'events']);
    assert.is(done.observed.edge.events_url, `${b.url}/events?since=${done.started_at}&until=${done.ended_at + 1}`);
  } finally {
    await a.close();
    await b.close();
  }
});

test.run();
