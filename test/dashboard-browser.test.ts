// The dashboard in headless Chromium against a real server: a proxy created through the UI, a
// latency toxic through the form generated from GET /toxics (its unit, default and range, and a
// bad value stopped before the server), real TCP traffic through the proxy, the delayed events
// in the log, the rates and charts moving, an event's detail with its connection, pause and
// resume; then the keyboard, labels and colour schemes, and the phone layout. Saves
// artifacts/dashboard-wide.png (1280×800), dashboard-phone.png and dashboard-phone-dark.png (390×844).

import type net from 'node:net';
import type { Page } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { browserTest, chartData, launch, luminance, openDashboard, parseRate, raisedPixels, RECORD_CHARTS, screenshot, setupOnce, type Dashboard, unlabelled } from './_helpers/browser.js';
import { connect, echoServer, portOf, sleep, startServer, type TestServer, type Upstream } from './_helpers/net.js';

/** Skipped, and counted so, without Chromium. */
const it = browserTest(test);

let server: TestServer;
let echo: Upstream;
let browser: Awaited<ReturnType<typeof launch>>;
let dash: Dashboard;
let page: Page;
let client: net.Socket | null = null;
let pumping: NodeJS.Timeout | null = null;
let received = 0;

const ROW = '#proxies tbody tr[data-proxy="echo"]';
const DELAYED = '#event-log .event-row[data-kind="fault:injected"][data-proxy="echo"][data-action="delayed"]';
const newestId = () => page.getAttribute('#event-log .event-row[aria-posinset="1"]', 'data-id');

const setup = setupOnce(async () => {
  echo = await echoServer();
  server = await startServer();
  browser = await launch();
  dash = await openDashboard(browser, server.url, { initScript: RECORD_CHARTS, colorScheme: 'light' });
  page = dash.page;
});

test.after(async () => {
  if (pumping !== null) clearInterval(pumping);
  client?.destroy();
  try {
    await browser?.close();
  } finally {
    await server?.close();
    await echo?.close();
  }
});

it('the page loads clean and a proxy is created through the UI', async () => {
  await setup();
  assert.equal(dash.problems, []);
  assert.is(await page.textContent('#conn-status'), 'connected');
  assert.is(await page.title(), 'faultline');
  await page.click('#proxy-new');
  await page.waitForSelector('#proxy-dialog[open]');
  assert.is(await page.inputValue('#proxy-form [name=listen]'), '127.0.0.1:0');
  await page.fill('#proxy-form [name=name]', 'echo');
  await page.fill('#proxy-form [name=upstream]', echo.address);
  await page.click('#proxy-form button[type=submit]');
  await page.waitForSelector(ROW);
  await page.locator('#proxy-dialog').waitFor({ state: 'hidden' });
  const res = await server.api('GET', '/proxies/echo');
  assert.is(res.status, 200);
  assert.is(res.json.upstream, echo.address);
  assert.is(res.json.enabled, true);
  assert.ok(portOf(res.json.listen) > 0, res.json.listen);
  assert.is((await page.textContent(`${ROW} td[data-label="Listen"]`))?.trim(), res.json.listen);
  // A new proxy is selected at once: its detail panel shows.
  await page.waitForSelector('#proxy-detail[data-proxy="echo"]:not([hidden])');
  assert.equal(dash.problems, []);
});

it('the toxic form shows unit, default and range from GET /toxics; a bad value never reaches the server', async () => {
  await setup();
  const catalog = (await server.api('GET', '/toxics')).json as Array<{ type: string; attributes: Record<string, any> }>;
  const spec = catalog.find((d) => d.type === 'latency')!.attributes.latency;
  assert.is(spec.unit, 'ms');
  const posts: string[] = [];
  page.on('request', (r) => { if (r.method() === 'POST' && r.url().includes('/toxics')) posts.push(r.url()); });
  await page.click('#toxic-add');
  await page.waitForSelector('#toxic-dialog[open]');
  assert.is(await page.inputValue('#toxic-type'), 'latency');
  assert.is(await page.textContent('label[for="toxic-attr-latency"]'), 'latency (ms)');
  assert.is(await page.textContent('#toxic-attr-latency-hint'),
    `default ${spec.default} · ${spec.min ?? 0} to ${spec.max} · whole number · ${spec.description}`);
  const input = page.locator('#toxic-form [name=latency]');
  assert.is(await input.inputValue(), String(spec.default));
  assert.is(await input.getAttribute('min'), String(spec.min ?? 0));
  assert.is(await input.getAttribute('max'), String(spec.max));
  for (const [value, message] of [['-5', 'must be at least 0'], [String(spec.max + 1), `must be at most ${spec.max}`], ['1.5', 'must be a whole number']]) {
    await input.fill(value!);
    await page.click('#toxic-form button[type=submit]');
    await page.waitForSelector('#toxic-attr-latency-error:not([hidden])');
    assert.is(await page.textContent('#toxic-attr-latency-error'), message);
    assert.is(await input.getAttribute('aria-invalid'), 'true');
    assert.ok(await page.isVisible('#toxic-form .form-error'));
  }
  assert.equal(posts, []);
  assert.equal((await server.api('GET', '/proxies/echo/toxics')).json, []);
  assert.ok(await page.isVisible('#toxic-dialog[open]'), 'the dialog stays open on a bad value');

  await input.fill('30');
  await page.click('#toxic-form button[type=submit]');
  await page.locator('#toxic-dialog').waitFor({ state: 'hidden' });
  await page.waitForSelector('#toxics tbody tr[data-toxic="latency_downstream"]');
  assert.is(posts.length, 1);
  const toxics = (await server.api('GET', '/proxies/echo/toxics')).json;
  assert.equal(toxics.map((t: any) => [t.name, t.type, t.stream, t.toxicity, t.attributes]),
    [['latency_downstream', 'latency', 'downstream', 1, { latency: 30, jitter: 0 }]]);
  assert.equal(dash.problems, []);
});

