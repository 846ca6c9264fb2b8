// The proxy endpoints of the Toxiproxy v2 API (reference sections 1.1-1.5): statuses, bodies,
// error strings, listen reporting, partial updates, populate's create-or-replace, reset, the
// version body, routing (404/405), the request-id header and the browser guard.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeKind, connect, portOf, readAll, tcpServer } from './_helpers/net.js';
import { assertEchoes, assertError, assertPasses, rawRequest, tryConnect, withServer } from './_helpers/api.js';

const LOOPBACK = /^127\.0\.0\.1:(\d+)$/;

test('GET /proxies is {} when empty, with a 20-char request id', () => withServer(async (server) => {
  const res = await server.api('GET', '/proxies');
  assert.is(res.status, 200);
  assert.is(res.text, '{}');
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  assert.match(res.headers.get('x-toxiproxy-request-id') ?? '', /^[0-9a-v]{20}$/);
  const again = await server.api('GET', '/proxies');
  assert.is.not(again.headers.get('x-toxiproxy-request-id'), res.headers.get('x-toxiproxy-request-id'));
}));

test('GET /proxies is an object keyed by name, sorted, with full proxy objects', () => withServer(async (server, echo) => {
  for (const name of ['b', 'c', 'a']) await server.proxy(name, echo.address);
  const res = await server.api('GET', '/proxies');
  assert.is(res.status, 200);
  assert.equal(Object.keys(res.json), ['a', 'b', 'c']);
  const a = res.json.a;
  assert.match(a.listen, LOOPBACK);
  assert.equal(a, { name: 'a', listen: a.listen, upstream: echo.address, enabled: true, toxics: [] });
}));

test('POST /proxies: 201, enabled by default, listen reports the real bound port', () => withServer(async (server, echo) => {
  const res = await server.api('POST', '/proxies', { name: 'p', listen: '127.0.0.1:0', upstream: echo.address });
  assert.is(res.status, 201);
  assert.match(res.headers.get('x-toxiproxy-request-id') ?? '', /^[0-9a-v]{20}$/);
  const port = Number(LOOPBACK.exec(res.json.listen)?.[1]);
  assert.ok(port > 0, res.json.listen);
  assert.equal(res.json, { name: 'p', listen: `127.0.0.1:${port}`, upstream: echo.address, enabled: true, toxics: [] });
  await assertPasses(port);

  const local = await server.api('POST', '/proxies', { name: 'l', listen: 'localhost:0', upstream: echo.address, enabled: null });
  assert.is(local.status, 201);
  assert.match(local.json.listen, LOOPBACK);
  assert.is(local.json.enabled, true);
  assert.is.not(portOf(local.json.listen), 0);
  await assertPasses(portOf(local.json.listen));

  const v6 = await server.api('POST', '/proxies', { name: 'v6', listen: '[::1]:0', upstream: echo.address });
  assert.is(v6.status, 201);
  assert.match(v6.json.listen, /^\[::1\]:\d+$/);
  assert.is.not(portOf(v6.json.listen), 0);
  assert.is(await tryConnect(portOf(v6.json.listen), '::1'), 'connected');
}));

test('POST /proxies disabled echoes listen verbatim; enabling binds, re-enabling reuses the port', () => withServer(async (server, echo) => {
  const res = await server.api('POST', '/proxies', { name: 'd', listen: 'localhost:0', upstream: echo.address, enabled: false });
  assert.is(res.status, 201);
  assert.equal(res.json, { name: 'd', listen: 'localhost:0', upstream: echo.address, enabled: false, toxics: [] });
  const on = await server.api('PATCH', '/proxies/d', { enabled: true });
  assert.is(on.status, 200);
  assert.match(on.json.listen, LOOPBACK);
  const listen = on.json.listen as string;
  assert.is.not(portOf(listen), 0);
  const off = await server.api('PATCH', '/proxies/d', { enabled: false });
  assert.equal([off.json.enabled, off.json.listen], [false, listen]);
  const back = await server.api('POST', '/proxies/d', { enabled: true });
  assert.equal([back.json.enabled, back.json.listen], [true, listen]);
  await assertPasses(portOf(listen));
}));

