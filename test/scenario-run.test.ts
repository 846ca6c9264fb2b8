// The scenario runner against an in-process faultline over its REST API: rollback under every
// exit (held, deviated, halted, error, abort, kill -9 via the ttls), could-not-start cases,
// `for` reverts, partitions and timeline accuracy.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LagSampler } from './_helpers/lag.js';
import { echoServer, startServer, type TestServer, type Upstream } from './_helpers/net.js';
import {
  closedAddress, delay, httpProbe, httpService, proxy, recordChanges, run, scenario, step, tcpProbe, toxic, toxicsOn, type HttpService,
} from './_helpers/scenario.js';
import { runScenario } from '../src/scenario/runner.js';

let fl: TestServer;
let echo: Upstream;
let web: HttpService;
const lates: number[] = [];
const noted = <R extends { steps: Array<{ lateMs: number }> }>(r: R): R => { for (const s of r.steps) lates.push(s.lateMs); return r; };

// The runner shares this process with the server and the services: how late its steps fire is
// judged beyond how late this process's own timers ran (the machine's load), sampled throughout.
const lag = new LagSampler();

test.before(async () => { lag.start(); [fl, echo, web] = await Promise.all([startServer(), echoServer(), httpService()]); });
test.after(async () => { lag.stop(); await Promise.all([fl.close(), echo.close(), web.close()]); });

test('a run that holds: exit 0, and nothing the run added or created is left', async () => {
  const bPort = await fl.proxy('b', echo.address);
  const r = run(scenario(fl.url, {
    proxies: [proxy('a', echo.address), proxy('b', 'ignored:1')],
    steadyState: { duringMs: 50, probes: [tcpProbe('b-up', `127.0.0.1:${bPort}`)] },
    timeline: [
      step(0, toxic('a', 'lat')),
      step(50, toxic('b', 'slow', { latency: 5 }), 100),
      step(100, { kind: 'update_toxic', proxy: 'a', toxic: 'lat', attributes: { latency: 20 } }),
      step(200, { kind: 'probe', probe: tcpProbe('after', echo.address) }),
    ],
  }));
  const mid = r.line(/step 2 update_toxic/).then(() => fl.api('GET', '/proxies/a/toxics/lat'));
  const result = noted(await r.result);
  assert.equal([result.exitCode, result.status, result.reason], [0, 'held', 'the steady state held']);
  assert.equal(result.steps.map((x) => [x.index, x.ok]), [[0, true], [1, true], [2, true], [3, true]]);
  const during = await mid;
  assert.is(during.json.attributes.latency, 20);
  // The update extended the ttl to the end (200 ms) plus the grace (2000 ms).
  const ttl = Date.parse(during.json.expires_at) - Date.now();
  assert.ok(ttl > 1700 - lag.worst() && ttl <= 2200, `ttl left ${ttl} (timer lag ${lag.worst()} ms)`);
  assert.ok(result.probes.some((p) => p.phase === 'during' && p.ok), 'during probes ran');
  assert.equal(result.probes.filter((p) => p.phase !== 'during').map((p) => [p.phase, p.probe, p.ok]),
    [['before', 'b-up', true], ['step', 'after', true], ['after', 'b-up', true]]);
  assert.equal(result.rollback, { ok: true, errors: [] });
  assert.is((await fl.api('GET', '/proxies/a')).status, 404, 'the proxy the run created is deleted');
  const b = await fl.api('GET', '/proxies/b');
  assert.equal([b.json.listen, b.json.upstream, b.json.toxics], [`127.0.0.1:${bPort}`, echo.address, []]);
  await fl.api('DELETE', '/proxies/b');
});