it('traffic through the proxy: delayed events in the log, rates in the row, the charts move', async () => {
  await setup();
  const before = await chartData(page, 'throughput');
  assert.ok(before !== null, 'the throughput chart exists');
  assert.equal(before.max, [0, 0]);
  // An echo sends back what it gets: the ↓ line, drawn last, covers the ↑ one.
  assert.is(await raisedPixels(page, 'chart-throughput', '--chart-down'), 0);
  const port = portOf((await server.api('GET', '/proxies/echo')).json.listen);
  client = await connect(port);
  client.on('data', (d: Buffer) => { received += d.length; });
  // 2,000 bytes every 20 ms: about 100 KB/s each way, 50 delayed chunks a second. A busy machine
  // runs the timer late, so what the page shows is compared with what was actually sent.
  const writes: number[] = [];
  pumping = setInterval(() => { client!.write(Buffer.alloc(2000, 97)); writes.push(Date.now()); }, 20);
  /** Chunks per second written over the last `ms`. */
  const chunkRate = (ms: number) => (writes.filter((t) => t >= Date.now() - ms).length * 1000) / ms;
  await page.waitForSelector(DELAYED, { timeout: 30_000 });
  await page.waitForFunction((row) => {
    const cells = ['↑ bytes/s', '↓ bytes/s'].map((l) => document.querySelector(`${row} td[data-label="${l}"] .rate`)?.textContent ?? '');
    return cells.every((t) => /^[1-9][\d.]* KB\/s$/.test(t));
  }, ROW, { timeout: 30_000 });
  for (const label of ['↑ bytes/s', '↓ bytes/s']) {
    const rate = parseRate(await page.textContent(`${ROW} td[data-label="${label}"] .rate`) ?? '');
    const sent = chunkRate(3000) * 2000;
    assert.ok(rate > 0 && rate <= sent * 4, `${label}: ${rate} B/s shown, ${sent} B/s sent`);
  }
  // One delayed event per chunk at most: echoed chunks may arrive joined, never split.
  // A starved sender (3 chunks a second under load) can leave a one-second window without a
  // fault, so the cell may read 0 for a moment: wait for a second that had some.
  const shown = await page.waitForFunction((row) => {
    const n = Number(document.querySelector(`${row} td[data-label="Faults/s"] .rate`)?.textContent);
    return n > 0 ? n : false;
  }, ROW, { timeout: 30_000 });
  const faults = Number(await shown.jsonValue());
  assert.ok(faults > 0 && faults <= chunkRate(3000) * 4, `faults/s ${faults}, ${chunkRate(3000)} chunks/s sent`);
  // Three one-second samples with traffic in both charts: the lines have left the baseline.
  await page.waitForFunction(() => {
    const find = (cls: string) => [...(window as any).__charts].reverse().find((x: any) => x.root.isConnected && x.root.classList.contains(cls));
    const raised = (c: any, i: number) => (c?.data[i] ?? []).filter((v: number) => v > 0).length >= 3;
    const faults = find('chart-faults');
    return raised(find('chart-throughput'), 1) && faults?.series[1]?.label === 'delayed' && raised(faults, 1);
  }, undefined, { timeout: 30_000 });
  const after = (await chartData(page, 'throughput'))!;
  const faultChart = (await chartData(page, 'faults'))!;
  console.log(`  throughput chart: ${before.points} → ${after.points} points, max ↑ ${after.max[0]} B/s ↓ ${after.max[1]} B/s; faults chart ${JSON.stringify(faultChart)}; ${chunkRate(5000)} chunks/s sent`);
  assert.ok(after.points > before.points, `${after.points} > ${before.points}`);
  assert.ok(after.max[0]! > 0 && after.max[1]! > 0, JSON.stringify(after.max));
  assert.equal(faultChart.labels, ['delayed']);
  assert.ok(faultChart.max[0]! > 0, JSON.stringify(faultChart.max));
  const raised = await raisedPixels(page, 'chart-throughput', '--chart-down');
  assert.ok(raised >= 3, `the ↓ line left the baseline: ${raised} pixels`);
  assert.ok(received > 0);
  assert.equal(dash.problems, []);
});

