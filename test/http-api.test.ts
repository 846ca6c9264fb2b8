// http proxies through the API and the CLI: bad input named field by field, where request
// toxics apply and where they do not, TCP toxics beneath the HTTP layer, the proxy and its
// toxics kept across a restart, seeded per-request rolls that replay, and per-route figures.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http2 from 'node:http2';
import { writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { cli } from './_helpers/cli.js';
import { closeKind, connect, portOf, startServer, type TestServer } from './_helpers/net.js';
import { h1Upstream, h2Request, h2Upstream, httpProxy, oneSocket, request } from './_helpers/http.js';
import { tempDir } from './_helpers/persistence.js';

let fl: TestServer;
let upstream: Awaited<ReturnType<typeof h1Upstream>>;
test.before(async () => {
  fl = await startServer();
  upstream = await h1Upstream();
});
test.after(async () => {
  await upstream.close();
  await fl.close();
});

function assertNames(res: { status: number; json: any; text: string }, field: RegExp, what: string): void {
  assert.is(res.status, 400, `${what}: ${res.text}`);
  assert.match(res.json.error, field, what);
}

test('bad attributes get a 400 naming the field and the reason', async () => {
  await httpProxy(fl, 'bad', upstream.address);
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ status: 99 }, /attribute status must be at least 200, got 99/],
    [{ status: 600 }, /attribute status must be at most 599/],
    [{ status: '503' }, /attribute status must be a number/],
    [{ grpc_status: 17 }, /attribute grpc_status must be at most 16/],
    [{ when: 'later' }, /attribute when must be one of request, response/],
    [{ header: 'x-a: (unclosed' }, /attribute header is not a regular expression .*Unterminated group/],
    [{ header: 'x-a: (a)\\1' }, /attribute header is not a regular expression the linear-time engine runs/],
    [{ header: 'x-a: (?<=a)b' }, /attribute header .*linear-time/],
    [{ header: 'bad name: x' }, /attribute header must be "name: regex"/],
    [{ path: '/a\u0000' }, /attribute path holds a control character/],
    [{ path: `/${'a'.repeat(1024)}` }, /attribute path must be at most 1024 bytes of UTF-8, got 1025/],
    [{ method: 'GET,PO ST' }, /attribute method must be HTTP methods separated by commas/],
    [{ body: 'é'.repeat(4097) }, /attribute body must be at most 8192 bytes of UTF-8, got 8194/],
    [{ body: 5 }, /attribute body must be a string, got number 5/],
    [{ first: -1 }, /attribute first must be at least 0/],
  ];
  for (const [attributes, error] of cases) {
    assertNames(await fl.toxic('bad', { type: 'http_abort', attributes }), error, JSON.stringify(attributes).slice(0, 60));
  }
  assertNames(await fl.toxic('bad', { type: 'http_delay', attributes: { latency: -5 } }), /attribute latency must be at least 0/, 'latency');
  assertNames(await fl.toxic('bad', { type: 'http_reset', attributes: { code: 'PROTOCOL_ERROR' } }), /attribute code must be one of/, 'code');
  assert.equal((await fl.api('GET', '/proxies/bad/toxics')).json, [], 'nothing refused was kept');
  // A linear-time regex stays fast on a value built to make a backtracking engine explode.
  assert.is((await fl.toxic('bad', { type: 'http_abort', attributes: { header: 'x-a: ^(a+)+$' } })).status, 200);
  const port = portOf((await fl.api('GET', '/proxies/bad')).json.listen);
  const start = performance.now();
  const r = await request(port, false, '/', { headers: { 'x-a': `${'a'.repeat(8000)}!` } });
  assert.is(r.status, 200);
  assert.ok(performance.now() - start < 2000, `took ${performance.now() - start} ms`);
});

test('protocols: http toxics only on http proxies; TCP toxics on http proxies too; unknown protocols refused', async () => {
  const tcp = await fl.proxy('plain', upstream.address);
  assert.ok(tcp > 0);
  const refused = await fl.toxic('plain', { type: 'http_abort' });
  assertNames(refused, /toxic http_abort does not apply to tcp proxies/, 'on tcp');
  const udp = await fl.api('POST', '/proxies', { name: 'dgram', protocol: 'udp', listen: '127.0.0.1:0', upstream: '127.0.0.1:9' });
  assert.is(udp.status, 201);
  assertNames(await fl.toxic('dgram', { type: 'http_delay' }), /does not apply to udp proxies/, 'on udp');
  assertNames(await fl.api('POST', '/proxies', { name: 'x', upstream: upstream.address, protocol: 'sctp' }), /protocol must be tcp, udp, http or dns, got "sctp"/, 'protocol');
  await httpProxy(fl, 'both', upstream.address);
  const bw = await fl.toxic('both', { type: 'bandwidth', attributes: { rate: 100, queue: 5 } });
  assert.equal([bw.status, bw.json.attributes], [200, { rate: 100 }], 'a UDP-only attribute means nothing beneath HTTP either');
  const proxy = (await fl.api('GET', '/proxies/both')).json;
  assert.equal([proxy.protocol, proxy.toxics.length], ['http', 1]);
  assertNames(await fl.api('POST', '/proxies/both', { protocol: 'tcp' }), /protocol cannot change \(http to tcp\)/, 'change');
});