test('`for` reverts toxics and proxy fields at the right time', async () => {
  const port = await fl.proxy('f', echo.address);
  const rec = recordChanges(fl);
  const r = run(scenario(fl.url, {
    timeline: [
      step(0, toxic('f', 'brief'), 300),
      step(100, { kind: 'proxy', name: 'f', enabled: false, upstream: '127.0.0.1:9' }, 200),
      step(500, { kind: 'probe', probe: tcpProbe('f', `127.0.0.1:${port}`) }),
    ],
  }));
  const t0 = await r.timelineStart;
  await delay(200);
  const mid = await fl.api('GET', '/proxies/f');
  const result = noted(await r.result);
  rec.stop();
  assert.is(result.exitCode, 0, result.reason);
  assert.equal([mid.json.enabled, mid.json.upstream, mid.json.toxics.length], [false, '127.0.0.1:9', 1]);
  const removed = rec.changes.find((c) => c.kind === 'toxic:removed' && c.toxic === 'brief');
  const updates = rec.changes.filter((c) => c.kind === 'proxy:updated').map((c) => Math.round(c.at - t0));
  assert.ok(removed !== undefined, 'the toxic was removed');
  const removedAt = removed.at - t0;
  assert.ok(removedAt >= 295 && removedAt < 360 + lag.worst(), `toxic removed at +${removedAt.toFixed(1)}ms, expected ~300 (timer lag ${lag.worst()} ms)`);
  assert.is(updates.length, 2, `proxy updates at ${updates.join(', ')}`);
  const slack = lag.worst();
  assert.ok(updates[0]! >= 95 && updates[0]! < 160 + slack && updates[1]! >= 295 && updates[1]! < 360 + slack, `proxy updates at ${updates} (timer lag ${slack} ms)`);
  const after = await fl.api('GET', '/proxies/f');
  assert.equal([after.json.enabled, after.json.upstream, after.json.toxics], [true, echo.address, []]);
  await fl.api('DELETE', '/proxies/f');
});

test('deviation: probes failing during and after the timeline give exit 1, rolled back', async () => {
  const port = await fl.proxy('w', `127.0.0.1:${web.port}`);
  const probe = httpProbe('web', `http://127.0.0.1:${port}/`, { maxLatencyMs: 100, body: /^ok$/ });
  // Latency reverted before the end: only the `during` check sees it.
  const during = noted(await run(scenario(fl.url, {
    steadyState: { duringMs: 80, probes: [probe] },
    timeline: [step(0, toxic('w', 'lat', { latency: 250 }), 300), step(400, { kind: 'probe', probe: tcpProbe('w', `127.0.0.1:${port}`) })],
  })).result);
  assert.equal([during.exitCode, during.status], [1, 'deviated'], during.reason);
  assert.match(during.reason, /^steady state failed during the timeline: probe web: took \d+(\.\d)?ms, over the 100ms bound/);
  // Latency left in place at the end: the check after the timeline fails.
  const after = noted(await run(scenario(fl.url, {
    steadyState: { duringMs: null, probes: [probe] },
    timeline: [step(0, toxic('w', 'lat', { latency: 250 })), step(100, { kind: 'probe', probe: tcpProbe('w', `127.0.0.1:${port}`) })],
  })).result);
  assert.is(after.exitCode, 1, after.reason);
  assert.match(after.reason, /^steady state failed after the timeline: probe web: took/);
  assert.equal(after.probes.map((p) => [p.phase, p.ok, p.value]), [['before', true, 200], ['step', true, 'connected'], ['after', false, 200]]);
  assert.ok(after.probes[2]!.latencyMs >= 245, `after probe took ${after.probes[2]!.latencyMs}ms`);
  assert.equal([during.rollback.ok, after.rollback.ok], [true, true]);
  assert.equal(await toxicsOn(fl, ['w']), []);
  await fl.api('DELETE', '/proxies/w');
});

test('halt: a halt_when probe failing for failing_for stops the run at once and rolls back', async () => {
  const port = await fl.proxy('h', echo.address);
  const r = run(scenario(fl.url, {
    haltWhen: [{ probe: tcpProbe('h', `127.0.0.1:${port}`), failingForMs: 300 }],
    timeline: [step(0, toxic('h', 'lat')), step(100, { kind: 'proxy', name: 'h', enabled: false }), step(5000, { kind: 'heal', proxy: null })],
  }));
  const t0 = await r.timelineStart;
  const result = noted(await r.result);
  const took = performance.now() - t0;
  assert.equal([result.exitCode, result.status], [2, 'halted'], result.reason);
  assert.match(result.reason, /^halt_when: probe h failed continuously for \d+ms \(failing_for 300ms\): connect ECONNREFUSED/);
  // Failing from ~100 ms, halted ~300 ms later, give or take a probe interval (75 ms).
  assert.ok(took >= 390 && took < 900 + lag.worst(), `halted after ${took.toFixed(0)}ms (timer lag ${lag.worst()} ms)`);
  assert.equal(result.steps.map((x) => x.index), [0, 1]);
  const h = await fl.api('GET', '/proxies/h');
  assert.equal([h.json.enabled, h.json.toxics], [true, []]);
  await fl.api('DELETE', '/proxies/h');
});