it('an event row opens its full detail and its live connection', async () => {
  await setup();
  const clientAddress = `127.0.0.1:${client!.localPort}`;
  const conns = (await server.api('GET', '/connections')).json.proxies.find((p: any) => p.proxy === 'echo').connections;
  assert.is(conns.length, 1);
  assert.is(conns[0].client, clientAddress);
  // A keyboard user on a connection's button keeps their place through the table's rebuilds.
  await page.focus(`#connections button[data-conn="${conns[0].conn}"]`);
  await sleep(1500);
  assert.is(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.closest('#connections') ? (document.activeElement as HTMLElement).dataset.conn : null), conns[0].conn);
  // Rows slide down as events arrive, except while the list holds focus: focus one, then click it.
  await page.focus(`${DELAYED}[aria-posinset="2"]`);
  const id = await page.evaluate(() => document.activeElement?.getAttribute('data-id'));
  assert.ok(id, `focus on an event row, not ${await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120))}`);
  // The connections table is rebuilt every second and puts focus back on its own buttons; the
  // event row names the same connection, and must keep its focus through those rebuilds.
  await sleep(2500);
  assert.is(await page.evaluate(() => document.activeElement?.getAttribute('data-id')), id, 'the event row keeps focus while the connections table refreshes');
  await page.click(`#event-log .event-row[data-id="${id}"]`);
  await page.waitForSelector('#event-detail[open]');
  assert.is(await page.textContent('#event-detail-title'), 'fault:injected');
  const body = await page.textContent('#event-detail-body') ?? '';
  assert.match(body, id!);
  assert.match(body, 'latency_downstream');
  assert.match(body, conns[0].conn);
  await page.waitForFunction((text) => (document.getElementById('event-detail-conn')?.textContent ?? '').includes(text), clientAddress);
  const conn = await page.textContent('#event-detail-conn') ?? '';
  assert.match(conn, `Connection ${conns[0].conn}`);
  assert.match(conn, /State\s*open/);
  await page.keyboard.press('Escape');
  await page.locator('#event-detail').waitFor({ state: 'hidden' });
  // Focus is back on the row; Home goes to the newest. Traffic still flows, so new rows would
  // push the focused one down between the key and the check: freeze the log around it.
  await page.waitForFunction((was) => document.activeElement?.getAttribute('data-id') === was, id, { timeout: 5000 });
  await page.evaluate(() => (document.getElementById('log-pause') as HTMLButtonElement).click());
  await page.waitForFunction(() => document.getElementById('log-pause')?.getAttribute('aria-pressed') === 'true');
  await sleep(100); // a frame queued before the pause may still draw once
  await page.focus(`#event-log .event-row[data-id="${id}"]`);
  await page.keyboard.press('Home');
  assert.is(await page.evaluate(() => document.activeElement?.getAttribute('aria-posinset')), '1');
  await page.evaluate(() => (document.getElementById('log-pause') as HTMLButtonElement).click());
  assert.equal(dash.problems, []);
});

