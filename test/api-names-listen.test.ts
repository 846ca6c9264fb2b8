// Names every client can address again, listen addresses that do not parse (400) against those
// that cannot be bound (Toxiproxy's 500), updates refused without changing anything, and the
// per-proxy connection limit.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { assertError, assertEchoes, tryConnect, withServer } from './_helpers/api.js';
import { closeKind, connect, portOf, sleep } from './_helpers/net.js';

const path = (name: string) => `/proxies/${encodeURIComponent(name)}`;

test('odd names round-trip through the URL: create, read, add a toxic, delete', () => withServer(async (s, echo) => {
  const names = ['a b', 'j/k', 'q?x=1', 'h#x', '100%', 'é中😀', '+plus', 'x'.repeat(256), 'dots.in.name', ' lead', '*'];
  for (const name of names) {
    const made = await s.api('POST', '/proxies', { name, listen: '127.0.0.1:0', upstream: echo.address });
    assert.is(made.status, 201, `${JSON.stringify(name.slice(0, 20))}: ${made.text}`);
    assert.is((await s.api('GET', path(name))).json.name, name);
    const toxic = await s.api('POST', `${path(name)}/toxics`, { name, type: 'noop' });
    assert.is(toxic.status, 200, toxic.text);
    assert.is((await s.api('GET', `${path(name)}/toxics/${encodeURIComponent(name)}`)).status, 200);
    assert.is((await s.api('DELETE', `${path(name)}/toxics/${encodeURIComponent(name)}`)).status, 204);
    assert.is((await s.api('DELETE', path(name))).status, 204, name);
  }
  assert.equal((await s.api('GET', '/proxies')).json, {});
}));

test('names no URL could reach are refused with a 400 naming the rule, proxies and toxics alike', () => withServer(async (s, echo) => {
  const cases: Array<[string, RegExp]> = [
    ['x'.repeat(999_800), /name is longer than 256 bytes of UTF-8 \(999800\)/],
    ['é'.repeat(129), /longer than 256 bytes/],
    ['bad\ud800', /not well-formed Unicode/],
    ['\udc00', /lone surrogate/],
    ['tab\there', /control character/],
    ['nul\u0000', /control character/],
    ['.', /cannot be "\."/],
    ['..', /cannot be "\.\."/],
  ];
  for (const [name, message] of cases) {
    assertError(await s.api('POST', '/proxies', { name, listen: '127.0.0.1:0', upstream: echo.address }), 400, message);
    assertError(await s.api('POST', '/populate', [{ name, upstream: echo.address }]), 400, message);
  }
  await s.proxy('p', echo.address);
  for (const [name, message] of cases) {
    assertError(await s.toxic('p', { name, type: 'noop' }), 400, new RegExp(`toxic name .*${message.source.replace(/^name /, '')}`));
  }
  assert.equal(Object.keys((await s.api('GET', '/proxies')).json), ['p']);
  assert.equal((await s.api('GET', '/proxies/p/toxics')).json, []);
}));

test('a listen that does not parse is a 400 naming the field, on create, populate and update', () => withServer(async (s, echo) => {
  const bad: Array<[string, RegExp]> = [
    ['127.0.0.1:-1', /invalid port/], ['abc', /missing port/], ['127.0.0.1:99999', /invalid port/],
    ['127.0.0.1', /missing port/], ['[::1:80', /missing '\]'/], ['a:b:c', /too many colons/], ['127.0.0.1:', /invalid port/],
    ['\u0000:1', /invalid host/], ['a b:1', /invalid host/],
  ];
  const port = await s.proxy('p', echo.address);
  const before = (await s.api('GET', '/proxies/p')).json;
  for (const [listen, why] of bad) {
    const expected = new RegExp(`^bad request body: listen address .*${why.source}`);
    assertError(await s.api('POST', '/proxies', { name: 'n', listen, upstream: echo.address }), 400, expected);
    assertError(await s.api('POST', '/populate', [{ name: 'n', listen, upstream: echo.address }]), 400, expected);
    assertError(await s.api('POST', '/proxies/p', { listen }), 400, expected);
  }
  assert.equal((await s.api('GET', '/proxies/p')).json, before);
  assert.is(await tryConnect(port), 'connected');
}));