test('error: a step whose API call fails stops the run, and the rollback still happens', async () => {
  await Promise.all([fl.proxy('e1', echo.address), fl.proxy('e2', echo.address)]);
  const r = run(scenario(fl.url, {
    timeline: [
      step(0, toxic('e1', 'lat')), step(0, toxic('e2', 'lat')),
      step(150, { kind: 'update_toxic', proxy: 'e1', toxic: 'lat', attributes: { latency: 50 } }),
      step(3000, { kind: 'heal', proxy: null }),
    ],
  }));
  await r.line(/step 1 toxic/);
  await fl.api('DELETE', '/proxies/e1');
  const result = noted(await r.result);
  assert.equal([result.exitCode, result.status], [1, 'error']);
  assert.is(result.reason, 'step 2 update_toxic (line 0) failed: HTTP 404: proxy not found');
  assert.equal(result.steps.map((x) => [x.index, x.ok, x.error]), [[0, true, undefined], [1, true, undefined], [2, false, 'HTTP 404: proxy not found']]);
  assert.equal(result.rollback, { ok: true, errors: [] });
  assert.equal(await toxicsOn(fl, ['e2']), []);
  await fl.api('DELETE', '/proxies/e2');
});

test('existing toxics come back; a server lost mid-run fails its rollback loudly, the others still roll back', async () => {
  const edge = await startServer();
  await fl.proxy('r', echo.address);
  await edge.proxy('r2', echo.address);
  await fl.toxic('r', { name: 'old', type: 'latency', attributes: { latency: 10 } });
  await fl.toxic('r', { name: 'old2', type: 'noop', toxicity: 0.5 });
  const r = run(scenario(fl.url, {
    servers: { default: fl.url, edge: edge.url },
    proxies: [{ ...proxy('r2', 'x:1'), server: 'edge' }],
    timeline: [
      step(0, { kind: 'update_toxic', proxy: 'r', toxic: 'old', attributes: { latency: 99 } }),
      step(0, { kind: 'remove_toxic', proxy: 'r', toxic: 'old2' }),
      step(0, toxic('r2', 'lat')), step(0, toxic('r', 'new')), step(200, { kind: 'heal', proxy: 'nothing' }),
    ],
  }));
  await r.line(/step 3 toxic/);
  assert.equal((await edge.api('GET', '/proxies/r2/toxics')).json.map((t: { name: string }) => t.name), ['lat']);
  await edge.close();
  const result = noted(await r.result);
  assert.equal([result.exitCode, result.status, result.rollback.ok], [1, 'error', false]);
  assert.equal(result.rollback.errors.length, 1);
  assert.match(result.rollback.errors[0]!, /^could not remove toxic lat from r2 on server edge: cannot reach http:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/);
  assert.ok(r.lines.some((l) => l.startsWith('ROLLBACK FAILED: could not remove toxic lat from r2')), r.lines.join('\n'));
  assert.match(result.reason, /^the timeline completed; ROLLBACK FAILED: could not remove toxic lat/);
  const left = (await fl.api('GET', '/proxies/r/toxics')).json.map((t: any) => [t.name, t.type, t.toxicity, t.attributes]);
  assert.equal(left.sort(), [['old', 'latency', 1, { latency: 10, jitter: 0 }], ['old2', 'noop', 0.5, {}]]);
  await fl.api('DELETE', '/proxies/r');
});

