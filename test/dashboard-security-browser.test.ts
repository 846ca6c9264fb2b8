// What a browser cannot do to the API, tried in headless Chromium against a real server. A page
// from another origin (a second server on 127.0.0.1:0) tries fetches with and without the token
// (even the real one, as if it had leaked), form posts (simple requests: no preflight), reads
// of the dashboard and the API, and the event stream with and without the token. Then the
// dashboard's own page without the token. Nothing may change on the server.

import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { browserTest, launch, openDashboard, setupOnce } from './_helpers/browser.js';
import { echoServer, startServer, type TestServer, type Upstream } from './_helpers/net.js';

/** Skipped, and counted so, without Chromium. */
const it = browserTest(test);

let server: TestServer;
let echo: Upstream;
let attacker: http.Server;
let attackerUrl: string;
let browser: Awaited<ReturnType<typeof launch>>;
const changes: string[] = [];

/** The hostile page: every attempt's outcome lands in window.results. */
function attackPage(api: string, token: string): string {
  const ws = api.replace(/^http/, 'ws');
  const proxy = JSON.stringify({ name: 'evil', listen: '127.0.0.1:0', upstream: '127.0.0.1:9' });
  return `<!doctype html><html><head><title>elsewhere</title></head><body>
<iframe name="sink-proxies"></iframe><iframe name="sink-reset"></iframe>
<form id="form-proxies" method="POST" action="${api}/proxies" enctype="text/plain" target="sink-proxies">
  <input name='{"name":"evil-form","listen":"127.0.0.1:0","upstream":"127.0.0.1:9","x":"' value='"}'>
</form>
<form id="form-reset" method="POST" action="${api}/reset" target="sink-reset"></form>
<script>
const API = ${JSON.stringify(api)}, TOKEN = ${JSON.stringify(token)}, BODY = ${JSON.stringify(proxy)};
const outcome = (p) => p.then((r) => 'answered ' + (r.type === 'opaque' ? 'opaque' : r.status), (e) => 'refused: ' + e.name);
const stream = (query) => new Promise((resolve) => {
  const socket = new WebSocket(${JSON.stringify(ws)} + '/events/stream' + query);
  socket.onopen = () => { resolve('open'); socket.close(); };
  socket.onclose = (e) => resolve('closed ' + e.code);
});
window.attack = async () => ({
  simplePost: await outcome(fetch(API + '/proxies', { method: 'POST', body: BODY, headers: { 'Content-Type': 'text/plain' } })),
  noCorsPost: await outcome(fetch(API + '/proxies', { method: 'POST', body: BODY, mode: 'no-cors' })),
  noCorsReset: await outcome(fetch(API + '/reset', { method: 'POST', mode: 'no-cors' })),
  guessedToken: await outcome(fetch(API + '/proxies', { method: 'POST', body: BODY, headers: { 'X-Faultline-Token': 'guess' } })),
  realToken: await outcome(fetch(API + '/proxies', { method: 'POST', body: BODY, headers: { 'X-Faultline-Token': TOKEN, 'Content-Type': 'application/json' } })),
  realTokenDelete: await outcome(fetch(API + '/proxies/guarded', { method: 'DELETE', headers: { 'X-Faultline-Token': TOKEN } })),
  readProxies: await outcome(fetch(API + '/proxies')),
  readDashboard: await outcome(fetch(API + '/dashboard/')),
  streamNoToken: await stream(''),
  streamRealToken: await stream('?token=' + encodeURIComponent(TOKEN)),
});
</script></body></html>`;
}

const setup = setupOnce(async () => {
  echo = await echoServer();
  server = await startServer();
  await server.proxy('guarded', echo.address);
  assert.is((await server.toxic('guarded', { name: 'lat', type: 'latency', attributes: { latency: 10 } })).status, 200);
  server.events.on('state:changed', (c) => changes.push(`${c.kind} ${c.proxy}`));
  const page = attackPage(server.url, server.token);
  attacker = http.createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end(page));
  attacker.listen(0, '127.0.0.1');
  await once(attacker, 'listening');
  attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`;
  browser = await launch();
});

test.after(async () => {
  try {
    await browser?.close();
  } finally {
    attacker?.closeAllConnections();
    await new Promise((r) => (attacker === undefined ? r(null) : attacker.close(r)));
    await server?.close();
    await echo?.close();
  }
});

const state = async (s: TestServer) => JSON.stringify((await s.api('GET', '/proxies')).json);

it('a page from another origin cannot mutate, read or subscribe, even holding the real token', async () => {
  await setup();
  const before = await state(server);
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const answers: string[] = [];
    page.on('response', (r) => { if (r.url().startsWith(server.url)) answers.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`); });
    await page.goto(attackerUrl);
    assert.match(await page.evaluate(() => navigator.userAgent), /^Mozilla\//);
    const results = await page.evaluate(() => (window as any).attack());
    console.log(`  cross-origin attempts: ${JSON.stringify(results)}`);
    assert.equal(results, {
      // Sent (a simple request needs no preflight) but refused, and the page may not read the answer.
      simplePost: 'refused: TypeError',
      noCorsPost: 'answered opaque',
      noCorsReset: 'answered opaque',
      // The custom header needs a CORS preflight the server never grants: the request is not sent.
      guessedToken: 'refused: TypeError',
      realToken: 'refused: TypeError',
      realTokenDelete: 'refused: TypeError',
      readProxies: 'refused: TypeError',
      readDashboard: 'refused: TypeError',
      // The upgrade's Origin is not the server's: refused with or without the token.
      streamNoToken: 'closed 1006',
      streamRealToken: 'closed 1006',
    });
    for (const form of ['form-proxies', 'form-reset']) {
      const path = form === 'form-proxies' ? '/proxies' : '/reset';
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url() === server.url + path && r.request().method() === 'POST'),
        page.evaluate((id) => (document.getElementById(id) as HTMLFormElement).submit(), form),
      ]);
      assert.is(response.status(), 403, path);
      assert.is(await response.text(), 'User agent not allowed\n');
    }
    console.log(`  answers seen from the API: ${answers.join(", ")}`);
    // Every request that reached the API was refused; none was answered with success.
    assert.ok(answers.length >= 4, answers.join());
    assert.equal(answers.filter((a) => !/ 403$/.test(a) && !/^OPTIONS /.test(a)), [], answers.join());
    assert.not.ok(answers.some((a) => /^(POST|DELETE) .* 2\d\d$/.test(a)));
  } finally {
    await context.close();
  }
  assert.is(await state(server), before);
  assert.equal(changes, []);
  assert.equal((await server.api('GET', '/proxies/guarded/toxics')).json.map((t: any) => t.name), ['lat']);
});