test('POST /proxies errors: missing fields 400, duplicate 409 before listen, port in use 500', () => withServer(async (server, echo) => {
  assertError(await server.api('POST', '/proxies', { upstream: echo.address }), 400, 'missing required field: name');
  assertError(await server.api('POST', '/proxies', {}), 400, 'missing required field: name');
  assertError(await server.api('POST', '/proxies', { name: 'x', listen: '127.0.0.1:0' }), 400, 'missing required field: upstream');
  assert.is((await server.api('GET', '/proxies')).text, '{}');

  const port = await server.proxy('dup', echo.address);
  // The same name on the same (busy) port: the name check wins, so 409 and not a listen error.
  const dup = await server.api('POST', '/proxies', { name: 'dup', listen: `127.0.0.1:${port}`, upstream: echo.address });
  assertError(dup, 409, 'proxy already exists');
  await assertPasses(port);

  const busy = await tcpServer(() => {});
  try {
    const res = await server.api('POST', '/proxies', { name: 'busy', listen: busy.address, upstream: echo.address });
    assertError(res, 500, /address already in use/);
    assert.ok(res.json.error.includes(busy.address), res.json.error);
    assertError(await server.api('GET', '/proxies/busy'), 404, 'proxy not found');
  } finally {
    await busy.close();
  }
}));

test('GET /proxies/{p}: 200 with the proxy, 404 proxy not found; a name with a space is %20', () => withServer(async (server, echo) => {
  await server.proxy('a b', echo.address);
  const res = await server.api('GET', '/proxies/a%20b');
  assert.is(res.status, 200);
  assert.is(res.json.name, 'a b');
  assert.equal(Object.keys(await (await server.api('GET', '/proxies')).json), ['a b']);
  assertError(await server.api('GET', '/proxies/nope'), 404, 'proxy not found');
  assertError(await server.api('GET', '/proxies/a'), 404, 'proxy not found');
  assert.is((await server.api('DELETE', '/proxies/a%20b')).status, 204);
  assert.is((await server.api('GET', '/proxies')).text, '{}');
}));

test('POST/PATCH /proxies/{p}: partial update keeps missing fields; name ignored; empty body 400', () => withServer(async (server, echo) => {
  const other = await tcpServer((s) => s.end('other'));
  try {
    const port = await server.proxy('p', echo.address);
    const listen = `127.0.0.1:${port}`;
    const up = await server.api('PATCH', '/proxies/p', { upstream: other.address });
    assert.is(up.status, 200);
    assert.equal(up.json, { name: 'p', listen, upstream: other.address, enabled: true, toxics: [] });
    assert.is((await readAll(await connect(port))).toString(), 'other');

    const same = await server.api('POST', '/proxies/p', {});
    assert.equal(same.json, up.json);
    const renamed = await server.api('POST', '/proxies/p', { name: 'q', upstream: echo.address });
    assert.equal(renamed.json, { name: 'p', listen, upstream: echo.address, enabled: true, toxics: [] });
    assertError(await server.api('GET', '/proxies/q'), 404, 'proxy not found');
    await assertPasses(port);

    assertError(await server.api('POST', '/proxies/p', ''), 400, 'bad request body: EOF');
    assertError(await server.api('PATCH', '/proxies/p', ''), 400, 'bad request body: EOF');
    assertError(await server.api('PATCH', '/proxies/nope', { enabled: false }), 404, 'proxy not found');
    assert.equal((await server.api('GET', '/proxies/p')).json, renamed.json);
  } finally {
    await other.close();
  }
}));

test('{"enabled":false} closes live connections and refuses; re-enable reuses the port', () => withServer(async (server, echo) => {
  const port = await server.proxy('p', echo.address);
  const client = await connect(port);
  await assertEchoes(client);
  const closed = closeKind(client);
  const off = await server.api('POST', '/proxies/p', { enabled: false });
  assert.is(off.status, 200);
  assert.equal([off.json.enabled, off.json.listen], [false, `127.0.0.1:${port}`]);
  assert.is(await closed, 'end');
  assert.is(await tryConnect(port), 'ECONNREFUSED');
  const on = await server.api('PATCH', '/proxies/p', { enabled: true });
  assert.equal([on.json.enabled, on.json.listen], [true, `127.0.0.1:${port}`]);
  await assertPasses(port);
}));

