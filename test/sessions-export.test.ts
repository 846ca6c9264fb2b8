// A chaos session exported as a scenario file: it validates with no issues, and run by the
// scenario runner against a fresh server it replays the session's actions at their offsets
// (within 50 ms). Hand-made records cover the folding rules: toxics that existed before the
// session, updates in the same millisecond as the add, ttls, deleted and disabled proxies.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lag as fileLag, LagSampler } from './_helpers/lag.js';
import { parse as parseYaml } from 'yaml';
import { echoServer, sleep, startServer, type Upstream } from './_helpers/net.js';
import { parseScenario } from '../src/scenario/parse.js';
import { runScenario } from '../src/scenario/runner.js';
import { exportScenario } from '../src/sessions/export.js';
import type { SessionAction, SessionRecord } from '../src/sessions/record.js';

let echo: Upstream;
test.before(async () => { echo = await echoServer(); });
test.after(async () => { await echo.close(); });

const T0 = Date.parse('2030-01-02T03:04:05.000Z');

test('a recorded session exports as a valid scenario that replays its actions at their offsets, within 50 ms beyond the timer lag', async () => {
  const original = await startServer();
  let yaml: string;
  let json: any;
  let recorded: SessionAction[];
  try {
    await original.proxy('db', echo.address);
    const s = (await original.api('POST', '/sessions', { name: 'replay me' })).json;
    const at = (ms: number) => sleep(Math.max(0, s.started_at + ms - Date.now()));
    const plan: Array<[number, string, string, unknown]> = [
      [100, 'POST', '/proxies/db/toxics', { name: 'lat', type: 'latency', attributes: { latency: 30 } }],
      [250, 'POST', '/proxies/db/toxics/lat', { attributes: { latency: 60 } }],
      [400, 'POST', '/proxies', { name: 'cache', listen: '127.0.0.1:0', upstream: echo.address }],
      // The ttl runs out at 1100, 400 ms from the actions either side, so a busy machine
      // delaying one of them cannot change their order.
      [500, 'POST', '/proxies/cache/toxics', { name: 'cut', type: 'timeout', ttl: 600 }],
      [600, 'POST', '/proxies/db', { enabled: false }],
      [700, 'DELETE', '/proxies/db/toxics/lat', undefined],
      [1500, 'POST', '/proxies/db', { enabled: true }],
      [1600, 'DELETE', '/proxies/cache', undefined],
    ];
    for (const [ms, method, path, body] of plan) {
      await at(ms);
      const res = await original.api(method, path, body);
      assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${res.text}`);
    }
    const sum = (await original.api('POST', `/sessions/${s.id}/stop`)).json;
    recorded = sum.actions;
    const y = await original.api('GET', `/sessions/${s.id}/scenario`);
    assert.is(y.headers.get('content-type'), 'text/yaml; charset=utf-8');
    yaml = y.text;
    const j = await original.api('GET', `/sessions/${s.id}/scenario?format=json`);
    assert.is(j.headers.get('content-type'), 'application/json');
    json = j.json;
  } finally {
    await original.close(); // frees the proxies' ports for the replay
  }
  assert.equal(recorded.map((a) => a.kind), ['toxic:added', 'toxic:updated', 'proxy:created', 'toxic:added', 'proxy:updated',
    'toxic:removed', 'toxic:expired', 'proxy:updated', 'proxy:deleted']);
  const off = (i: number) => recorded[i]!.offset_ms;
  assert.match(yaml, /^# Exported by faultline from chaos session \S+ \("replay me"\) on http:\/\/127\.0\.0\.1:\d+,\n/);
  assert.match(yaml, new RegExp(`\\n  # \\+${(off(8) / 1000).toString().replace('.', '\\.')}s: proxy cache deleted; a scenario has no action for that; skipped\\n`));
  assert.match(yaml, /\n {2}- \{ at: \d+ms, toxic: \{ proxy: db, name: lat, type: latency, stream: downstream, toxicity: 1, attributes: \{ latency: 30, jitter: 0 \} \}, for: \d+ms \}\n/);
  assert.equal(json, parseYaml(yaml), 'the JSON form is the same scenario');

  const fresh = await startServer();
  try {
    const { scenario, issues } = parseScenario(yaml, { defaultServer: fresh.url });
    assert.equal(issues, []);
    assert.equal(scenario!.proxies.map((p) => [p.name, p.upstream, p.protocol]), [['db', echo.address, 'tcp'], ['cache', echo.address, 'tcp']]);
    // The ttl counts from when the server took the request; the action's offset is when the
    // change was on disk and applied, a few ms later, so the exported `for` is what was left.
    const ttlFor = scenario!.timeline[2]!.forMs!;
    assert.ok(ttlFor <= 600 && ttlFor >= 550 - fileLag.worst(), `the ttl step lasts ${ttlFor} ms of its 600`);
    assert.equal(scenario!.timeline.map((st) => [st.action.kind, st.atMs, st.forMs]), [
      ['toxic', off(0), off(5) - off(0)],
      ['update_toxic', off(1), null],
      ['toxic', off(3), ttlFor],
      ['proxy', off(4), null],
      ['proxy', off(7), null],
    ]);
    assert.equal(scenario!.timeline[1]!.action, { kind: 'update_toxic', proxy: 'db', toxic: 'lat', attributes: { latency: 60 } });
    assert.equal(scenario!.timeline.slice(3).map((st) => st.action), [
      { kind: 'proxy', name: 'db', enabled: false }, { kind: 'proxy', name: 'db', enabled: true }]);

    const seen: Array<{ kind: string; proxy: string; toxic: string | null; ts: number }> = [];
    const stop = fresh.events.on('state:changed', (e) => seen.push({ kind: e.kind, proxy: e.proxy, toxic: 'toxic' in e ? e.toxic : null, ts: e.ts }));
    let t0 = 0;
    // Runner and server share this process: drift is judged beyond this process's timer lag.
    const lag = new LagSampler().start();
    const result = await runScenario(scenario!, { out: () => {}, graceMs: 1000, onTimelineStart: (t) => { t0 = t; } });
    lag.stop();
    stop();
    assert.equal([result.status, result.exitCode, result.rollback.ok], ['held', 0, true]);
    const replayable = ['toxic:added', 'toxic:updated', 'toxic:removed', 'toxic:expired', 'proxy:updated'];
    const want = recorded.filter((a) => replayable.includes(a.kind))
      .map((a) => ({ kind: a.kind === 'toxic:expired' ? 'toxic:removed' : a.kind, proxy: a.proxy, toxic: a.toxic, at: a.offset_ms }));
    const got = seen.filter((e) => replayable.includes(e.kind) && e.ts >= t0).slice(0, want.length)
      .map((e) => ({ kind: e.kind, proxy: e.proxy, toxic: e.toxic, at: e.ts - t0 }));
    assert.equal(got.map(({ at: _a, ...rest }) => rest), want.map(({ at: _a, ...rest }) => rest));
    // Each step is issued at its offset, within 50 ms beyond this process's timer lag. When the
    // server then applies it depends on its disk writes too, so the changes' own times are only
    // printed.
    const drift = got.map((g, i) => g.at - want[i]!.at);
    const late = result.steps.map((st) => st.lateMs);
    console.log(`  replay: steps late (ms) ${late.join(', ')}; changes drift (ms) ${drift.join(', ')}; timer lag ${lag.worst()} ms`);
    assert.ok(late.every((ms) => ms >= 0 && ms <= 50 + lag.worst()), `steps late (ms): ${late.join(', ')}; timer lag ${lag.worst()} ms`);
    assert.equal(fresh.collection.list().map((p) => p.name), [], 'the run deleted the proxies it created');
  } finally {
    await fresh.close();
  }
});

/** A hand-made ended session; `start_state` holds db (and whatever `start` adds). */
function record(actions: Array<Partial<SessionAction> & Pick<SessionAction, 'kind' | 'offset_ms'>>, start: SessionRecord['start_state'] = []): SessionRecord {
  const full = actions.map((a) => ({
    proxy: 'db', toxic: null, body: null, control: a.kind !== 'toxic:expired', ts: T0 + a.offset_ms, ...a,
  }));
  return {
    id: 'abc', name: 'hand made', status: 'ended', reason: 'stopped', started_at: T0, ended_at: T0 + 5000,
    action_count: full.length, fault_count: 0, proxies_touched: ['db'], actions: full, actions_dropped: 0, faults: [],
    start_state: [{ name: 'db', listen: '127.0.0.1:7001', upstream: '127.0.0.1:7002', enabled: true, protocol: 'tcp', toxics: [] }, ...start],
  };
}

const lat = (latency: number, extra: Record<string, unknown> = {}) =>
  ({ name: 'lat', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency, jitter: 0 }, ...extra });

function exported(r: SessionRecord): { yaml: string; steps: Array<[string, number, number | null, unknown]> } {
  const out = exportScenario(r, { url: 'http://127.0.0.1:8474', now: T0 + 5000 });
  assert.ok(out !== null, 'something to export');
  const { scenario, issues } = parseScenario(out!.yaml, { defaultServer: 'http://127.0.0.1:8474' });
  assert.equal(issues, [], out!.yaml);
  return { yaml: out!.yaml, steps: scenario!.timeline.map((s) => [s.action.kind, s.atMs, s.forMs, s.action]) };
}

test('a toxic that existed before the session is added at 0s when the session updates or removes it', () => {
  const r = record([
    { kind: 'toxic:updated', offset_ms: 0, toxic: 'lat', body: lat(80) },
    { kind: 'toxic:removed', offset_ms: 1500, toxic: 'lat' },
  ]);
  r.start_state[0]!.toxics = [lat(40), { ...lat(5), name: 'other' }];
  const { yaml, steps } = exported(r);
  assert.equal(steps.map((s) => s.slice(0, 3)), [['toxic', 0, 1500], ['update_toxic', 1, null]]);
  assert.equal(steps[1]![3], { kind: 'update_toxic', proxy: 'db', toxic: 'lat', attributes: { latency: 80 } });
  assert.match(yaml, '  # toxic lat on db existed when the session started\n  - { at: 0s, toxic:');
  assert.match(yaml, '# proxy db also carried toxics the session did not touch: other\n');
});

test('ttls become for (snapped to the ttl asked for), same-millisecond steps stay valid, deletion ends toxics', () => {
  const expires = (ms: number) => new Date(T0 + ms).toISOString();
  const { steps, yaml } = exported(record([
    // Stamped 3 ms after its expiry was set: the ttl of 5s reads as 4997 ms and is snapped back.
    { kind: 'toxic:added', offset_ms: 100, toxic: 'lat', body: lat(10, { expires_at: expires(5097) }) },
    { kind: 'toxic:updated', offset_ms: 100, toxic: 'lat', body: lat(10, { toxicity: 0.5, expires_at: expires(5097) }) },
    { kind: 'toxic:added', offset_ms: 200, toxic: 'gone', body: { ...lat(1), name: 'gone' } },
    { kind: 'toxic:removed', offset_ms: 200, toxic: 'gone' },
    { kind: 'toxic:added', offset_ms: 300, proxy: 'q', toxic: 'cut', body: { ...lat(1), name: 'cut', stream: 'UpStream' } },
    { kind: 'proxy:updated', offset_ms: 350, proxy: 'q', body: { name: 'q', listen: '127.0.0.1:7003', upstream: 'x:1', enabled: true }, changes: {} },
    { kind: 'proxy:deleted', offset_ms: 1250, proxy: 'q' },
    { kind: 'proxy:updated', offset_ms: 2000, changes: { upstream: '127.0.0.1:7009' }, body: {} },
  ], [{ name: 'q', listen: '127.0.0.1:7003', upstream: '127.0.0.1:7004', enabled: false, protocol: 'tcp', toxics: [] }]));
  assert.equal(steps.map((s) => s.slice(0, 3)), [
    ['proxy', 0, null], ['toxic', 100, 5000], ['update_toxic', 101, null], ['toxic', 200, 1],
    ['toxic', 300, 950], ['proxy', 2000, null],
  ]);
  assert.equal(steps[0]![3], { kind: 'proxy', name: 'q', enabled: false });
  assert.equal(steps[2]![3], { kind: 'update_toxic', proxy: 'db', toxic: 'lat', toxicity: 0.5, attributes: {} });
  assert.equal((steps[4]![3] as { stream: string }).stream, 'upstream');
  assert.equal(steps[5]![3], { kind: 'proxy', name: 'db', upstream: '127.0.0.1:7009' });
  assert.match(yaml, '# +350ms: proxy q updated with no change to enabled, upstream or listen; skipped\n');
  assert.match(yaml, '# +1.25s: proxy q deleted; a scenario has no action for that; skipped\n  - { at: 2s, proxy:');
  assert.match(yaml, '# proxy q was disabled when the session started\n');
});

test('an expiry is replayed as the ttl, and a session with nothing replayable exports nothing', () => {
  const { steps } = exported(record([
    { kind: 'toxic:added', offset_ms: 10, toxic: 'lat', body: lat(10, { expires_at: new Date(T0 + 260).toISOString() }) },
    { kind: 'toxic:expired', offset_ms: 263, toxic: 'lat' },
    { kind: 'toxic:expired', offset_ms: 300, toxic: 'older' },
  ]));
  assert.equal(steps.map((s) => s.slice(0, 3)), [['toxic', 10, 250]]);
  const empty = record([{ kind: 'proxy:deleted', offset_ms: 5 }, { kind: 'toxic:expired', offset_ms: 9, toxic: 'x' }]);
  assert.is(exportScenario(empty, { url: 'u', now: T0 }), null);
});

test.run();
