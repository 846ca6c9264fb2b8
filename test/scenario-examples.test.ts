// The shipped game-day examples (scenarios/), run as a user runs them: `faultline run FILE
// --url <server>` in a child process, against small services this test starts on loopback,
// behind proxies it creates first (the runner leaves existing proxies as they are), with every
// variable the file reads set to their ephemeral addresses. After each run: the exit code and
// key lines designed for it, no toxic left, the proxies as they were. Here: every file
// standalone, the retry storm and the slow dependency; the handoff and the partitions are in
// scenario-examples-routing.test.ts, the DNS TTL move in scenario-examples-dns.test.ts.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { cli } from './_helpers/cli.js';
import { portOf, sleep, startServer, type TestServer } from './_helpers/net.js';
import {
  chainService, envNames, get, kvApi, kvServer, load, offset, proxyState, runExample, SCENARIOS as DIR,
} from './_helpers/services.js';

const text = (name: string) => readFileSync(DIR + name, 'utf8');

const EXAMPLES: Array<[file: string, validated: string, planned: RegExp]> = [
  ['retry-storm.yaml', 'ok: Retry storm (1 step, 6.5s)', /^ {2}mid-to-bottom@default {2}http {2}127\.0\.0\.1:18083 -> 127\.0\.0\.1:8083 {2}labels mid -> bottom$/m],
  ['grpc-unavailable.yaml', 'ok: gRPC unavailable, then slow (2 steps, 3.5s)', /^ {2}\+0\.300s {2}add toxic unavailable \(http_abort, downstream, toxicity 0\.33\) on grpc-service@default/m],
  ['dns-ttl-move.yaml', 'ok: DNS TTL move (11 steps, 4.9s)', /^ {2}\+0\.500s {2}add toxic moved \(dns_answer, downstream, toxicity 1\) on resolver@default {2}\{addresses: \["127\.0\.0\.3"\], ttl: 300, name: "catalog\.lab"\}$/m],
  ['upstream-handoff.yaml', 'ok: Upstream handoff (4 steps, 1.9s)', /^ {2}\+1\.000s {2}change proxy catalog@default: upstream 127\.0\.0\.1:8090$/m],
  ['slow-dependency.yaml', 'ok: Slow dependency (3 steps, 3.5s)', /api-latency {3}http GET http:\/\/127\.0\.0\.1:8080\/items\/greeting: status 200, latency <= 300ms/],
  ['replica-partition.yaml', 'ok: Replica partition (5 steps, 2.4s)', /partition \[n3\] \| \[n1, n2\]: cut n1-to-n3@default \(upstream, downstream\)/],
  ['replica-partition-oneway.yaml', 'ok: Replica partition, one way (5 steps, 2.4s)',
    /partition \[n3\] -> \[n1, n2\] \(oneway\): cut n1-to-n3@default \(downstream\), n2-to-n3@default \(downstream\), n3-to-n1@default \(upstream\), n3-to-n2@default \(upstream\)$/m],
];

let fl: TestServer;
/** What a test opened, closed after it whether it passed or not. */
const opened: Array<() => Promise<unknown>> = [];
test.before(async () => { fl = await startServer(); });
test.after.each(async () => { await Promise.all(opened.splice(0).map((close) => close())); });
test.after(async () => { await fl.close(); });

test('every example validates and dry-runs on its own defaults, and documents the variables it reads', async () => {
  const readme = readFileSync(`${DIR}README.md`, 'utf8');
  const results = await Promise.all(EXAMPLES.map(([file]) =>
    Promise.all([cli(['validate', DIR + file]), cli(['run', DIR + file, '--dry-run'])])));
  EXAMPLES.forEach(([file, validated, planned], i) => {
    const [v, dry] = results[i]!;
    assert.equal([v.code, v.stdout, v.stderr], [0, `${validated}\n`, ''], file);
    assert.is(dry.code, 0, `${file}: ${dry.stderr}`);
    assert.match(dry.stdout, planned, file);
    const source = text(file);
    const lines = source.split('\n');
    const header = lines.slice(0, lines.findIndex((l) => !l.startsWith('#'))).join('\n');
    assert.match(header, /Durations are scaled down for a quick run/, `${file} says how to lengthen it`);
    const names = envNames(source);
    assert.ok(names.length >= 4, `${file} reads ${names.join(', ')}`);
    for (const name of names) {
      assert.ok(header.includes(name), `${file}'s header comment documents ${name}`);
      assert.ok(readme.includes(name), `scenarios/README.md documents ${name}`);
    }
    assert.ok(readme.includes(`scenarios/${file}`), `scenarios/README.md lists ${file}`);
  });
});

