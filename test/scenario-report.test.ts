// The run report: renderReportHtml on hand-built records (verdict, SVG lanes and step markers,
// escaping, no external URLs), the same HTML opened in headless Chromium (a screenshot is saved
// to artifacts/scenario-report.png as the CI artifact), and `faultline report` against a local
// server that serves a run record.

import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { browserTest } from './_helpers/browser.js';
import { buildReportJson, type RunRecord } from '../src/scenario/report.js';
import { renderReportHtml } from '../src/scenario/report-html.js';
import { cli } from './_helpers/cli.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const T0 = 1_700_000_000_000;

const probe = (name: string, offset: number, latencyMs: number, ok: boolean, phase: 'before' | 'during' | 'after' | 'halt' | 'step' = 'during') =>
  ({ probe: name, ok, value: ok ? 200 : 'ECONNRESET', latencyMs, ts: T0 + offset, phase, ...(ok ? {} : { reason: 'connection reset' }) });

function heldRecord(): RunRecord {
  const probes = [probe('health', 5, 3, true, 'before')];
  for (let t = 500; t <= 11_500; t += 500) probes.push(probe('health', t, t > 1000 && t < 10_000 ? 205 + (t % 1500) / 50 : 4, true));
  probes.push(probe('db-up', 12_050, 1.2, true, 'after'));
  return {
    id: 'run_held01', title: 'Slow database', scenario: 'title: Slow database\ntimeline: []\n',
    status: 'held', exit_code: 0, reason: 'steady state held before, during and after the timeline',
    started_at: T0, ended_at: T0 + 12_100, duration_ms: 12_000,
    steps: [
      { index: 0, kind: 'toxic', atMs: 1000, firedAtMs: 1002.4, lateMs: 2.4, ok: true, detail: 'added db/lat (latency 200 ms) for 8s' },
      { index: 1, kind: 'update_toxic', atMs: 5000, firedAtMs: 5001.1, lateMs: 1.1, ok: true, detail: 'db/lat latency=400' },
      { index: 2, kind: 'toxic', atMs: 6000, firedAtMs: 6003, lateMs: 3, ok: true, detail: 'added cache/cut (reset_peer)' },
      { index: 3, kind: 'heal', atMs: 10_000, firedAtMs: 10_000.8, lateMs: 0.8, ok: true, detail: 'healed all' },
    ],
    probes,
    rollback: { ok: true, errors: [] },
    windows: [
      { proxy: 'db', toxic: 'lat', type: 'latency', stream: 'downstream', from_ms: 1002, to_ms: 9000 },
      { proxy: 'cache', toxic: 'cut', type: 'reset_peer', stream: 'upstream', from_ms: 6003, to_ms: 10_001 },
    ],
    event_counts: [
      { step: 0, counts: { 'toxic.added': 1, 'toxic.applied': 37 } },
      { step: 1, counts: { 'toxic.updated': 1 } },
      { step: 2, counts: { 'toxic.added': 1, 'connection.reset': 12 } },
      { step: 3, counts: { 'toxic.removed': 2 } },
    ],
  };
}

const HOSTILE = '<script>alert(1)</script>';

function haltedRecord(): RunRecord {
  return {
    id: 'run_halt02', title: HOSTILE, scenario: `title: "${HOSTILE}"\n`,
    status: 'halted', exit_code: 2, reason: 'halt_when: probe "api" failing for 5s <b>now</b>',
    started_at: T0, ended_at: T0 + 7000, duration_ms: 20_000,
    steps: [
      { index: 0, kind: 'toxic', atMs: 0, firedAtMs: 0.5, lateMs: 0.5, ok: true, detail: 'added <img src=x onerror=alert(2)>' },
      { index: 1, kind: 'proxy', atMs: 2000, firedAtMs: 2001, lateMs: 1, ok: false, error: 'HTTP 404: proxy not found' },
    ],
    probes: [probe('api', 1000, 15, true), probe('api', 2000, 2000, false, 'halt'), probe('api', 6900, 2000, false, 'halt')],
    rollback: { ok: false, errors: ['remove toxic db/lat: cannot reach http://10.0.0.5:8474: connect ECONNREFUSED', 'restore proxy db: HTTP 500: "<oops>"'] },
    windows: [{ proxy: 'db', toxic: 'lat', type: 'latency', stream: 'downstream', from_ms: 0, to_ms: 7000 }],
    event_counts: [{ step: 0, counts: { 'toxic.added': 1 } }],
  };
}

const count = (s: string, sub: string) => s.split(sub).length - 1;

