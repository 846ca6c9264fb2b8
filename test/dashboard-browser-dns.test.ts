// The dashboard with a dns proxy, in headless Chromium against a real server: the proxy made
// through the form with protocol dns, a dns_answer toxic through the form generated from
// GET /toxics (a comma-separated field for its addresses, a text field for its name, toxicity
// rolled per query, no byte-stream toxics offered), a query through the proxy, and the
// rewritten answer in the event log.

import type { Page } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { browserTest, launch, openDashboard, setupOnce, type Dashboard } from './_helpers/browser.js';
import { portOf, startServer, type TestServer } from './_helpers/net.js';
import { authServer, type AuthServer } from './_helpers/dns.js';
import { ask, datas } from './_helpers/dns-client.js';

/** Skipped, and counted so, without Chromium. */
const it = browserTest(test);

let server: TestServer;
let auth: AuthServer;
let browser: Awaited<ReturnType<typeof launch>>;
let dash: Dashboard;
let page: Page;

const setup = setupOnce(async () => {
  auth = await authServer({ 'svc.test': [{ type: 'A', data: '10.0.0.1', ttl: 300 }] });
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
    await auth?.close();
  }
});

it('a dns proxy and a dns_answer toxic made through the forms; the rewritten answer in the log', async () => {
  await setup();
  await page.click('#proxy-new');
  await page.waitForSelector('#proxy-dialog[open]');
  await page.fill('#proxy-form [name=name]', 'resolver');
  await page.selectOption('#proxy-form [name=protocol]', 'dns');
  await page.fill('#proxy-form [name=upstream]', auth.address);
  await page.click('#proxy-form button[type=submit]');
  await page.waitForSelector('#proxy-detail[data-proxy="resolver"]:not([hidden])');
  assert.is((await server.api('GET', '/proxies/resolver')).json.protocol, 'dns');

  await page.click('#toxic-add');
  await page.waitForSelector('#toxic-dialog[open]');
  const offered = await page.$$eval('#toxic-type option', (options) => options.map((o) => (o as HTMLOptionElement).value));
  assert.equal(offered, ['dns_error', 'dns_delay', 'dns_drop', 'dns_ttl', 'dns_answer', 'dns_truncate']);
  await page.selectOption('#toxic-type', 'dns_answer');
  assert.is(await page.textContent('#toxic-toxicity-hint'), 'chance that a query is affected');
  assert.is(await page.getAttribute('#toxic-attr-addresses', 'type'), 'text');
  assert.is(await page.getAttribute('#toxic-attr-name', 'type'), 'text');
  await page.fill('#toxic-attr-addresses', '10.9.9.9, 2001:db8::9');
  await page.fill('#toxic-attr-ttl', '7');
  await page.fill('#toxic-attr-name', 'svc.test');
  await page.click('#toxic-form button[type=submit]');
  await page.waitForSelector('#toxics tbody tr[data-toxic="dns_answer_downstream"]');
  const [toxic] = (await server.api('GET', '/proxies/resolver/toxics')).json;
  assert.equal(toxic.attributes, { addresses: ['10.9.9.9', '2001:db8::9'], ttl: 7, name: 'svc.test', qtype: '' });

  const port = portOf((await server.api('GET', '/proxies/resolver')).json.listen);
  assert.equal(datas(await ask(port, 'svc.test', 'A')), ['10.9.9.9']);
  const row = '#event-log .event-row[data-kind="fault:injected"][data-proxy="resolver"][data-action="rewritten"]';
  await page.waitForSelector(row, { timeout: 5000 });
  assert.match(await page.textContent(row) ?? '', /10\.9\.9\.9/);
  assert.equal(dash.problems, []);
});

test.run();