test('an update to an address in use: Toxiproxy\'s 500, and the proxy keeps its address, its enabled flag and its live connection', () => withServer(async (s, echo) => {
  const taken = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => taken.once('listening', r));
  const takenPort = (taken.address() as net.AddressInfo).port;
  try {
    const port = await s.proxy('v', echo.address);
    const live = await connect(port);
    await assertEchoes(live, 1000);
    const before = (await s.api('GET', '/proxies/v')).json;
    const changes: string[] = [];
    s.events.on('state:changed', (e) => changes.push(e.kind));
    for (const body of [{ listen: `127.0.0.1:${takenPort}` }, { listen: `127.0.0.1:${takenPort}`, upstream: '127.0.0.1:9' }]) {
      assertError(await s.api('POST', '/proxies/v', body), 500, new RegExp(`^listen tcp 127\\.0\\.0\\.1:${takenPort}: .*EADDRINUSE`));
    }
    assertError(await s.api('POST', '/proxies', { name: 'w', listen: `127.0.0.1:${takenPort}`, upstream: echo.address }), 500, /EADDRINUSE/);
    assertError(await s.api('POST', '/proxies', { name: 'w', listen: 'no-such-host.invalid:0', upstream: echo.address }), 500, /no-such-host\.invalid/);
    assert.equal((await s.api('GET', '/proxies/v')).json, before, 'listen, upstream and enabled unchanged');
    assert.equal(changes, [], 'nothing reported');
    await assertEchoes(live, 1000);
    assert.is(await tryConnect(port), 'connected');
    live.destroy();
  } finally {
    taken.close();
  }
}));

test('moving between overlapping addresses on one port (127.0.0.1:N to [::]:N and back) works, and a failed one restores the old listener', () => withServer(async (s, echo) => {
  const port = await s.proxy('o', echo.address);
  const wide = await s.api('POST', '/proxies/o', { listen: `[::]:${port}` });
  assert.is(wide.status, 200, wide.text);
  assert.is(wide.json.listen, `[::]:${port}`);
  assert.is(await tryConnect(port), 'connected');
  const narrow = await s.api('POST', '/proxies/o', { listen: `127.0.0.1:${port}` });
  assert.is(narrow.status, 200, narrow.text);
  assert.is(narrow.json.listen, `127.0.0.1:${port}`);
  assert.is(await tryConnect(port), 'connected');
}));

test('max_connections: the next client is reset and a refused event is reported; the limit shows in the JSON only when set', () => withServer(async (s, echo) => {
  const made = await s.api('POST', '/proxies', { name: 'm', listen: '127.0.0.1:0', upstream: echo.address, max_connections: 2 });
  assert.is(made.status, 201, made.text);
  assert.is(made.json.max_connections, 2);
  const port = portOf(made.json.listen);
  const refused: any[] = [];
  s.events.on('fault:injected', (e) => { if (e.action === 'refused') refused.push(e); });
  const a = await connect(port);
  const b = await connect(port);
  await assertEchoes(a, 100);
  await assertEchoes(b, 100);
  assert.is(await closeKind(net.connect(port, '127.0.0.1')), 'reset');
  await sleep(50);
  assert.is(refused.length, 1);
  assert.equal({ proxy: refused[0].proxy, type: refused[0].type, detail: refused[0].detail }, { proxy: 'm', type: 'max_connections', detail: { max_connections: 2, live: 2 } });
  a.destroy();
  await sleep(100);
  const d = await connect(port);
  await assertEchoes(d, 100);
  assertError(await s.api('POST', '/proxies/m', { max_connections: -1 }), 400, /max_connections must be a whole number/);
  assertError(await s.api('POST', '/proxies/m', { max_connections: 1.5 }), 400, /max_connections/);
  const off = await s.api('POST', '/proxies/m', { max_connections: 0 });
  assert.is(off.status, 200);
  assert.is('max_connections' in off.json, false, 'unset, the JSON is Toxiproxy\'s shape');
  const e = await connect(port);
  await assertEchoes(e, 100);
  for (const sock of [b, d, e]) sock.destroy();
}));

test.run();