function assertNoExternalUrls(html: string): void {
  assert.not.match(html, /\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i);
  assert.not.match(html, /@import|url\(\s*["']?https?:/i);
  assert.not.match(html, /<script|<link\b|<img\b|<iframe/i);
}

test('held run: verdict, one lane per window, one marker per step, tables, no external URLs', () => {
  const html = renderReportHtml(heldRecord());
  assert.ok(html.startsWith('<!doctype html>'));
  assert.match(html, /<section id="verdict" class="verdict good"><div class="verdict-status">HELD<\/div>/);
  assert.match(html, 'steady state held before, during and after the timeline');
  assert.match(html, 'exit code <b>0</b>');
  assert.is(count(html, '<svg id="timeline"'), 1);
  assert.is(count(html, 'class="lane"'), 2);
  assert.match(html, 'data-window="0"');
  assert.match(html, '>db/lat</text>');
  assert.match(html, '>latency · downstream</text>');
  assert.match(html, '>cache/cut</text>');
  assert.is(count(html, 'class="step-marker ok"'), 4);
  for (const i of [0, 1, 2, 3]) assert.match(html, `data-step="${i}"`);
  assert.is(count(html, 'class="probe-point ok"'), 25);
  assert.is(count(html, 'class="probe-point fail"'), 0);
  assert.match(html, 'class="rollback good"');
  // probe summary: health ran 24 times with no failure; db-up once.
  assert.match(html, /<td>health<\/td><td class="n">24<\/td><td class="n ok">0<\/td>/);
  assert.match(html, /<td>db-up<\/td><td class="n">1<\/td>/);
  // event counts: step 2 had 13 events
  assert.match(html, /<tr><td class="n">2<\/td><td>toxic<\/td><td class="n">13<\/td>/);
  assertNoExternalUrls(html);
});

test('halted run: rollback errors loudly, failed step and probes in red, every string escaped', () => {
  const html = renderReportHtml(haltedRecord());
  assert.match(html, /<section id="verdict" class="verdict bad"><div class="verdict-status">HALTED<\/div>/);
  assert.match(html, 'exit code <b>2</b>');
  assert.not.match(html, HOSTILE);
  assert.not.match(html, '<b>now</b>');
  assert.not.match(html, '<img');
  assert.not.match(html, '"<oops>"');
  assert.match(html, '<h1 id="title">&lt;script&gt;alert(1)&lt;/script&gt;</h1>');
  assert.match(html, 'halt_when: probe &quot;api&quot; failing for 5s &lt;b&gt;now&lt;/b&gt;');
  assert.match(html, 'class="rollback bad"><h2>Rollback FAILED</h2>');
  assert.match(html, '<li>remove toxic db/lat: cannot reach http://10.0.0.5:8474: connect ECONNREFUSED</li>');
  assert.match(html, '<li>restore proxy db: HTTP 500: &quot;&lt;oops&gt;&quot;</li>');
  assert.is(count(html, 'class="lane"'), 1);
  assert.is(count(html, 'class="step-marker ok"'), 1);
  assert.is(count(html, 'class="step-marker fail"'), 1);
  assert.is(count(html, 'class="probe-point fail"'), 2);
  assert.match(html, /<td>api<\/td><td class="n">3<\/td><td class="n fail">2<\/td>/);
  assert.match(html, '<span class="fail">HTTP 404: proxy not found</span>');
  assertNoExternalUrls(html);
});

test('exec probe output: the latest per probe in the table and the JSON summary, each in its point tooltip, escaped', () => {
  const record = heldRecord();
  const amp = (offset: number, output: string | undefined, ok = true) => ({
    probe: 'amp', ok, value: ok ? 0 : 1, latencyMs: 40, ts: T0 + offset, phase: 'during' as const,
    ...(output !== undefined ? { output } : {}), ...(ok ? {} : { reason: 'exit code 1, expected 0' }),
  });
  record.probes.push(amp(2000, 'amplification 1.1x'), amp(4000, 'amplification <b>2.7x</b>', false), amp(6000, undefined));
  const html = renderReportHtml(record);
  assert.match(html, '<th>max latency</th><th>last output</th></tr>');
  assert.match(html, '<td>amp</td><td class="n">3</td><td class="n fail">1</td><td class="n">40 ms</td><td class="n">40 ms</td>' +
    '<td class="output"><code>amplification &lt;b&gt;2.7x&lt;/b&gt;</code></td></tr>');
  assert.match(html, /<td>health<\/td><td class="n">24<\/td>(?:<td[^>]*>[^<]*<\/td>){3}<td class="output"><span class="note">–<\/span><\/td>/);
  assert.not.match(html, '<b>2.7x</b>');
  assert.is(count(html, ', output: amplification'), 2);
  assert.match(html, '<title>amp (during) at 2.00 s: ok, 40 ms, value 0, output: amplification 1.1x</title>');
  assert.match(html, '<title>amp (during) at 4.00 s: FAILED, 40 ms, value 1, exit code 1, expected 0, output: amplification &lt;b&gt;2.7x&lt;/b&gt;</title>');
  const json = buildReportJson(record);
  assert.equal(json.summary.probes.find((p) => p.probe === 'amp'),
    { probe: 'amp', runs: 3, failures: 1, p50_ms: 40, max_ms: 40, last_output: 'amplification <b>2.7x</b>' });
  assert.not.ok('last_output' in json.summary.probes[0]!);
});

test('buildReportJson: the record plus a per-probe summary', () => {
  const json = buildReportJson(haltedRecord());
  assert.is(json.id, 'run_halt02');
  assert.equal(json.summary.probes, [{ probe: 'api', runs: 3, failures: 2, p50_ms: 2000, max_ms: 2000 }]);
  assert.equal(json.summary.steps, { total: 2, failed: 1, max_late_ms: 1 });
  assert.is(json.summary.rollback_ok, false);
  const held = buildReportJson(heldRecord());
  assert.equal(held.summary.probes.map((p) => [p.probe, p.runs, p.failures]), [['health', 24, 0], ['db-up', 1, 0]]);
});

// Skipped, and counted so, without Chromium.
browserTest(test)('browser: headless Chromium renders the timeline and the verdict; screenshot artifact', async () => {
  const { chromium } = await import('playwright-core');
  const dir = await mkdtemp(join(tmpdir(), 'faultline-report-'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const file = join(dir, 'report.html');
    await writeFile(file, renderReportHtml(heldRecord()));
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const external: string[] = [];
    page.on('request', (req) => { if (!req.url().startsWith('file:')) external.push(req.url()); });
    await page.goto(pathToFileURL(file).href);
    const svg = page.locator('svg#timeline');
    assert.ok(await svg.isVisible(), 'timeline SVG visible');
    const box = await svg.boundingBox();
    assert.ok(box !== null && box.width > 800 && box.height > 250, `timeline size ${JSON.stringify(box)}`);
    assert.is(await page.locator('svg#timeline g.lane').count(), 2);
    assert.is(await page.locator('svg#timeline g.step-marker').count(), 4);
    const verdict = page.locator('#verdict');
    assert.ok(await verdict.isVisible(), 'verdict visible');
    assert.is((await verdict.locator('.verdict-status').innerText()).trim(), 'HELD');
    assert.match(await verdict.innerText(), 'steady state held before, during and after the timeline');
    assert.is(await page.title(), 'faultline report: Slow database');
    assert.equal(external, []);
    await mkdir(join(REPO, 'artifacts'), { recursive: true });
    const shot = join(REPO, 'artifacts', 'scenario-report.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok((await stat(shot)).size > 10_000);

    // The failing run renders too, and its hostile title stays text.
    await writeFile(file, renderReportHtml(haltedRecord()));
    await page.goto(pathToFileURL(file).href);
    assert.is((await page.locator('#title').innerText()).trim(), HOSTILE);
    assert.is((await page.locator('#verdict .verdict-status').innerText()).trim(), 'HALTED');
    assert.ok(await page.locator('#rollback li').first().isVisible());
    await page.screenshot({ path: join(REPO, 'artifacts', 'scenario-report-halted.png'), fullPage: true });
  } finally {
    await browser.close();
    await rm(dir, { recursive: true, force: true });
  }
});



test('cli: faultline report writes <id>.json and <id>.html; HTTP errors exit 1 with one line', async () => {
  const record = haltedRecord();
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.method === 'GET' && req.url === `/scenarios/runs/${record.id}`) {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(record));
    } else {
      res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: 'run not found', status: 404 }));
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = await mkdtemp(join(tmpdir(), 'faultline-report-cli-'));
  try {
    const out = join(dir, 'nested', 'out');
    const ok = await cli(['report', record.id, '--out', out], { FAULTLINE_URL: url });
    assert.is(ok.stderr, '');
    assert.is(ok.code, 0);
    const jsonPath = join(out, `${record.id}.json`);
    const htmlPath = join(out, `${record.id}.html`);
    assert.is(ok.stdout, `${jsonPath}\n${htmlPath}\n`);
    const json = JSON.parse(await readFile(jsonPath, 'utf8')) as ReturnType<typeof buildReportJson>;
    assert.equal(json, JSON.parse(JSON.stringify(buildReportJson(record))));
    assert.is(await readFile(htmlPath, 'utf8'), renderReportHtml(record));

    const missing = await cli(['--url', url, 'report', 'nope', '--out', out]);
    assert.is(missing.code, 1);
    assert.is(missing.stdout, '');
    assert.is(missing.stderr, 'faultline: HTTP 404: run not found\n');
    assert.not.ok(existsSync(join(out, 'nope.json')));
    assert.equal(requests, [`GET /scenarios/runs/${record.id}`, 'GET /scenarios/runs/nope']);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
