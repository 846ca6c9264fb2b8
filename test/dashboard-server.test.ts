// The dashboard's side of the server: its static files (types, caching, redirects, HEAD,
// traversal and symlinks refused, the Host check), the token written into the page, browser
// REST calls that need the token and the server's own origin, and the WebSocket's token rule.
// A temp folder stands in for dashboard/, with an index.html carrying the two meta tags.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VERSION } from '../src/server.js';
import { rawRequest } from './_helpers/api.js';
import { echoServer, startServer, type TestServer } from './_helpers/net.js';
import { upgrade } from './_helpers/ws.js';

const INDEX = '<!doctype html><html><head><meta name="faultline-token" content="">\n' +
  '<meta name="faultline-version" content=""><title>t</title></head><body></body></html>\n';
const APP = '// @ts-check\nconsole.log("app");\n';
const MOZILLA = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

interface Fixture { s: TestServer; dir: string; base: string }

async function withDashboard(options: Parameters<typeof startServer>[0], run: (f: Fixture) => Promise<void>): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), 'faultline-dash-'));
  const dir = join(base, 'dashboard');
  await mkdir(join(dir, 'sub'), { recursive: true });
  await writeFile(join(dir, 'index.html'), INDEX);
  await writeFile(join(dir, 'app.js'), APP);
  await writeFile(join(dir, 'style.css'), 'body { margin: 0 }\n');
  await writeFile(join(dir, 'sub', 'icon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  await writeFile(join(dir, '.env'), 'SECRET=1\n');
  await writeFile(join(base, 'secret.txt'), 'outside the folder\n');
  await symlink(join(base, 'secret.txt'), join(dir, 'escape.txt'));
  await symlink(base, join(dir, 'up'));
  await symlink(join(dir, 'app.js'), join(dir, 'alias.js'));
  const s = await startServer({ dashboardDir: dir, ...options });
  try {
    await run({ s, dir, base });
  } finally {
    await s.close();
    await rm(base, { recursive: true, force: true });
  }
}

/** The path goes on the wire exactly as given: a URL string would resolve `..` and `%2e%2e` first. */
function verbatim(port: number, path: string): Promise<{ status: number; type: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], text }));
    });
    req.on('error', reject);
    req.end();
  });
}

const page = (token: string, version = VERSION) => INDEX
  .replace('name="faultline-token" content=""', `name="faultline-token" content="${token}"`)
  .replace('name="faultline-version" content=""', `name="faultline-version" content="${version}"`);