test('abort (as SIGINT): rolled back within 1 s, created proxies deleted', async () => {
  const ac = new AbortController();
  const r = run(scenario(fl.url, {
    proxies: [proxy('x', echo.address, { from: 'a', to: 'b' })],
    timeline: [step(0, toxic('x', 'lat')), step(0, { kind: 'partition', groups: [['a'], ['b']], oneway: false }), step(5000, { kind: 'heal', proxy: null })],
  }), { signal: ac.signal });
  await r.line(/step 1 partition/);
  assert.equal(await toxicsOn(fl, ['x']), ['x:downstream:lat', 'x:downstream:scenario_partition_1_downstream', 'x:upstream:scenario_partition_1_upstream']);
  const aborted = performance.now();
  ac.abort();
  const result = noted(await r.result);
  const took = performance.now() - aborted;
  console.log(`scenario abort: rolled back in ${took.toFixed(1)} ms`);
  assert.ok(took < 1000 + lag.worst(), `took ${took}ms (timer lag ${lag.worst()} ms)`);
  assert.equal([result.exitCode, result.status, result.rollback.ok], [2, 'aborted', true]);
  assert.is((await fl.api('GET', '/proxies/x')).status, 404);
});

test('could not start: a failing steady state injects nothing; an unreachable server stops everything', async () => {
  await fl.proxy('s', echo.address);
  const rec = recordChanges(fl);
  const dead = await closedAddress();
  const ss = await run(scenario(fl.url, {
    proxies: [proxy('s2', echo.address)],
    steadyState: { duringMs: null, probes: [tcpProbe('db', dead)] },
    timeline: [step(0, toxic('s', 'lat')), step(0, { kind: 'proxy', name: 's', enabled: false })],
  })).result;
  assert.equal([ss.exitCode, ss.status, ss.steps], [4, 'not_started', []]);
  assert.match(ss.reason, /^steady state failed before the timeline \(nothing injected\): probe db: connect ECONNREFUSED/);
  const unreachable = await run(scenario(fl.url, {
    servers: { default: fl.url, edge: `http://${dead}` },
    proxies: [proxy('s3', echo.address)],
    timeline: [step(0, toxic('s', 'lat'))],
  })).result;
  rec.stop();
  assert.equal([unreachable.exitCode, unreachable.status], [4, 'not_started']);
  assert.match(unreachable.reason, new RegExp(`^server edge unreachable: cannot reach http://${dead}: connect ECONNREFUSED`));
  // Only the proxy the first run created, then deleted: no toxic, no proxy change.
  assert.equal(rec.changes.map((c) => `${c.kind} ${c.proxy}`), ['proxy:created s2', 'proxy:deleted s2']);
  await fl.api('DELETE', '/proxies/s');
});

test('partitions cut the right streams: oneway, then both ways', async () => {
  const names = ['p_ab', 'p_ba', 'p_ac', 'p_bc', 'p_x'];
  const s = scenario(fl.url, {
    proxies: [
      proxy('p_ab', echo.address, { from: 'a', to: 'b' }), proxy('p_ba', echo.address, { from: 'b', to: 'a' }),
      proxy('p_ac', echo.address, { from: 'a', to: 'c' }), proxy('p_bc', echo.address, { from: 'b', to: 'c' }),
      proxy('p_x', echo.address),
    ],
    timeline: [
      step(0, { kind: 'partition', groups: [['a'], ['b']], oneway: true }, 200),
      step(300, { kind: 'partition', groups: [['a'], ['b', 'c']], oneway: false }),
      step(450, { kind: 'probe', probe: tcpProbe('e', echo.address) }),
    ],
  });
  const r = run(s);
  // Looked at once each step has been applied (its line printed), not at fixed times: a busy
  // machine may run the steps late, never out of order.
  await r.line(/\] step 0 partition .* ok$/);
  const oneway = await toxicsOn(fl, names);
  await r.line(/\] step 1 partition .* ok$/);
  const both = await toxicsOn(fl, names);
  const result = noted(await r.result);
  assert.is(result.exitCode, 0, result.reason);
  assert.equal(oneway, ['p_ab:upstream:scenario_partition_0_upstream', 'p_ba:downstream:scenario_partition_0_downstream']);
  assert.equal(both, ['ab', 'ba', 'ac'].flatMap((p) => [
    `p_${p}:downstream:scenario_partition_1_downstream`, `p_${p}:upstream:scenario_partition_1_upstream`]).sort());
  for (const n of names) assert.is((await fl.api('GET', `/proxies/${n}`)).status, 404, `${n} deleted`);
});