test('TCP toxics act beneath HTTP/1.1: latency delays real and injected answers alike; reset_peer resets', async () => {
  const port = await httpProxy(fl, 'under', upstream.address);
  await fl.toxic('under', { type: 'http_abort', attributes: { path: '/fail' } });
  await fl.toxic('under', { type: 'latency', attributes: { latency: 200 } });
  const agent = oneSocket();
  for (const path of ['/ok', '/fail']) {
    const start = performance.now();
    const r = await request(port, agent, path);
    const ms = performance.now() - start;
    assert.is(r.status, path === '/ok' ? 200 : 503);
    assert.ok(ms >= 199, `${path} took ${ms}`);
  }
  agent.destroy();
  await fl.api('DELETE', '/proxies/under/toxics/latency_downstream');
  await fl.toxic('under', { type: 'reset_peer', stream: 'upstream' });
  const client = await connect(port);
  const how = closeKind(client);
  client.write('GET /ok HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.is(await how, 'reset');
});

test('an http proxy and its request toxics survive a restart, and act as before', async () => {
  const t = await tempDir();
  try {
    const first = await startServer({ db: t.file });
    const created = await first.api('POST', '/proxies', { name: 'kept', listen: '127.0.0.1:0', upstream: upstream.address, protocol: 'http' });
    const port = portOf(created.json.listen);
    await first.toxic('kept', { type: 'http_abort', name: 'teapot', attributes: { status: 418, path: '/tea', header: 'x-pot: ^yes$' } });
    await first.close();
    const second = await startServer({ db: t.file });
    try {
      const proxy = (await second.api('GET', '/proxies/kept')).json;
      assert.equal([proxy.protocol, proxy.listen, proxy.toxics[0].attributes.header], ['http', `127.0.0.1:${port}`, 'x-pot: ^yes$']);
      assert.is((await request(port, false, '/tea', { headers: { 'x-pot': 'yes' } })).status, 418);
      assert.is((await request(port, false, '/tea')).status, 200);
    } finally {
      await second.close();
    }
  } finally {
    await t.remove();
  }
});

/** 200 requests on one connection through a fresh server seeded `seed`: which were aborted. */
async function pattern(seed: number, h2: boolean): Promise<string> {
  const server = await startServer({ seed });
  const up = h2 ? await h2Upstream() : undefined;
  try {
    const port = await httpProxy(server, 'seeded', up?.address ?? upstream.address);
    await server.toxic('seeded', { type: 'http_abort', toxicity: 0.5 });
    let out = '';
    if (h2) {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      for (let i = 0; i < 200; i++) out += (await h2Request(session, `/${i}`)).status === 503 ? 'x' : '.';
      session.close();
    } else {
      const agent = oneSocket();
      for (let i = 0; i < 200; i++) out += (await request(port, agent, `/${i}`)).status === 503 ? 'x' : '.';
      agent.destroy();
    }
    return out;
  } finally {
    await server.close();
    await up?.close();
  }
}

test('seeded rolls: the same seed gives the same requests aborted, on HTTP/1.1 and HTTP/2 alike; another seed differs', async () => {
  const a = await pattern(7, false);
  assert.is(await pattern(7, false), a);
  assert.is(await pattern(7, true), a, 'per-request rolls do not depend on the HTTP version');
  assert.is.not(await pattern(8, false), a);
  const aborted = [...a].filter((c) => c === 'x').length;
  assert.ok(aborted > 60 && aborted < 140, `${aborted} of 200`);
});

test('per-route figures: paths folded into routes, status classes, body bytes, bounded by OTHER', async () => {
  const port = await httpProxy(fl, 'routes', upstream.address);
  await fl.toxic('routes', { type: 'http_abort', attributes: { path: '/users/*/orders', status: 404 } });
  const agent = oneSocket();
  for (const id of [1, 22, 333]) {
    await request(port, agent, `/users/${id}`, { method: 'POST', body: 'abcd' });
    await request(port, agent, `/users/${id}/orders?x=${id}`);
  }
  for (let i = 0; i < 70; i++) await request(port, agent, `/page${i}`);
  const routes = (await fl.api('GET', '/routes?proxy=routes')).json.proxies[0].routes as any[];
  const byRoute = Object.fromEntries(routes.map((r) => [r.route, r]));
  assert.equal([byRoute['POST /users/:id'].requests, byRoute['POST /users/:id'].statuses, byRoute['POST /users/:id'].bytes.request > 12],
    [3, { '2xx': 3 }, true]);
  assert.equal([byRoute['GET /users/:id/orders'].requests, byRoute['GET /users/:id/orders'].statuses], [3, { '4xx': 3 }]);
  assert.is(routes.length, 64 + 1, '64 routes, then OTHER');
  assert.is(byRoute.OTHER.requests, 70 - 62);
  const metrics = (await fl.api('GET', '/metrics')).text;
  assert.match(metrics, /faultline_http_requests_total\{proxy="routes",route="GET \/users\/:id\/orders",status_class="4xx"\} 3\n/);
  assert.match(metrics, /faultline_http_body_bytes_total\{proxy="routes",route="POST \/users\/:id",direction="request"\} \d+\n/);
  agent.destroy();
});

test('the CLI creates http proxies and keeps text attributes as text', async () => {
  const env = { FAULTLINE_URL: fl.url };
  const created = await cli(['create', 'viacli', '-l', '127.0.0.1:0', '-u', upstream.address, '-p', 'http'], env);
  assert.is(created.code, 0, created.stderr);
  const added = await cli(['toxic', 'add', 'viacli', '-t', 'http_abort', '-a', 'body=503', '-a', 'path=/x/*', '-a', 'status=500', '--tox', '0.5'], env);
  assert.is(added.code, 0, added.stderr);
  const toxic = (await fl.api('GET', '/proxies/viacli/toxics/http_abort_downstream')).json;
  assert.equal([toxic.attributes.body, toxic.attributes.path, toxic.attributes.status, toxic.toxicity], ['503', '/x/*', 500, 0.5]);
  const inspect = await cli(['inspect', 'viacli'], env);
  assert.match(inspect.stdout, /protocol=http/);
  assert.match(inspect.stdout, /body=503 first=0 grpc_status=14 header="" method="" path=\/x\/\* status=500 when=request/);
  const help = await cli(['toxic', 'add', '--help']);
  assert.match(help.stdout, /http_abort +status=<HTTP status>,body=<text>,when=<enum>,grpc_status=<gRPC status code>,method=<methods>,path=<glob>,header=<header>,first=<requests> +\(http proxies\)/);
});

test('scenarios validate http proxies and their toxics; a session exports them as it recorded them', async () => {
  const t = await tempDir();
  try {
    const file = `${t.dir}/http.yaml`;
    const write = (text: string) => writeFile(file, text);
    await write([
      'title: http faults', 'proxies:', '  - {name: web, protocol: http, upstream: "127.0.0.1:8080"}', '  - {name: db, upstream: "127.0.0.1:5432"}',
      'timeline:', '  - at: 0s', '    toxic: {proxy: web, type: http_abort, toxicity: 0.5, attributes: {status: 503, path: "/api/**", when: response}}',
      '  - at: 0s', '    toxic: {proxy: web, type: latency, attributes: {latency: 10}}', '',
    ].join('\n'));
    const ok = await cli(['validate', file]);
    assert.equal([ok.code, ok.stdout], [0, 'ok: http faults (2 steps, 0s)\n'], ok.stderr);
    await write([
      'title: wrong', 'proxies:', '  - {name: db, upstream: "127.0.0.1:5432"}', '  - {name: web, protocol: http, upstream: "127.0.0.1:8080"}',
      'timeline:', '  - at: 0s', '    toxic: {proxy: db, type: http_delay}',
      '  - at: 0s', '    toxic: {proxy: web, type: http_abort, attributes: {header: "x: (a)\\\\1"}}', '',
    ].join('\n'));
    const bad = await cli(['validate', file]);
    assert.is(bad.code, 3, bad.stdout);
    assert.match(bad.stderr, /toxic type 'http_delay' does not apply to tcp proxy 'db'; it applies to http/);
    assert.match(bad.stderr, /timeline\[1\]\.toxic\.attributes\.header: attribute header is not a regular expression the linear-time engine runs/);
  } finally {
    await t.remove();
  }
  const started = await fl.api('POST', '/sessions', { name: 'http session' });
  assert.is(started.status, 201, started.text);
  await httpProxy(fl, 'recorded', upstream.address);
  await fl.toxic('recorded', { type: 'http_reset', name: 'rst', toxicity: 0.25, attributes: { path: '/x', code: 'REFUSED_STREAM' } });
  assert.is((await fl.api('POST', `/sessions/${started.json.id}/stop`)).status, 200);
  const yaml = (await fl.api('GET', `/sessions/${started.json.id}/scenario`)).text;
  assert.match(yaml, /\{ name: recorded, listen: [^,]+, upstream: [^,]+, protocol: http \}/);
  assert.match(yaml, /type: http_reset/);
  assert.match(yaml, /code: REFUSED_STREAM/);
});

test.run();