test('/ and /dashboard redirect to /dashboard/, which serves index.html with the token and version', async () => {
  await withDashboard({}, async ({ s }) => {
    for (const [from, to] of [['/', '/dashboard/'], ['/dashboard', '/dashboard/'], ['/dashboard?x=1', '/dashboard/?x=1']]) {
      const r = await rawRequest(s.url, 'GET', from!, { 'user-agent': MOZILLA });
      assert.equal([r.status, r.headers.location, r.text], [302, to, ''], from);
    }
    assert.match(s.token, /^[\w-]{32}$/, '192 random bits in base64url');
    const r = await rawRequest(s.url, 'GET', '/dashboard/', { 'user-agent': MOZILLA });
    assert.is(r.status, 200, 'a browser loads the page without any token');
    assert.is(r.text, page(s.token));
    assert.is(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.is(r.headers['cache-control'], 'no-cache');
    assert.is(r.headers['content-length'], String(Buffer.byteLength(page(s.token))));
    assert.is(r.headers['x-frame-options'], 'DENY');
    assert.is(r.headers['content-security-policy'], "frame-ancestors 'none'");
    assert.is((await rawRequest(s.url, 'GET', '/dashboard/index.html')).text, r.text);
    const etag = r.headers.etag!;
    assert.match(etag, /^"[\w-]{27}"$/);
    const again = await rawRequest(s.url, 'GET', '/dashboard/', { 'if-none-match': etag });
    assert.equal([again.status, again.text, again.headers.etag], [304, '', etag]);
    assert.is((await rawRequest(s.url, 'GET', '/dashboard/', { 'if-none-match': '"other"' })).status, 200);
    const other = await startServer({ dashboardDir: '/nonexistent' });
    try {
      assert.is.not(other.token, s.token, 'each server makes its own token');
    } finally {
      await other.close();
    }
  });
});

test('a given token is written HTML-escaped; the meta tags may end with /> ', async () => {
  await withDashboard({ token: 'a"b<c>&\'d' }, async ({ s, dir }) => {
    assert.is(s.token, 'a"b<c>&\'d');
    await writeFile(join(dir, 'index.html'), '<meta name="faultline-token" content="" />');
    const r = await rawRequest(s.url, 'GET', '/dashboard/');
    assert.is(r.text, '<meta name="faultline-token" content="a&#34;b&#60;c&#62;&#38;&#39;d" />');
  });
});

test('assets: content types, HEAD, the uPlot files from the dependency, and edits show at once', async () => {
  await withDashboard({}, async ({ s, dir }) => {
    const expect: Array<[string, string, string]> = [
      ['/dashboard/app.js', 'text/javascript; charset=utf-8', APP],
      ['/dashboard/alias.js', 'text/javascript; charset=utf-8', APP],
      ['/dashboard/style.css', 'text/css; charset=utf-8', 'body { margin: 0 }\n'],
      ['/dashboard/sub/icon.svg', 'image/svg+xml', '<svg xmlns="http://www.w3.org/2000/svg"/>'],
    ];
    const require = createRequire(import.meta.url);
    for (const [path, file] of [['/dashboard/vendor/uplot.js', 'uplot/dist/uPlot.iife.min.js'], ['/dashboard/vendor/uplot.css', 'uplot/dist/uPlot.min.css']]) {
      const text = await readFile(require.resolve(file!), 'utf8');
      assert.ok(text.length > 1000, `${file} is the real library`);
      expect.push([path!, path!.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8', text]);
    }
    for (const [path, type, text] of expect) {
      const r = await rawRequest(s.url, 'GET', path, { 'user-agent': MOZILLA });
      assert.equal([r.status, r.headers['content-type'], r.text], [200, type, text], path);
      assert.is(r.headers['x-content-type-options'], 'nosniff');
      const head = await rawRequest(s.url, 'HEAD', path);
      assert.equal([head.status, head.headers['content-type'], head.headers['content-length'], head.text],
        [200, type, String(Buffer.byteLength(text)), ''], `HEAD ${path}`);
    }
    await writeFile(join(dir, 'app.js'), 'console.log("edited, and longer");\n');
    assert.is((await rawRequest(s.url, 'GET', '/dashboard/app.js')).text, 'console.log("edited, and longer");\n');
  });
});

test('no traversal: .., encoded or not, dotfiles, symlinks out of the folder, bad escapes: all 404', async () => {
  await withDashboard({}, async ({ s }) => {
    const paths = [
      '/dashboard/../secret.txt', '/dashboard/%2e%2e/secret.txt', '/dashboard/%2E%2E%2Fsecret.txt', '/dashboard/..%2fsecret.txt',
      '/dashboard/sub/..%2f..%2fsecret.txt', '/dashboard/..%5csecret.txt', '/dashboard/%2e%2e%5csecret.txt',
      '/dashboard/./app.js', '/dashboard/sub//icon.svg', '/dashboard/.env', '/dashboard/%2eenv',
      '/dashboard/escape.txt', '/dashboard/up/secret.txt', '/dashboard/app.js%00.html', '/dashboard/%zz',
      '/dashboard/missing.js', '/dashboard/sub', '/dashboard/sub/', '/dashboard/vendor/uPlot.iife.min.js',
    ];
    for (const path of paths) {
      const r = await verbatim(s.port, path);
      assert.equal([r.status, r.type], [404, 'application/json'], path);
      assert.equal(JSON.parse(r.text), { error: 'page not found', status: 404, code: 'ERR_ROUTE_NOT_FOUND' }, path);
    }
  });
});

test('GET and HEAD only; a loopback server serves the page only to a loopback Host', async () => {
  await withDashboard({}, async ({ s }) => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const r = await rawRequest(s.url, method, '/dashboard/', { 'x-faultline-token': s.token });
      assert.equal([r.status, r.headers.allow, JSON.parse(r.text).code], [405, 'GET, HEAD', 'ERR_METHOD_NOT_ALLOWED'], method);
    }
    // A site that rebinds its own name to 127.0.0.1 must not read the token out of the page.
    const rebound = await rawRequest(s.url, 'GET', '/dashboard/', { host: `evil.example:${s.port}`, 'user-agent': MOZILLA });
    assert.is(rebound.status, 403);
    assert.is(JSON.parse(rebound.text).code, 'ERR_HOST_NOT_ALLOWED');
    assert.not.ok(rebound.text.includes(s.token));
    assert.is((await rawRequest(s.url, 'GET', '/', { host: `evil.example:${s.port}` })).status, 403);
    for (const host of [`localhost:${s.port}`, `127.0.0.1:${s.port}`, `127.0.0.2:${s.port}`, `[::1]:${s.port}`]) {
      assert.is((await rawRequest(s.url, 'GET', '/dashboard/', { host })).status, 200, host);
    }
  });
});

test('browser REST needs the token and our own origin; everything else from a browser is 403; other clients unchanged', async () => {
  const echo = await echoServer();
  await withDashboard({}, async ({ s }) => {
    const host = `127.0.0.1:${s.port}`;
    const create = (name: string, headers: Record<string, string>) => rawRequest(s.url, 'POST', '/proxies',
      { 'content-type': 'application/json', ...headers }, JSON.stringify({ name, listen: '127.0.0.1:0', upstream: echo.address }));
    const own = { 'user-agent': MOZILLA, origin: `http://${host}` };
    const refused: Array<Record<string, string>> = [
      own,
      { ...own, 'x-faultline-token': `${s.token}x` },
      { ...own, 'x-faultline-token': s.token.slice(1) },
      { 'user-agent': MOZILLA, origin: 'http://evil.example', 'x-faultline-token': s.token },
      { 'user-agent': MOZILLA, origin: `http://127.0.0.1:${s.port + 1}`, 'x-faultline-token': s.token },
      { 'user-agent': MOZILLA, origin: 'null', 'x-faultline-token': s.token },
      { 'user-agent': MOZILLA, 'sec-fetch-site': 'cross-site', 'x-faultline-token': s.token },
      { 'user-agent': MOZILLA, 'sec-fetch-site': 'same-site', 'x-faultline-token': s.token },
      // DNS rebinding: the origin matches the Host, but the Host is not loopback.
      { 'user-agent': MOZILLA, host: `evil.example:${s.port}`, origin: `http://evil.example:${s.port}`, 'x-faultline-token': s.token },
    ];
    for (const [i, headers] of refused.entries()) {
      const r = await create(`refused${i}`, headers);
      assert.equal([r.status, r.text], [403, 'User agent not allowed\n'], JSON.stringify(headers));
      const get = await rawRequest(s.url, 'GET', '/proxies', headers);
      assert.is(get.status, 403);
    }
    assert.equal((await s.api('GET', '/proxies')).json, {}, 'nothing was created');
    const withToken = { ...own, 'x-faultline-token': s.token };
    assert.is((await create('a', withToken)).status, 201);
    assert.is((await create('b', { ...withToken, origin: `https://${host}` })).status, 201);
    const sameOriginGet = { 'user-agent': MOZILLA, 'sec-fetch-site': 'same-origin', 'x-faultline-token': s.token };
    const list = await rawRequest(s.url, 'GET', '/proxies', sameOriginGet);
    assert.equal([list.status, Object.keys(JSON.parse(list.text))], [200, ['a', 'b']]);
    assert.is((await rawRequest(s.url, 'GET', '/proxies', { 'user-agent': MOZILLA, 'x-faultline-token': s.token })).status, 200);
    assert.is((await rawRequest(s.url, 'DELETE', '/proxies/b', withToken)).status, 204);
    // Toxiproxy's clients send no token and keep working.
    assert.is((await create('c', {})).status, 201);
    assert.is((await create('d', { 'user-agent': 'toxiproxy-go/2.12' })).status, 201);
    assert.equal(Object.keys((await s.api('GET', '/proxies')).json), ['a', 'c', 'd']);
  });
  await echo.close();
});

test('the stream: with an Origin (a browser) the token is required, by query or header; without one, as before', async () => {
  await withDashboard({}, async ({ s }) => {
    const host = `127.0.0.1:${s.port}`;
    const ws = (query = '') => `ws://${host}/events/stream${query}`;
    const token = encodeURIComponent(s.token);
    const origin = `http://${host}`;
    assert.equal(await upgrade(ws(), { origin }), { status: 401, body: 'Unauthorized' });
    assert.is((await upgrade(ws(`?token=${token}`), { origin })).status, 101);
    assert.is((await upgrade(ws(`?proxy=a&token=${token}`), { origin })).status, 101);
    assert.is((await upgrade(ws(), { origin, headers: { 'x-faultline-token': s.token } })).status, 101);
    assert.is((await upgrade(ws('?token=wrong'), { origin })).status, 401);
    assert.is((await upgrade(ws(`?token=${token}`), { origin: 'http://evil.example' })).status, 403, 'the Origin check stays');
    const rebound = `evil.example:${s.port}`;
    assert.is((await upgrade(ws(`?token=${token}`), { origin: `http://${rebound}`, headers: { host: rebound } })).status, 401);
    assert.is((await upgrade(ws())).status, 101, 'no Origin: a script, not a page');
    assert.is((await upgrade(ws('?token=wrong'))).status, 101);
  });
});

test.run();
