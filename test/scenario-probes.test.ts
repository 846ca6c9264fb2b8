// Scenario probes on real loopback sockets: tcp, http and exec, each succeeding and failing in
// each way it can, with the value observed and the latency measured.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { echoServer, type Upstream } from './_helpers/net.js';
import { closedAddress, execProbe, httpProbe, httpService, tcpProbe, type HttpService } from './_helpers/scenario.js';
import { describeProbe, MATCH_TIMEOUT_MS, runProbe, splitAddress } from '../src/scenario/probes.js';

let echo: Upstream;
let web: HttpService;
let dead: string;

test.before(async () => {
  echo = await echoServer();
  web = await httpService();
  dead = await closedAddress();
});
test.after(async () => {
  await echo.close();
  await web.close();
});

const within = (ms: number, lo: number, hi: number, what: string) => assert.ok(ms >= lo && ms < hi, `${what}: ${ms}ms not in [${lo}, ${hi})`);

test('tcp: connected, with its latency; refused names the error', async () => {
  const before = Date.now();
  const ok = await runProbe(tcpProbe('db', echo.address));
  assert.equal([ok.probe, ok.ok, ok.value, ok.reason], ['db', true, 'connected', undefined]);
  within(ok.latencyMs, 0, 200, 'connect latency');
  assert.ok(ok.ts >= before && ok.ts <= Date.now(), 'ts is the epoch time it started');
  const refused = await runProbe(tcpProbe('db', dead));
  assert.equal([refused.ok, refused.value, refused.reason], [false, 'ECONNREFUSED', `connect ECONNREFUSED ${dead}`]);
  const bad = await runProbe(tcpProbe('db', 'nonsense'));
  assert.equal([bad.ok, bad.value, bad.reason], [false, 'error', 'bad address "nonsense": expected host:port']);
});

test('tcp: an abort ends the probe; ts comes from the injected clock', async () => {
  const ac = new AbortController();
  ac.abort();
  const aborted = await runProbe(tcpProbe('db', echo.address), { signal: ac.signal, now: () => 42 });
  assert.equal([aborted.ok, aborted.value, aborted.ts, aborted.reason], [false, 'aborted', 42, 'the run is stopping']);
});

test('http: status, body and latency pass; the value is the status code', async () => {
  web.set({ status: 200, body: 'all ok', delayMs: 60 });
  const ok = await runProbe(httpProbe('health', `${web.url}/health`, { body: /ok$/, maxLatencyMs: 1000 }));
  assert.equal([ok.ok, ok.value, ok.reason], [true, 200, undefined]);
  within(ok.latencyMs, 58, 400, 'http latency with a 60 ms server delay');
  // No status given: any 2xx passes.
  web.set({ status: 204, body: '', delayMs: 0 });
  const any = await runProbe(httpProbe('health', web.url, { status: null }));
  assert.equal([any.ok, any.value], [true, 204]);
});

test('http: wrong status, body mismatch, over the latency bound', async () => {
  web.set({ status: 503, body: 'down', delayMs: 0 });
  const status = await runProbe(httpProbe('health', web.url));
  assert.equal([status.ok, status.value, status.reason], [false, 503, 'status 503, expected 200']);
  const anyStatus = await runProbe(httpProbe('health', web.url, { status: null }));
  assert.equal([anyStatus.ok, anyStatus.reason], [false, 'status 503, expected 2xx']);
  web.set({ status: 200, body: 'degraded', delayMs: 0 });
  const body = await runProbe(httpProbe('health', web.url, { body: /^ok/ }));
  assert.equal([body.ok, body.value, body.reason], [false, 200, 'body does not match /^ok/: "degraded"']);
  web.set({ status: 200, body: 'ok', delayMs: 120 });
  const slow = await runProbe(httpProbe('health', web.url, { maxLatencyMs: 50 }));
  assert.equal([slow.ok, slow.value], [false, 200]);
  assert.match(slow.reason!, /^took \d+(\.\d)?ms, over the 50ms bound$/);
  within(slow.latencyMs, 118, 500, 'slow response latency');
});