test('timeline accuracy: every step fires within 50 ms of its offset beyond the timer lag, never early', async () => {
  // A proxy each: steps on one proxy wait for the one before (its change must be on disk), and
  // that wait is the disk's, not the scheduler's.
  for (let i = 0; i < 12; i++) await fl.proxy(`t${i}`, echo.address);
  const timeline = Array.from({ length: 12 }, (_, i) => step(i * 40, toxic(`t${i}`, `n${i}`, {}, 'noop')));
  const result = noted(await run(scenario(fl.url, { timeline })).result);
  assert.is(result.exitCode, 0, result.reason);
  assert.is(result.steps.length, 12);
  for (const s of result.steps) {
    assert.ok(s.firedAtMs >= s.atMs, `step ${s.index} fired early: ${s.firedAtMs} < ${s.atMs}`);
    assert.ok(s.lateMs < 50 + lag.worst(), `step ${s.index} ${s.lateMs}ms late, timer lag ${lag.worst()} ms`);
  }
  assert.equal(await toxicsOn(fl, Array.from({ length: 12 }, (_, i) => `t${i}`)), []);
  for (let i = 0; i < 12; i++) await fl.api('DELETE', `/proxies/t${i}`);
  const sorted = [...lates].sort((a, b) => a - b);
  // The file's other runs put several steps on one proxy, and a step waits for the change
  // before it to be on disk: their lateness includes the disk's, so it is reported, not judged.
  console.log(`scenario steps: max late ${sorted.at(-1)} ms, median ${sorted[sorted.length >> 1]} ms over ${sorted.length} steps; worst timer lag ${lag.worst()} ms`);
});

test('embedded: the run starts and closes its own server, used as `default`', async () => {
  const r = await runScenario(scenario('http://unused.invalid', {
    proxies: [proxy('emb', echo.address)], timeline: [step(0, toxic('emb', 'lat'))],
  }), { embedded: true, startEmbedded: () => startServer(), out: () => {} });
  assert.is(r.exitCode, 0, r.reason);
  assert.match(r.servers.default!, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.is((await fetch(`${r.servers.default}/version`).catch(() => null)), null, 'the embedded server is closed');
});

test('kill -9 mid-run: the ttls heal the server by themselves', async () => {
  await fl.proxy('k', echo.address);
  const script = fileURLToPath(new URL('./_helpers/scenario-child.js', import.meta.url));
  const child = spawn(process.execPath, [script, fl.url, 'k', '300'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); if (/step 1 partition/.test(output)) resolve(); });
    child.once('exit', () => reject(new Error(`child exited early:\n${output}`)));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const killedAt = performance.now();
  const left = await fl.api('GET', '/proxies/k/toxics');
  assert.equal(left.json.map((t: { name: string }) => t.name).sort(), ['scenario_partition_1_upstream', 'slow']);
  // Planned end 1000 ms + grace 300 ms from their start; nothing removes them but the ttls.
  const expiry = Math.max(...left.json.map((t: { expires_at: string }) => Date.parse(t.expires_at) - Date.now()));
  assert.ok(expiry > 900 && expiry <= 1300, `expires in ${expiry}ms`);
  while ((await toxicsOn(fl, ['k'])).length > 0 && performance.now() - killedAt < 3000) await delay(25);
  const healed = performance.now() - killedAt;
  console.log(`scenario kill -9: server healed ${healed.toFixed(0)} ms after the kill (ttl left ${expiry} ms)`);
  assert.equal(await toxicsOn(fl, ['k']), []);
  assert.ok(healed >= expiry - 100 && healed < expiry + 500, `healed after ${healed}ms, expiry ${expiry}ms`);
  await fl.api('DELETE', '/proxies/k');
});

test.run();
