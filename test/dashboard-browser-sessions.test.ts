// The dashboard's chaos sessions and scenario runs in headless Chromium against a real server:
// a session recorded from the page (and one API client), its summary, its export downloaded and
// then validated and replayed by the CLI; an uploaded scenario started, watched to its end and
// its report opened; and the stream dropping (the server restarts) and coming back with a
// fresh snapshot.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { browserTest, launch, openDashboard, screenshot, setupOnce, type Dashboard } from './_helpers/browser.js';
import { cli } from './_helpers/cli.js';
import { connect, echoServer, readBytes, startServer, type TestServer, type Upstream } from './_helpers/net.js';

/** Skipped, and counted so, without Chromium. */
const it = browserTest(test);

let server: TestServer;
let echo: Upstream;
let browser: Awaited<ReturnType<typeof launch>>;
let dash: Dashboard;
let page: Page;
let dir: string;
let apiPort: number;

const setup = setupOnce(async () => {
  dir = await mkdtemp(join(tmpdir(), 'faultline-dash-sessions-'));
  echo = await echoServer();
  server = await startServer();
  apiPort = await server.proxy('api', echo.address);
  browser = await launch();
  dash = await openDashboard(browser, server.url);
  page = dash.page;
});

test.after(async () => {
  try {
    await browser?.close();
  } finally {
    await server?.close();
    await echo?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
});

const toxicRow = (name: string) => `#toxics tbody tr[data-toxic="${name}"]`;

/** Adds (toxic null) or edits a latency toxic on the selected proxy through the dialog. */
async function latencyThroughForm(name: string, latency: number, edit: boolean): Promise<void> {
  await page.click(edit ? `${toxicRow(name)} .toxic-edit` : '#toxic-add');
  await page.waitForSelector('#toxic-dialog[open]');
  if (!edit) await page.fill('#toxic-name', name);
  await page.fill('#toxic-form [name=latency]', String(latency));
  await page.click('#toxic-form button[type=submit]');
  await page.locator('#toxic-dialog').waitFor({ state: 'hidden' });
}

it('a session recorded from the page: summary, export, `faultline validate`, then `faultline run` replays it', async () => {
  await setup();
  await page.fill('#session-name', 'checkout latency');
  await page.click('#session-start');
  await page.waitForSelector('#sessions-panel[data-recording="true"]');
  assert.ok(await page.isEnabled('#session-stop'));
  assert.match(await page.textContent('#session-status') ?? '', /^Recording “checkout latency” since /);
  const recording = (await server.api('GET', '/sessions')).json.sessions;
  assert.equal(recording.map((s: any) => [s.name, s.status]), [['checkout latency', 'recording']]);

  await page.click('#proxies tbody tr[data-proxy="api"] .proxy-select');
  await page.waitForSelector('#proxy-detail[data-proxy="api"]:not([hidden])');
  await latencyThroughForm('slow', 40, false);
  await page.waitForSelector(toxicRow('slow'));
  const socket = await connect(apiPort);
  for (let i = 0; i < 5; i++) {
    socket.write(Buffer.alloc(1000, i));
    await readBytes(socket, 1000);
  }
  socket.destroy();
  await latencyThroughForm('slow', 60, true);
  // Another client acts meanwhile: the session records it too, and the page shows it live.
  assert.is((await server.toxic('api', { name: 'api_side', type: 'latency', stream: 'upstream', attributes: { latency: 5 } })).status, 200);
  await page.click(`${toxicRow('api_side')} .toxic-remove`);
  await page.locator(toxicRow('api_side')).waitFor({ state: 'detached' });
  await page.click(`${toxicRow('slow')} .toxic-remove`);
  await page.locator(toxicRow('slow')).waitFor({ state: 'detached' });
  assert.equal((await server.api('GET', '/proxies/api/toxics')).json, []);

  await page.click('#session-stop');
  await page.waitForSelector('#session-summary[data-session]:not([hidden])');
  await page.waitForSelector('#sessions-panel[data-recording="false"]');
  const id = (await page.getAttribute('#session-summary', 'data-session'))!;
  const stored = (await server.api('GET', `/sessions/${id}`)).json;
  assert.is(stored.status, 'ended');
  const kinds = ['toxic:added', 'toxic:updated', 'toxic:added', 'toxic:removed', 'toxic:removed'];
  assert.equal(stored.actions.map((a: any) => [a.kind, a.toxic]),
    [['toxic:added', 'slow'], ['toxic:updated', 'slow'], ['toxic:added', 'api_side'], ['toxic:removed', 'api_side'], ['toxic:removed', 'slow']]);
  assert.equal(await page.locator('#session-timeline li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-kind'))), kinds);
  assert.match(await page.textContent('#session-summary h4') ?? '', 'Timeline (5 actions)');
  assert.equal(stored.faults.map((f: any) => [f.proxy, f.action]), [['api', 'delayed']]);
  const delayed = stored.faults[0].count as number;
  assert.ok(delayed >= 5, `delayed faults: ${delayed}`);
  assert.equal(await page.locator('#session-faults li').allTextContents(), [`api · delayed: ${delayed}`]);
  assert.match(await page.textContent('#session-summary') ?? '', /Proxies touched\s*api/);
  await page.waitForSelector(`#sessions-list li[data-session="${id}"]`);
  assert.match(await page.textContent(`#sessions-list li[data-session="${id}"]`) ?? '', `5 actions · ${delayed} faults`);
  await page.locator('#sessions-panel').scrollIntoViewIfNeeded();
  await screenshot(page, 'session');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#session-export')]);
  assert.is(download.suggestedFilename(), 'checkout-latency.yaml');
  const file = join(dir, download.suggestedFilename());
  await download.saveAs(file);
  const yaml = await readFile(file, 'utf8');
  assert.is(yaml, (await server.api('GET', `/sessions/${id}/scenario`)).text);
  assert.match(yaml, /latency: 40/);

  const validated = await cli(['validate', file]);
  assert.is(validated.stderr, '');
  assert.is(validated.code, 0);
  assert.match(validated.stdout, /^ok: checkout latency \(\d+ steps?, [\d.]+m?s\)\n$/);

  const replayed: Array<[string, string, unknown]> = [];
  const off = server.events.on('state:changed', (c) => {
    if (c.proxy === 'api' && c.kind.startsWith('toxic:')) replayed.push([c.kind, 'toxic' in c ? c.toxic : '', 'body' in c ? (c.body.attributes as any)?.latency : undefined]);
  });
  let run;
  try {
    run = await cli(['run', file, '--url', server.url]);
  } finally {
    off();
  }
  assert.is(run.code, 0, run.stderr + run.stdout);
  assert.match(run.stdout, /held \(exit 0\)/);
  // Steps fire on their offsets without waiting for each other: two 30 ms apart may land either way.
  assert.equal(replayed.slice(0, 3).sort(), [['toxic:added', 'api_side', 5], ['toxic:added', 'slow', 40], ['toxic:updated', 'slow', 60]]);
  assert.equal(replayed.slice(3).map(([kind, toxic]) => `${kind === 'toxic:updated' ? kind : 'gone'} ${toxic}`).sort(), ['gone api_side', 'gone slow']);
  assert.equal((await server.api('GET', '/proxies/api/toxics')).json, []);
  assert.equal(dash.problems, []);
});