test('a regex that backtracks without end fails the probe after its time bound instead of holding the process', async () => {
  web.set({ status: 200, body: `${'a'.repeat(40)}b`, delayMs: 0 });
  const started = Date.now();
  // 2^40 ways to split the a's: hours of backtracking for V8 without the bound.
  const body = await runProbe(httpProbe('health', web.url, { body: /^(a+)+$/ }));
  const stdout = await runProbe(execProbe('out', `printf 'a%.0s' $(seq 40); echo b`, { stdout: /^(a+)+$/ }));
  web.set({ status: 200, body: 'ok', delayMs: 0 });
  const reason = (re: string) => `could not be tested: ${re} ran over ${MATCH_TIMEOUT_MS}ms (it backtracks too much; simplify it)`;
  assert.equal([body.ok, body.value, body.reason], [false, 200, `body ${reason('/^(a+)+$/')}`]);
  assert.equal([stdout.ok, stdout.value, stdout.reason], [false, 0, `stdout ${reason('/^(a+)+$/')}`]);
  assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started}ms`);
  const fine = await runProbe(httpProbe('health', web.url, { body: /^(o+)+k$/ }));
  assert.is(fine.ok, true, 'the sandboxed test still matches');
});

test('http: a timeout ends the request at the timeout; refused names the error', async () => {
  web.set({ status: 200, body: 'ok', delayMs: 1000 });
  const slow = await runProbe(httpProbe('health', web.url, { timeoutMs: 150 }));
  assert.equal([slow.ok, slow.value, slow.reason], [false, 'timeout', 'no complete response within 150ms']);
  within(slow.latencyMs, 148, 400, 'timeout latency');
  const refused = await runProbe(httpProbe('health', `http://${dead}/`));
  assert.equal([refused.ok, refused.value], [false, 'ECONNREFUSED']);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  const aborted = await runProbe(httpProbe('health', web.url), { signal: ac.signal });
  assert.equal([aborted.ok, aborted.value], [false, 'aborted']);
  // The abort timer starts before the probe's own clock does, and a busy machine widens the gap:
  // the value says it was the abort; the bound says it did not wait for the 1 s answer.
  within(aborted.latencyMs, 0, 400, 'aborted latency');
  web.set({ delayMs: 0 });
});

test('exec: exit code and stdout pass; the value is the exit code', async () => {
  const ok = await runProbe(execProbe('ping', 'echo PONG', { stdout: /^PONG$/m }));
  assert.equal([ok.ok, ok.value, ok.reason], [true, 0, undefined]);
  within(ok.latencyMs, 0, 2000, 'exec latency');
  const expected = await runProbe(execProbe('ping', 'exit 3', { exitCode: 3 }));
  assert.equal([expected.ok, expected.value], [true, 3]);
  // The whole output is read, even when the shell exits at once after writing it.
  const big = await runProbe(execProbe('big', "head -c 60000 /dev/zero | tr '\\0' x; echo END", { stdout: /^x{60000}END\n$/ }));
  assert.equal([big.ok, big.value], [true, 0]);
});

test('exec: wrong exit code, stdout mismatch', async () => {
  const code = await runProbe(execProbe('ping', 'echo nope >&2; exit 2'));
  assert.equal([code.ok, code.value, code.reason], [false, 2, 'exit code 2, expected 0: nope']);
  const out = await runProbe(execProbe('ping', 'echo PANG', { stdout: /PONG/ }));
  assert.equal([out.ok, out.value, out.reason], [false, 0, 'stdout does not match /PONG/: "PANG\\n"']);
});

test('exec: a timeout kills the process group; a background child does not hold the probe', async () => {
  const t0 = performance.now();
  const slow = await runProbe(execProbe('slow', 'sleep 5; echo late', { timeoutMs: 200 }));
  assert.equal([slow.ok, slow.value, slow.reason], [false, 'timeout', 'still running after 200ms; killed']);
  within(slow.latencyMs, 198, 700, 'exec timeout latency');
  within(performance.now() - t0, 198, 800, 'probe wall time');
  // The shell exits at once; its background sleep keeps the pipes open (until the probe kills it).
  const bg = await runProbe(execProbe('bg', 'sleep 2 & echo started'));
  assert.equal([bg.ok, bg.value], [true, 0]);
  within(bg.latencyMs, 0, 800, 'exec with a background child');
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  const aborted = await runProbe(execProbe('slow', 'sleep 5'), { signal: ac.signal });
  assert.equal([aborted.ok, aborted.value], [false, 'aborted']);
  within(aborted.latencyMs, 45, 600, 'aborted exec latency');
});

