// The live display of `faultline run` (src/cli/progress.ts), driven with fake writers: off a
// terminal it is exactly the plain lines; on one, a status line that stays under them, fits
// the width and goes away at the end. Also the runner's onProbe hook, on a real run.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createProgress } from '../src/cli/progress.js';
import type { CliIO } from '../src/cli/output.js';
import { runScenario, type RecordedProbe } from '../src/scenario/runner.js';
import { echoServer, startServer } from './_helpers/net.js';
import { delay, proxy, scenario, step, tcpProbe, toxic } from './_helpers/scenario.js';

const CLEAR = '\r\x1b[2K';
const SGR = /\x1b\[[0-9;]*m/g;

interface Fake { io: CliIO; writes: string[]; errs: string[] }
function fake(tty: CliIO['tty'], env: Record<string, string> = {}): Fake {
  const writes: string[] = [];
  const errs: string[] = [];
  return { io: { out: (t) => void writes.push(t), err: (t) => void errs.push(t), env, ...(tty !== undefined ? { tty } : {}) }, writes, errs };
}

/** What a terminal shows after `text`: carriage return, clear line, newline and printable
 *  characters are understood; colour codes are dropped; any other escape fails the test. */
function screen(text: string): string[] {
  const plain = text.replace(SGR, '');
  const lines = [''];
  let col = 0;
  for (let i = 0; i < plain.length; i++) {
    if (plain.startsWith('\x1b[2K', i)) { lines[lines.length - 1] = ''; i += 3; continue; }
    const c = plain[i]!;
    assert.is.not(c, '\x1b', `unexpected escape at ${i}: ${JSON.stringify(plain.slice(i, i + 8))}`);
    if (c === '\r') col = 0;
    else if (c === '\n') { lines.push(''); col = 0; } else {
      const l = lines[lines.length - 1]!;
      lines[lines.length - 1] = l.slice(0, col).padEnd(col) + c + l.slice(col + 1);
      col++;
    }
  }
  return lines;
}
const width = (s: string) => Array.from(s.replace(SGR, '')).length;

const S = scenario('http://127.0.0.1:1', {
  steadyState: { duringMs: null, probes: [tcpProbe('up', '127.0.0.1:1'), tcpProbe('web', '127.0.0.1:1')] },
  timeline: [step(0, toxic('db', 'lat'), 1000), step(500, { kind: 'partition', groups: [['api'], ['db', 'cache']], oneway: true })],
});
const probe = (name: string, ok: boolean, value: string | number, latencyMs: number): RecordedProbe =>
  ({ probe: name, ok, value, latencyMs, ts: 0, phase: 'before', ...(ok ? {} : { reason: 'bad' }) });

/** Drives a display through a short run; returns the plain lines it was given. */
function drive(io: CliIO, clock: { now: number }) {
  const p = createProgress(io, S, { clock: () => clock.now, intervalMs: 60_000 });
  p.out('[before] server default: faultline 0.1.0');
  p.onProbe(probe('up', true, 'connected', 3.2));
  p.onProbe(probe('web', false, 'ECONNREFUSED', 12));
  p.onTimelineStart(0);
  clock.now += 300;
  p.onStep({ step: 0, kind: 'toxic', revert: false, ok: true, detail: 'added' });
  p.out('[+0.300s] step 0 toxic added ok');
  clock.now += 300;
  p.onStep({ step: 1, kind: 'partition', revert: false, ok: true, detail: 'cut' });
  return p;
}

test('off a terminal: exactly the plain lines, nothing else', () => {
  const f = fake(undefined);
  const p = drive(f.io, { now: 1000 });
  p.out('verdict: held (exit 0): the steady state held');
  p.err('faultline: SIGINT received, rolling back\n');
  p.done();
  assert.equal(f.writes, [
    '[before] server default: faultline 0.1.0\n', '[+0.300s] step 0 toxic added ok\n', 'verdict: held (exit 0): the steady state held\n',
  ]);
  assert.equal(f.errs, ['faultline: SIGINT received, rolling back\n']);
  // TERM=dumb cannot move the cursor: plain lines too.
  const dumb = fake({ columns: 60 }, { TERM: 'dumb' });
  drive(dumb.io, { now: 0 }).done();
  assert.equal(dumb.writes, ['[before] server default: faultline 0.1.0\n', '[+0.300s] step 0 toxic added ok\n']);
});

test('on a terminal: the status shows the step, the elapsed time and each probe', () => {
  const f = fake({ columns: 120 });
  const clock = { now: 1000 };
  const p = createProgress(f.io, S, { clock: () => clock.now, intervalMs: 60_000 });
  assert.equal(screen(f.writes.join('')), ['starting  0.0s/1.0s ░░░░░░░░░░  up ·  web ·']);
  p.onProbe(probe('up', true, 'connected', 3.2));
  p.onProbe(probe('web', false, 'ECONNREFUSED', 1234));
  p.onTimelineStart(0);
  clock.now += 300;
  p.onStep({ step: 0, kind: 'toxic', revert: false, ok: true, detail: 'added' });
  assert.equal(screen(f.writes.join('')), ['step 1/2 toxic db/lat latency  0.3s/1.0s ███░░░░░░░  up ✓ 3ms  web ✗ ECONNREFUSED 1.2s']);
  const last = f.writes.at(-1)!;
  assert.ok(last.includes('\x1b[1;31m✗ ECONNREFUSED 1.2s\x1b[0m'), `the failing probe is red: ${JSON.stringify(last)}`);
  assert.ok(last.includes('\x1b[32m✓\x1b[0m'), 'the passing one green');
  clock.now += 2000;
  p.onStep({ step: 1, kind: 'partition', revert: false, ok: false, detail: 'no such proxy' });
  p.onStep({ step: 0, kind: 'toxic', revert: true, ok: true, detail: 'removed' });
  assert.equal(screen(f.writes.join('')), ['step 1/2 undo toxic db/lat latency  1.0s/1.0s ██████████  up ✓ 3ms  web ✗ ECONNREFUSED 1.2s']);
  p.onStep({ step: 1, kind: 'partition', revert: false, ok: false, detail: 'no such proxy' });
  assert.ok(f.writes.at(-1)!.includes('\x1b[1;31mpartition api → db,cache\x1b[0m'), 'a failed step is red');
  p.done();
});

test('a line written under the status clears it first and redraws it after', () => {
  const f = fake({ columns: 60 }, { NO_COLOR: '1' });
  const clock = { now: 0 };
  const p = drive(f.io, clock);
  const lineWrite = f.writes.find((w) => w.includes('step 0 toxic added ok'))!;
  assert.is(lineWrite, `${CLEAR}[+0.300s] step 0 toxic added ok\nstep 1/2 toxic db/…  0.3s/1.0s ███░░░░░░░  up ✓ 3ms  web ✗…`);
  assert.equal(screen(f.writes.join('')), [
    '[before] server default: faultline 0.1.0',
    '[+0.300s] step 0 toxic added ok',
    'step 2/2 partition…  0.6s/1.0s ██████░░░░  up ✓ 3ms  web ✗…',
  ]);
  p.done();
});

test('the status fits the width, however narrow, and NO_COLOR means no colour', () => {
  for (const columns of [60, 40, 20, 12, 1, 0, undefined]) {
    for (const env of [{}, { NO_COLOR: '1' }, { FORCE_COLOR: '0' }] as Array<Record<string, string>>) {
      const f = fake({ ...(columns !== undefined ? { columns } : {}) }, env);
      const p = drive(f.io, { now: 0 });
      const limit = columns === undefined || columns === 0 ? 79 : columns - 1;
      for (const w of f.writes) {
        for (const status of w.split(CLEAR).join('').split('\n').slice(-1)) {
          assert.ok(width(status) <= limit, `columns ${columns}: ${JSON.stringify(status)} is ${width(status)} wide`);
        }
      }
      const last = screen(f.writes.join('')).at(-1)!;
      assert.is(width(last), Math.min(limit, 86), `columns ${columns}: ${JSON.stringify(last)}`);
      if (limit > 0 && limit < 86) assert.ok(last.includes('…'), `a cut is marked: ${last}`);
      assert.is(/\x1b\[[0-9;]*m/.test(f.writes.join('')), limit > 0 && Object.keys(env).length === 0, `colour with ${JSON.stringify(env)}`);
      p.done();
    }
  }
});

test('done() removes the status and later lines are plain; the timer redraws and never holds the process', async () => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const f = fake({ columns: 80 }, { NO_COLOR: '1' });
  const clock = { now: 0 };
  const p = createProgress(f.io, S, { clock: () => clock.now, intervalMs: 20 });
  const held = timers();
  if (held !== before) p.done();
  assert.is(held, before, 'the redraw timer is unref()ed');
  p.onTimelineStart(0);
  const n = f.writes.length;
  clock.now = 500;
  await delay(150);
  assert.ok(f.writes.length > n, 'the timer redrew');
  assert.is(screen(f.writes.join('')).at(-1), 'step 0/2  0.5s/1.0s █████░░░░░  up ·  web ·');
  const settled = f.writes.length;
  await delay(100);
  assert.is(f.writes.length, settled, 'nothing is written while nothing changes');
  p.out('verdict: held (exit 0): the steady state held');
  p.done();
  p.done();
  assert.is(f.writes.at(-1), CLEAR);
  p.out('after the end');
  const count = f.writes.length;
  clock.now = 900;
  await delay(100);
  assert.is(f.writes.length, count, 'no redraw after done()');
  assert.equal(screen(f.writes.join('')), ['verdict: held (exit 0): the steady state held', 'after the end', '']);
});

test('the runner reports every recorded probe through onProbe, and a display fed by a real run ends clean', async () => {
  const [fl, echo] = await Promise.all([startServer(), echoServer()]);
  try {
    const seen: RecordedProbe[] = [];
    const f = fake({ columns: 70 });
    const s = scenario(fl.url, {
      proxies: [proxy('p', echo.address)],
      steadyState: { duringMs: null, probes: [tcpProbe('echo', echo.address)] },
      timeline: [step(0, toxic('p', 'lat'), 100), step(50, { kind: 'probe', probe: tcpProbe('mid', echo.address) })],
    });
    const p = createProgress(f.io, s);
    const lines: string[] = [];
    const result = await runScenario(s, {
      graceMs: 2000, out: (line) => { lines.push(line); p.out(line); }, onTimelineStart: p.onTimelineStart, onStep: p.onStep,
      onProbe: (x) => { seen.push(x); p.onProbe(x); },
    });
    p.done();
    assert.is(result.exitCode, 0, result.reason);
    assert.equal(seen.map((x) => [x.phase, x.probe, x.ok, x.value]),
      [['before', 'echo', true, 'connected'], ['step', 'mid', true, 'connected'], ['after', 'echo', true, 'connected']]);
    assert.equal(seen, result.probes);
    assert.ok(f.writes.some((w) => w.replace(SGR, '').includes('step 2/2 probe mid')), 'the status followed the run');
    assert.equal(screen(f.writes.join('')), [...lines, '']);
  } finally {
    await Promise.all([fl.close(), echo.close()]);
  }
});

test.run();