it('scenario runs: an uploaded file starts, shows live, finishes, and its report opens', async () => {
  await setup();
  const scenario = [
    'title: Dashboard run',
    'proxies:',
    `  - {name: run-p, listen: 127.0.0.1:0, upstream: ${echo.address}}`,
    'steady_state:',
    `  probes: [{name: echo-up, tcp: {address: ${echo.address}}}]`,
    'timeline:',
    '  - {at: 0s, toxic: {proxy: run-p, name: lat, type: latency, attributes: {latency: 20}}, for: 1s}',
    `  - {at: 2s, probe: {name: after, tcp: {address: ${echo.address}}}}`,
  ].join('\n');
  await page.setInputFiles('#scenario-file', { name: 'dash-run.yaml', mimeType: 'text/yaml', buffer: Buffer.from(scenario) });
  await page.click('#scenario-upload-start');
  await page.waitForSelector('#run-detail[data-status="running"]');
  // While it runs: the proxy it created is on the page, and it can be aborted.
  await page.waitForSelector('#proxies tbody tr[data-proxy="run-p"]');
  assert.ok(await page.isVisible('#run-abort'));
  const id = (await page.getAttribute('#run-detail', 'data-run'))!;
  await page.waitForSelector('#run-detail[data-status="held"]', { timeout: 15_000 });
  assert.is((await server.api('GET', `/scenarios/runs/${id}`)).json.status, 'held');
  assert.is(await page.textContent('#run-status'), 'held');
  assert.is(await page.locator('#run-steps tbody tr').count(), 2);
  assert.not.ok(await page.isVisible('#run-abort'));
  await page.waitForSelector(`#runs-list li[data-run="${id}"][data-status="held"]`);
  // The rollback deleted the proxy the run created.
  await page.locator('#proxies tbody tr[data-proxy="run-p"]').waitFor({ state: 'detached' });

  const [report] = await Promise.all([page.context().waitForEvent('page'), page.click('#run-report')]);
  await report.waitForSelector('#verdict');
  assert.is((await report.textContent('#verdict .verdict-status'))?.trim(), 'HELD');
  assert.is(await report.title(), 'faultline report: Dashboard run');
  assert.match(report.url(), /^blob:http:\/\/127\.0\.0\.1:\d+\//);
  await report.close();
  assert.equal(dash.problems, []);
});

it('the stream drops when the server goes away; the page says so, reconnects, and starts from a fresh snapshot', async () => {
  await setup();
  await page.waitForSelector('#proxies tbody tr[data-proxy="api"]');
  const port = Number(new URL(server.url).port);
  const token = server.token;
  await server.close();
  await page.waitForSelector('#conn-status[data-state="closed"]');
  assert.is(await page.textContent('#conn-status'), 'disconnected — reconnecting…');
  await screenshot(page, 'disconnected');
  // The same address and token, but nothing of the old state: what the page shows next can
  // only come from the new server's snapshot.
  server = await startServer({ port, token });
  await server.proxy('after-restart', echo.address);
  await page.waitForSelector('#conn-status[data-state="open"]', { timeout: 15_000 });
  assert.is(await page.textContent('#conn-status'), 'connected');
  await page.waitForFunction(() => [...document.querySelectorAll('#proxies tbody tr')].map((tr) => tr.getAttribute('data-proxy')).join() === 'after-restart');
  // Live again: a change on the new server reaches the page through the stream.
  await server.toxic('after-restart', { name: 'fresh', type: 'latency', attributes: { latency: 1 } });
  await page.waitForFunction(() => document.querySelector('#proxies tbody tr[data-proxy="after-restart"] td[data-label="Toxics"]')?.textContent === '1');
  // Expected errors: the reconnects and polls (GET only) that failed while the server was down
  // (refused, or reset when one was in flight as it closed), and the run the page was watching,
  // which the new server (its state in memory) never heard of.
  const runId = await page.getAttribute('#run-detail', 'data-run');
  await page.waitForFunction(() => /not found/.test(document.getElementById('run-detail')?.textContent ?? ''));
  const expected = [
    /^console: WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/events\/stream\?token=[^']*' failed/,
    new RegExp(`^requestfailed: GET ${server.url}/\\S* net::ERR_CONNECTION_(REFUSED|RESET)$`),
    /^console: Failed to load resource: net::ERR_CONNECTION_(REFUSED|RESET)$/,
    new RegExp(`^HTTP 404 GET ${server.url}/scenarios/runs/${runId}$`),
    /^console: Failed to load resource: the server responded with a status of 404 \(Not Found\)$/,
  ];
  assert.equal(dash.problems.filter((p) => !expected.some((re) => re.test(p))), []);
});

test.run();