test('exec: output is the last non-empty line of stdout, trimmed and cut; http has none', async () => {
  const amp = await runProbe(execProbe('amp', 'echo measuring; echo "  amplification 2.7x  "; echo; echo "   "'));
  assert.equal([amp.ok, amp.value, amp.output], [true, 0, 'amplification 2.7x']);
  assert.is(describeProbe({ ...amp, latencyMs: 40 }), 'amp ok 0 in 40ms (amplification 2.7x)');
  const failed = await runProbe(execProbe('amp', 'echo amplification 3.1x; echo over budget >&2; exit 1'));
  assert.equal([failed.ok, failed.value, failed.reason, failed.output], [false, 1, 'exit code 1, expected 0: over budget', 'amplification 3.1x']);
  assert.is(describeProbe({ ...failed, latencyMs: 40 }), 'amp FAILED 1 in 40ms: exit code 1, expected 0: over budget (amplification 3.1x)');
  const silent = await runProbe(execProbe('quiet', 'echo only stderr >&2'));
  assert.equal([silent.ok, 'output' in silent], [true, false]);
  const long = await runProbe(execProbe('long', "printf 'é%.0s' $(seq 1 300)"));
  assert.is(long.output, `${'é'.repeat(199)}…`);
  assert.is([...long.output!].length, 200);
  // Past the 64 KiB kept for the stdout regex, the end of the output is still kept.
  const big = await runProbe(execProbe('big', "head -c 200000 /dev/zero | tr '\\0' x; echo; echo last line"));
  assert.equal([big.ok, big.output], [true, 'last line']);
  // A timed-out probe keeps what it printed before it was killed.
  const slow = await runProbe(execProbe('slow', 'echo partial; sleep 5', { timeoutMs: 300 }));
  assert.equal([slow.ok, slow.value, slow.output], [false, 'timeout', 'partial']);
  web.set({ status: 200, body: 'ok\nlast', delayMs: 0 });
  const viaHttp = await runProbe(httpProbe('health', web.url));
  assert.equal([viaHttp.ok, 'output' in viaHttp], [true, false]);
});

test('describeProbe and splitAddress', () => {
  assert.is(describeProbe({ probe: 'db', ok: true, value: 'connected', latencyMs: 1.5, ts: 0 }), 'db ok connected in 1.5ms');
  assert.is(describeProbe({ probe: 'web', ok: false, value: 503, latencyMs: 3, ts: 0, reason: 'status 503, expected 200' }),
    'web FAILED 503 in 3ms: status 503, expected 200');
  // The output is not repeated when the reason already quotes it.
  assert.is(describeProbe({ probe: 'amp', ok: false, value: 1, latencyMs: 40, ts: 0, reason: 'exit code 1, expected 0: amplification 2.7x', output: 'amplification 2.7x' }),
    'amp FAILED 1 in 40ms: exit code 1, expected 0: amplification 2.7x');
  assert.is(describeProbe({ probe: 'amp', ok: false, value: 1, latencyMs: 40, ts: 0, reason: 'exit code 1, expected 0', output: 'amplification 2.7x' }),
    'amp FAILED 1 in 40ms: exit code 1, expected 0 (amplification 2.7x)');
  assert.equal(splitAddress('127.0.0.1:80'), { host: '127.0.0.1', port: 80 });
  assert.equal(splitAddress('[::1]:8080'), { host: '::1', port: 8080 });
  assert.equal(splitAddress(':9'), { host: '127.0.0.1', port: 9 });
  assert.throws(() => splitAddress('localhost'), /expected host:port/);
});

test.run();
