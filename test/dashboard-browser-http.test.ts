// The dashboard with an http proxy, in headless Chromium against a real server: the proxy made
// through the form with protocol http, an http_abort toxic through the form generated from
// GET /toxics (text fields for its path and body, toxicity rolled per request), requests
// through the proxy, then the routes table (counts, status classes, percentiles) and the
// aborted events in the log.

import type { Page } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { browserTest, launch, openDashboard, setupOnce, type Dashboard } from './_helpers/browser.js';
import { portOf, startServer, type TestServer } from './_helpers/net.js';
import { h1Upstream } from './_helpers/http.js';

/** Skipped, and counted so, without Chromium. */
const it = browserTest(test);

let server: TestServer;
let upstream: Awaited<ReturnType<typeof h1Upstream>>;
let browser: Awaited<ReturnType<typeof launch>>;
let dash: Dashboard;
let page: Page;

const setup = setupOnce(async () => {
  upstream = await h1Upstream();
  server = await startServer();
  browser = await launch();
  dash = await openDashboard(browser, server.url, { colorScheme: 'light' });
  page = dash.page;
});

test.after(async () => {
  try {
    await browser?.close();
  } finally {
    await server?.close();
    await upstream?.close();
  }
});

it('an http proxy and an http_abort toxic made through the forms', async () => {
  await setup();
  await page.click('#proxy-new');
  await page.waitForSelector('#proxy-dialog[open]');
  await page.fill('#proxy-form [name=name]', 'web');
  await page.selectOption('#proxy-form [name=protocol]', 'http');
  await page.fill('#proxy-form [name=upstream]', upstream.address);
  await page.click('#proxy-form button[type=submit]');
  await page.waitForSelector('#proxy-detail[data-proxy="web"]:not([hidden])');
  assert.is((await server.api('GET', '/proxies/web')).json.protocol, 'http');
  assert.ok(await page.isVisible('#routes-panel'), 'the routes table shows for an http proxy');

  await page.click('#toxic-add');
  await page.waitForSelector('#toxic-dialog[open]');
  const offered = await page.$$eval('#toxic-type option', (options) => options.map((o) => (o as HTMLOptionElement).value));
  for (const type of ['http_abort', 'http_delay', 'http_reset', 'latency', 'reset_peer']) assert.ok(offered.includes(type), `${type} offered: ${offered.join(',')}`);
  await page.selectOption('#toxic-type', 'http_abort');
  assert.is(await page.textContent('#toxic-toxicity-hint'), 'chance that a request is affected');
  assert.is(await page.getAttribute('#toxic-attr-path', 'type'), 'text');
  assert.is(await page.evaluate(() => document.getElementById('toxic-attr-body')?.tagName), 'TEXTAREA');
  await page.fill('#toxic-attr-status', '418');
  await page.fill('#toxic-attr-path', '/fail/*');
  await page.fill('#toxic-attr-body', 'I am a teapot');
  await page.click('#toxic-form button[type=submit]');
  await page.waitForSelector('#toxics tbody tr[data-toxic="http_abort_downstream"]');
  const [toxic] = (await server.api('GET', '/proxies/web/toxics')).json;
  assert.equal([toxic.attributes.status, toxic.attributes.path, toxic.attributes.body], [418, '/fail/*', 'I am a teapot']);
  assert.equal(dash.problems, []);
});

it('requests through it fill the routes table and log aborted events', async () => {
  await setup();
  const port = portOf((await server.api('GET', '/proxies/web')).json.listen);
  for (let i = 0; i < 10; i++) {
    assert.is((await fetch(`http://127.0.0.1:${port}/fail/x`)).status, 418);
    assert.is((await fetch(`http://127.0.0.1:${port}/ok`)).status, 200);
  }
  const failRow = '#routes tbody tr[data-route="GET /fail/x"]';
  await page.waitForSelector(failRow, { timeout: 5000 });
  await page.waitForFunction((sel) => document.querySelector(`${sel} td[data-label="Requests"]`)?.textContent === '10', failRow, { timeout: 5000 });
  assert.is(await page.textContent(`${failRow} td[data-label="Statuses"]`), '4xx 10');
  assert.match(await page.textContent(`${failRow} td[data-label="p95"]`) ?? '', /^[\d.]+ ms$/);
  assert.is(await page.textContent('#routes tbody tr[data-route="GET /ok"] td[data-label="Statuses"]'), '2xx 10');
  await page.waitForSelector('#event-log .event-row[data-kind="fault:injected"][data-proxy="web"][data-action="aborted"]', { timeout: 5000 });
  assert.equal(dash.problems, []);
});

test.run();