it('the dashboard page itself, without the token, gets 403 and changes nothing; with it, it may', async () => {
  await setup();
  const before = await state(server);
  const dash = await openDashboard(browser, server.url);
  try {
    const tries = await dash.page.evaluate(async () => {
      const body = JSON.stringify({ name: 'sneaky', listen: '127.0.0.1:0', upstream: '127.0.0.1:9' });
      const send = async (method: string, path: string, headers: Record<string, string> = {}, withBody = false) => {
        const r = await fetch(path, { method, headers, ...(withBody ? { body } : {}) });
        return `${r.status} ${await r.text()}`;
      };
      const open = (url: string) => new Promise<string>((resolve) => {
        const ws = new WebSocket(url);
        ws.onmessage = (m) => { resolve(`message ${JSON.parse(m.data).type}`); ws.close(); };
        ws.onclose = (e) => resolve(`closed ${e.code}`);
      });
      const stream = `ws://${location.host}/events/stream`;
      const token = document.querySelector('meta[name="faultline-token"]')!.getAttribute('content')!;
      return {
        post: await send('POST', '/proxies', {}, true),
        wrongToken: await send('POST', '/proxies', { 'X-Faultline-Token': `${token}x` }, true),
        remove: await send('DELETE', '/proxies/guarded'),
        removeToxic: await send('DELETE', '/proxies/guarded/toxics/lat'),
        reset: await send('POST', '/reset'),
        read: await send('GET', '/proxies'),
        streamNoToken: await open(stream),
        streamToken: await open(`${stream}?token=${encodeURIComponent(token)}`),
        tokenLength: token.length,
      };
    });
    const refused = '403 User agent not allowed\n';
    assert.equal(tries, {
      post: refused, wrongToken: refused, remove: refused, removeToxic: refused, reset: refused, read: refused,
      streamNoToken: 'closed 1006', streamToken: 'message snapshot', tokenLength: server.token.length,
    });
    assert.is(await state(server), before);
    assert.equal(changes, []);
    // The same request with the page's token goes through: the 403s above were the token's doing.
    const allowed = await dash.page.evaluate(async () => {
      const token = document.querySelector('meta[name="faultline-token"]')!.getAttribute('content')!;
      const r = await fetch('/proxies', { method: 'POST', headers: { 'X-Faultline-Token': token, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'by-page', listen: '127.0.0.1:0', upstream: '127.0.0.1:9' }) });
      return r.status;
    });
    assert.is(allowed, 201);
    assert.equal(changes, ['proxy:created by-page']);
  } finally {
    await dash.close();
  }
});

it('exec allowed beyond loopback: the page carries no token, and works once opened with #token=', async () => {
  await setup();
  const token = 'brought-token-0123456789';
  // Bound to every interface, reached only over loopback.
  const wide = await startServer({ host: '0.0.0.0', token, allowExec: true });
  const base = `http://127.0.0.1:${wide.port}`;
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${base}/dashboard/`);
    await page.waitForSelector('#conn-status[data-state]');
    await new Promise((r) => setTimeout(r, 500));
    assert.is.not(await page.getAttribute('#conn-status', 'data-state'), 'open', 'no token, no stream');
    const dash = await openDashboard(browser, base, { path: `/dashboard/#token=${encodeURIComponent(token)}` });
    try {
      assert.is(await dash.page.evaluate(() => location.hash), '', 'the token left the address bar');
      const made = await dash.page.evaluate(async (t) => {
        const res = await fetch('/proxies', {
          method: 'POST', headers: { 'X-Faultline-Token': t, 'Content-Type': 'application/json' },
          body: JSON.stringify({ name: 'brought', listen: '127.0.0.1:0', upstream: '127.0.0.1:9' }),
        });
        await res.text();
        return res.status;
      }, token);
      assert.is(made, 201);
      // A reload in the same tab keeps working without the fragment.
      await dash.page.reload();
      await dash.page.waitForSelector('#conn-status[data-state="open"]', { timeout: 10_000 });
      assert.equal(dash.problems, []);
    } finally {
      await dash.close();
    }
  } finally {
    await context.close();
    await wide.close();
  }
});

test.run();