test('DELETE /proxies/{p}: 204 with an empty body, closes connections, then 404', () => withServer(async (server, echo) => {
  const port = await server.proxy('p', echo.address);
  const client = await connect(port);
  await assertEchoes(client, 1024);
  const closed = closeKind(client);
  const res = await server.api('DELETE', '/proxies/p');
  assert.is(res.status, 204);
  assert.is(res.text, '');
  assert.is(await closed, 'end');
  assert.is(await tryConnect(port), 'ECONNREFUSED');
  assertError(await server.api('GET', '/proxies/p'), 404, 'proxy not found');
  assertError(await server.api('DELETE', '/proxies/p'), 404, 'proxy not found');
}));

test('POST /reset: 204, re-enables disabled proxies, removes all toxics, ignores the body', () => withServer(async (server, echo) => {
  const p1 = await server.proxy('p1', echo.address);
  const p2 = await server.proxy('p2', echo.address);
  await server.api('POST', '/proxies/p1', { enabled: false });
  assert.is((await server.toxic('p2', { type: 'latency', attributes: { latency: 5 } })).status, 200);
  assert.is((await server.toxic('p2', { type: 'noop', stream: 'upstream' })).status, 200);
  const res = await server.api('POST', '/reset', 'this is not json');
  assert.is(res.status, 204);
  assert.is(res.text, '');
  const all = (await server.api('GET', '/proxies')).json;
  assert.equal(all, {
    p1: { name: 'p1', listen: `127.0.0.1:${p1}`, upstream: echo.address, enabled: true, toxics: [] },
    p2: { name: 'p2', listen: `127.0.0.1:${p2}`, upstream: echo.address, enabled: true, toxics: [] },
  });
  await assertPasses(p1);
}));

test('GET /version: 200, {"version": "2.12.0" ... with a trailing newline', () => withServer(async (server) => {
  const res = await server.api('GET', '/version');
  assert.is(res.status, 200);
  assert.ok(res.text.startsWith('{"version": "2.12.0"'), res.text);
  assert.ok(res.text.endsWith('}\n'), JSON.stringify(res.text));
  assert.is(res.json.version, '2.12.0');
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  assert.match(res.headers.get('x-toxiproxy-request-id') ?? '', /^[0-9a-v]{20}$/);
}));

test('POST /populate: 201 in input order; [] gives {"proxies":[]}; validates all first', () => withServer(async (server, echo) => {
  const res = await server.api('POST', '/populate', [
    { name: 'z', listen: '127.0.0.1:0', upstream: echo.address },
    { name: 'a', listen: '127.0.0.1:0', upstream: echo.address, enabled: false },
  ]);
  assert.is(res.status, 201);
  assert.equal(Object.keys(res.json), ['proxies']);
  assert.equal(res.json.proxies.map((p: any) => [p.name, p.enabled]), [['z', true], ['a', false]]);
  assert.match(res.json.proxies[0].listen, LOOPBACK);
  assert.is(res.json.proxies[1].listen, '127.0.0.1:0');
  await assertPasses(portOf(res.json.proxies[0].listen));

  const empty = await server.api('POST', '/populate', []);
  assert.is(empty.status, 201);
  assert.is(empty.text, '{"proxies":[]}');

  const bad = [{ name: 'n1', upstream: echo.address }, { upstream: echo.address }];
  assertError(await server.api('POST', '/populate', bad), 400, 'missing required field: name at proxy 2');
  const bad2 = [{ name: 'n1', upstream: echo.address }, { name: 'n2', upstream: echo.address }, { name: 'n3' }];
  assertError(await server.api('POST', '/populate', bad2), 400, 'missing required field: upstream at proxy 3');
  assert.equal(Object.keys((await server.api('GET', '/proxies')).json), ['a', 'z']);
}));