it('pause freezes the log while events keep coming; resume shows them', async () => {
  await setup();
  // Focus in the list, or a list scrolled down, holds the view still by design: leave it, scroll up.
  await page.focus('#log-pause');
  await page.$eval('#event-log', (el) => { el.scrollTop = 0; });
  const first = await newestId();
  await page.waitForFunction((was) => document.querySelector('#event-log .event-row[aria-posinset="1"]')?.getAttribute('data-id') !== was, first);
  const since: string[] = [];
  const off = server.events.on('fault:injected', (e) => { if (e.proxy === 'echo') since.push(e.id); });
  try {
    await page.click('#log-pause');
    assert.is(await page.getAttribute('#log-pause', 'aria-pressed'), 'true');
    assert.is((await page.textContent('#log-pause'))?.trim(), 'Resume');
    // A frame queued before the click still draws what came before it, and the count is
    // rewritten once a second: both have settled after a second.
    await sleep(1100);
    const frozen = await newestId();
    const count = await page.textContent('#log-count');
    await sleep(1500);
    assert.ok(since.length > 10, `events while paused: ${since.length}`);
    assert.is(await newestId(), frozen);
    assert.is(await page.textContent('#log-count').then((t) => t?.split(' shown')[0]), count?.split(' shown')[0]);
    await page.click('#log-pause');
    assert.is(await page.getAttribute('#log-pause', 'aria-pressed'), 'false');
    await page.waitForFunction((was) => document.querySelector('#event-log .event-row[aria-posinset="1"]')?.getAttribute('data-id') !== was, frozen);
    const shown = await newestId();
    assert.ok(since.includes(shown!), 'the newest row is an event from the pause or after');
  } finally {
    off();
  }
  // Focus in the log holds its view (and the page) still; let go so the overview is in frame.
  await page.evaluate(() => { (document.activeElement as HTMLElement | null)?.blur(); window.scrollTo(0, 0); });
  await screenshot(page, 'wide').then((size) => assert.ok(size > 20_000, `screenshot ${size} bytes`));
  assert.equal(dash.problems, []);
});

it('keyboard and labels: Tab reaches "New proxy", Enter opens the form; every field labelled; dark scheme', async () => {
  await setup();
  const main = page;
  const fresh = await openDashboard(browser, server.url, { colorScheme: 'light' });
  page = fresh.page;
  try {
    const focused = () => page.evaluate(() => document.activeElement?.id || document.activeElement?.className || '');
    await page.keyboard.press('Tab');
    assert.is(await focused(), 'skip-link');
    let presses = 1;
    while ((await focused()) !== 'proxy-new' && presses < 8) { await page.keyboard.press('Tab'); presses++; }
    assert.is(await focused(), 'proxy-new');
    assert.is(presses, 2);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#proxy-dialog[open]');
    assert.is(await page.evaluate(() => (document.activeElement as HTMLInputElement).name), 'name');
    const proxyForm = await unlabelled(page, '#proxy-form');
    assert.is(proxyForm.total, 6);
    assert.equal(proxyForm.missing, []);
    await page.keyboard.press('Escape');
    await page.locator('#proxy-dialog').waitFor({ state: 'hidden' });
    assert.is(await focused(), 'proxy-new', 'focus returns to the opener');

    await page.focus(`${ROW} .proxy-select`);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#proxy-detail[data-proxy="echo"]:not([hidden])');
    await page.focus('#toxic-add');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#toxic-dialog[open]');
    assert.is(await focused(), 'toxic-type');
    const toxicForm = await unlabelled(page, '#toxic-form');
    assert.is(toxicForm.total, 7, 'type, stream, name, toxicity, ttl, latency, jitter');
    assert.equal(toxicForm.missing, []);
    await page.keyboard.press('Escape');

    const colours = () => page.evaluate(() => [getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color]);
    const [lightBg, lightFg] = await colours();
    await page.emulateMedia({ colorScheme: 'dark' });
    const [darkBg, darkFg] = await colours();
    console.log(`  light: background ${lightBg}, text ${lightFg}; dark: background ${darkBg}, text ${darkFg}`);
    assert.ok(luminance(lightBg!) > 0.8 && luminance(lightFg!) < 0.1, `light ${lightBg} / ${lightFg}`);
    assert.ok(luminance(darkBg!) < 0.05 && luminance(darkFg!) > 0.6, `dark ${darkBg} / ${darkFg}`);
    assert.equal(fresh.problems, []);
  } finally {
    page = main;
    await fresh.close();
  }
});

it('phone layout (390×844), light and dark: no sideways scrolling; screenshots', async () => {
  await setup();
  for (const colorScheme of ['light', 'dark'] as const) {
    const phone = await openDashboard(browser, server.url, { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, colorScheme, isMobile: true, hasTouch: true });
    try {
      await phone.page.tap(`${ROW} .proxy-select`);
      await phone.page.waitForSelector('#toxics tbody tr[data-toxic="latency_downstream"]');
      await phone.page.waitForSelector(DELAYED);
      await phone.page.waitForFunction((row) => /KB\/s$/.test(document.querySelector(`${row} td[data-label="↓ bytes/s"] .rate`)?.textContent ?? ''), ROW);
      const [scroll, client] = await phone.page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
      assert.is(client, 390);
      assert.ok(scroll <= client, `scrollWidth ${scroll} > ${client}`);
      const size = await screenshot(phone.page, colorScheme === 'light' ? 'phone' : 'phone-dark');
      assert.ok(size > 20_000, `screenshot ${size} bytes`);
      assert.equal(phone.problems, []);
    } finally {
      await phone.close();
    }
  }
});

test.run();