test('retry storm: amplification over budget halts the run (exit 2), and the storm stops', async () => {
  const bottom = await chainService('bottom');
  const created = await fl.api('POST', '/proxies', { name: 'mid-to-bottom', listen: '127.0.0.1:0', upstream: `127.0.0.1:${bottom.port}`, protocol: 'http' });
  assert.is(created.status, 201, created.text);
  const proxyPort = portOf(created.json.listen);
  const mid = await chainService('mid', `http://127.0.0.1:${proxyPort}`, 3);
  const top = await chainService('top', mid.url, 3);
  const before = await proxyState(fl, 'mid-to-bottom');
  const clients = load(`${top.url}/work`, 40);
  opened.push(() => clients.stop(), top.close, mid.close, bottom.close, () => fl.api('DELETE', '/proxies/mid-to-bottom'));
  await sleep(300);
  const r = await runExample(fl, 'retry-storm.yaml', {
    TOP_ADDRESS: `127.0.0.1:${top.port}`, BOTTOM_ADDRESS: `127.0.0.1:${bottom.port}`, BOTTOM_PROXY: `127.0.0.1:${proxyPort}`,
    AMPLIFICATION_BUDGET: '1.5', PROBES_DIR: `${DIR}probes`,
  });
  const sent = clients.sent;
  const failed = clients.failed;
  assert.is(r.code, 2, r.stdout + r.stderr);
  assert.match(r.line(/steady state \(before\) amplification-normal/), /amplification-normal ok 0 in/);
  assert.match(r.line(/step 0 toxic/), /^\[\+0\.\d{3}s\] step 0 toxic flaky-bottom on mid-to-bottom: added http_abort downstream, ttl \d+ms ok$/);
  const halt = r.line(/HALT:/);
  const m = /HALT: halt_when: probe amplification failed continuously for \d+ms \(failing_for 1000ms\): exit code 1, expected 0: amplification (\d+\.\d\d)x \((\d+) calls at bottom for (\d+) at top, last 1s\), over the 1\.5x budget$/.exec(halt);
  assert.ok(m !== null, halt);
  assert.ok(Number(m![1]) > 1.5 && Number(m![3]) >= 15, `amplification ${m![1]}x over ${m![3]} calls at the top`);
  // The fault starts at 0.5 s and the probe must fail for 1 s: a halt long before the 6.5 s end.
  assert.ok(offset(halt) >= 1500 && offset(halt) < 4500, halt);
  assert.match(r.line(/^verdict:/), /^verdict: halted \(exit 2\): halt_when: probe amplification failed continuously/);
  assert.match(r.line(/^rollback:/), /^rollback: ok, 1 change undone in \d+ms$/);
  // The retries hid the resets from the clients: hardly any of them saw a failure.
  assert.ok(sent >= 60 && failed <= sent * 0.05, `${failed} of ${sent} client requests failed`);
  assert.equal(await proxyState(fl, 'mid-to-bottom'), before);
  // A window after the rollback, one call at the top is one at the bottom again.
  await sleep(1100);
  const ratio = bottom.recent() / top.recent();
  assert.ok(ratio > 0.8 && ratio < 1.25, `amplification after the rollback ${ratio} (${bottom.recent()} / ${top.recent()})`);
});

test('slow dependency: the ramp breaks the latency budget at 500 ms, not before (exit 1), then heals', async () => {
  const kv = await kvServer({ greeting: 'hello' });
  const kvPort = await fl.proxy('kv', kv.address);
  const api = await kvApi(`127.0.0.1:${kvPort}`);
  opened.push(api.close, kv.close, () => fl.api('DELETE', '/proxies/kv'));
  assert.equal(await get(`${api.url}/items/greeting`), { status: 200, body: 'hello\n' });
  const before = await proxyState(fl, 'kv');
  const r = await runExample(fl, 'slow-dependency.yaml', {
    API_URL: api.url, KV_PROXY: `127.0.0.1:${kvPort}`, KV_ADDRESS: kv.address, LATENCY_BUDGET: '300ms',
  });
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.line(/step 0 toxic/), /slow-kv on kv: added latency downstream, ttl \d+ms ok$/);
  assert.match(r.line(/step 1 update_toxic/), /^\[\+1\.\d{3}s\] step 1 update_toxic slow-kv on kv: latency=100, ttl \d+ms ok$/);
  const last = r.line(/step 2 update_toxic/);
  assert.match(last, /^\[\+2\.\d{3}s\] step 2 update_toxic slow-kv on kv: latency=500, ttl \d+ms ok$/);
  // Checks every 250 ms: about 7 with the database at 20 and 100 ms, which keep to the budget
  // (one may fail if the machine stalls), then the ones at 500 ms, which cannot.
  const checks = r.lines.filter((l) => /steady state \(during\) api-latency/.test(l));
  const early = checks.filter((l) => r.lines.indexOf(l) < r.lines.indexOf(last));
  const late = checks.filter((l) => r.lines.indexOf(l) > r.lines.indexOf(last));
  assert.ok(early.length >= 5 && early.filter((l) => / FAILED /.test(l)).length <= 1, `the budget held at 20 and 100 ms:\n${checks.join('\n')}`);
  const took = late.map((l) => Number(/ FAILED 200 in [\d.]+ms: took ([\d.]+)ms, over the 300ms bound$/.exec(l)?.[1] ?? 0));
  assert.ok(took.some((ms) => ms >= 490), `a check at 500 ms broke the budget:\n${checks.join('\n')}`);
  assert.match(r.line(/^verdict:/), /^verdict: deviated \(exit 1\): steady state failed during the timeline: probe api-latency: took [\d.]+ms, over the 300ms bound$/);
  assert.match(r.line(/revert step 0 toxic/), /^\[\+3\.\d{3}s\] revert step 0 toxic: removed toxic slow-kv from kv$/);
  assert.match(r.line(/steady state \(after\) api-latency/), / api-latency ok 200 in [\d.]+ms$/);
  assert.match(r.line(/^rollback:/), /^rollback: ok, 0 changes undone/);
  assert.equal(await proxyState(fl, 'kv'), before);
});

test.run();