test('POST /populate: identical entry keeps toxics, connections and enabled state; differing replaces', () => withServer(async (server, echo) => {
  const port = await server.proxy('p', echo.address);
  const listen = `127.0.0.1:${port}`;
  await server.toxic('p', { type: 'latency', attributes: { latency: 1, jitter: 0 } });
  const client = await connect(port);
  await assertEchoes(client, 1024);
  const same = await server.api('POST', '/populate', [{ name: 'p', listen, upstream: echo.address }]);
  assert.is(same.status, 201);
  assert.equal(same.json.proxies[0].toxics.map((t: any) => t.name), ['latency_downstream']);
  await assertEchoes(client, 1024, 7);

  await server.api('POST', '/proxies/p', { enabled: false });
  const stays = await server.api('POST', '/populate', [{ name: 'p', listen, upstream: echo.address, enabled: true }]);
  assert.equal([stays.json.proxies[0].enabled, stays.json.proxies[0].toxics.length], [false, 1]);
  await server.api('POST', '/proxies/p', { enabled: true });

  const live = await connect(port);
  const closed = closeKind(live);
  const other = await tcpServer((s) => s.pipe(s));
  try {
    const replaced = await server.api('POST', '/populate', [{ name: 'p', listen, upstream: other.address }]);
    assert.is(replaced.status, 201);
    assert.equal(replaced.json.proxies, [{ name: 'p', listen, upstream: other.address, enabled: true, toxics: [] }]);
    assert.ok(['end', 'reset'].includes(await closed), 'the old proxy dropped its connection');
    assert.equal((await server.api('GET', '/proxies/p/toxics')).json, []);
  } finally {
    client.destroy();
    await other.close();
  }
}));

test('POST /populate: a listen failure stops with partial results and a 500 {error,status,proxies}', () => withServer(async (server, echo) => {
  const busy = await tcpServer(() => {});
  try {
    const res = await server.api('POST', '/populate', [
      { name: 'ok', listen: '127.0.0.1:0', upstream: echo.address },
      { name: 'bad', listen: busy.address, upstream: echo.address },
      { name: 'never', listen: '127.0.0.1:0', upstream: echo.address },
    ]);
    assertError(res, 500, /address already in use/);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(res.json.proxies.map((p: any) => p.name), ['ok']);
    assert.equal(Object.keys((await server.api('GET', '/proxies')).json), ['ok']);
    await assertPasses(portOf(res.json.proxies[0].listen));
  } finally {
    await busy.close();
  }
}));

test('routing: unknown route 404 JSON, trailing slash 404, wrong method 405', () => withServer(async (server) => {
  for (const path of ['/nope', '/proxies/', '/proxies/a/b/c/d']) {
    const res = await server.api('GET', path);
    assert.is(res.status, 404, path);
    assert.is(res.json?.status, 404, res.text);
  }
  for (const [method, path] of [['PUT', '/proxies'], ['DELETE', '/version'], ['GET', '/reset'], ['PUT', '/proxies/x/toxics']]) {
    assert.is((await server.api(method!, path!)).status, 405, `${method} ${path}`);
  }
}));

test('browser guard: "Mozilla/..." gets 403 text; "mozilla/5.0", "Mozilla" and no UA are allowed', () => withServer(async (server) => {
  const blocked = await rawRequest(server.url, 'GET', '/proxies', { 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64)' });
  assert.is(blocked.status, 403);
  assert.is(blocked.text, 'User agent not allowed\n');
  assert.match(String(blocked.headers['content-type']), /^text\/plain/);
  const post = await server.api('POST', '/proxies', { name: 'x', upstream: '127.0.0.1:9' }, { 'User-Agent': 'Mozilla/4.0' });
  assert.is(post.status, 403);
  assert.is((await server.api('GET', '/proxies/x')).status, 404, 'the blocked request created nothing');
  for (const ua of ['mozilla/5.0', 'Mozilla', 'curl/8.0']) {
    const ok = await rawRequest(server.url, 'GET', '/proxies', { 'User-Agent': ua });
    assert.equal([ok.status, ok.text], [200, '{}'], ua);
  }
  const none = await rawRequest(server.url, 'GET', '/version');
  assert.is(none.status, 200);
  assert.match(String(none.headers['x-toxiproxy-request-id']), /^[0-9a-v]{20}$/);
}));

test('POST /proxies without listen binds every interface on an ephemeral port, reported as [::]', () => withServer(async (server, echo) => {
  const res = await server.api('POST', '/proxies', { name: 'any', upstream: echo.address });
  assert.is(res.status, 201);
  assert.match(res.json.listen, /^\[::\]:\d+$/);
  const client = await connect(portOf(res.json.listen));
  await assertEchoes(client);
  client.destroy();
  const populated = await server.api('POST', '/populate', [{ name: 'any2', listen: '', upstream: echo.address }]);
  assert.is(populated.status, 201);
  assert.match(populated.json.proxies[0].listen, /^\[::\]:\d+$/);
}));

test.run();
