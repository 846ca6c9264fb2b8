// HTTP/1.1 through an http proxy with real clients (node:http keep-alive agents, fetch, raw
// sockets for pipelining and exact bytes): per-request toxicity on one keep-alive connection,
// `first`, matching by path, method and header, the response phase, delays per route, live
// changes between requests, pipelining, chunked bodies, Expect: 100-continue and upgrades.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { lag } from './_helpers/lag.js';
import { connect, sleep, startServer, type TestServer } from './_helpers/net.js';
import { h1Upstream, httpProxy, oneSocket, request, until } from './_helpers/http.js';

let fl: TestServer;
test.before(async () => { fl = await startServer(); });
test.after(async () => { await fl.close(); });

test('1,000 requests on one keep-alive connection, http_abort at toxicity 0.5: about half fail, one upstream connection', async () => {
  const up = await h1Upstream();
  const port = await httpProxy(fl, 'half', up.address);
  assert.is((await fl.toxic('half', { type: 'http_abort', toxicity: 0.5 })).status, 200);
  const agent = oneSocket();
  const sockets = new Set<net.Socket>();
  let aborted = 0;
  for (let i = 0; i < 1000; i++) {
    const r = await new Promise<number>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: `/item/${i}`, agent }, (res) => {
        sockets.add(res.socket);
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
    });
    if (r === 503) aborted++;
    else assert.is(r, 200);
  }
  // Binomial(1000, 0.5): sd 15.8; 5 sd either side fails about once in 3.5 million runs.
  assert.ok(aborted > 420 && aborted < 580, `${aborted} of 1000 aborted`);
  assert.is(sockets.size, 1, 'the client used one connection');
  assert.is(up.connections, 1, 'the server saw one connection');
  assert.is(up.requests.length, 1000 - aborted, 'aborted requests never reached the server');
  agent.destroy();
  await up.close();
});

test('first: 2 fails exactly the first two matching requests; others do not count', async () => {
  const up = await h1Upstream();
  const port = await httpProxy(fl, 'first', up.address);
  await fl.toxic('first', { type: 'http_abort', attributes: { first: 2, path: '/pay' } });
  const agent = oneSocket();
  const got = [];
  for (const path of ['/other', '/pay', '/other', '/pay', '/pay', '/pay']) got.push((await request(port, agent, path)).status);
  assert.equal(got, [200, 503, 200, 503, 200, 200]);
  assert.equal(up.requests, ['GET /other', 'GET /other', 'GET /pay', 'GET /pay']);
  agent.destroy();
  await up.close();
});

test('path globs, methods and header regexes select the requests a toxic acts on', async () => {
  const up = await h1Upstream();
  const port = await httpProxy(fl, 'match', up.address);
  const added = await fl.toxic('match', { type: 'http_abort', attributes: { status: 418, method: 'POST,PUT', path: '/api/*/items/**', header: 'x-canary: ^yes-\\d+$' } });
  assert.is(added.status, 200, added.text);
  const agent = oneSocket();
  const canary = { 'x-canary': 'yes-42' };
  const cases: Array<[string, string, Record<string, string>, number]> = [
    ['POST', '/api/v1/items/a/b', canary, 418],
    ['PUT', '/api/v2/items/x?debug=1', canary, 418],
    ['GET', '/api/v1/items/a', canary, 200],
    ['POST', '/api/v1/x/items/a', canary, 200],
    ['POST', '/api/v1/items/a', { 'x-canary': 'no' }, 200],
    ['POST', '/api/v1/items/a', {}, 200],
    ['POST', '/api/v1/items/a', { 'X-Canary': 'yes-7' }, 418],
  ];
  for (const [method, path, headers, want] of cases) {
    const r = await request(port, agent, path, { method, headers, ...(method === 'GET' ? {} : { body: 'x' }) });
    assert.is(r.status, want, `${method} ${path} ${JSON.stringify(headers)}`);
  }
  agent.destroy();
  await up.close();
});

test('when: response: the server handles the request, its answer is replaced, the connection goes on', async () => {
  let work = 0;
  const up = await h1Upstream((req, res, body) => {
    work++;
    res.end(`did ${req.url} with ${body.length} bytes`);
  });
  const port = await httpProxy(fl, 'late', up.address);
  await fl.toxic('late', { type: 'http_abort', attributes: { when: 'response', status: 500, body: 'lost on the way back', path: '/charge' } });
  const agent = oneSocket();
  const lost = await request(port, agent, '/charge', { method: 'POST', body: 'x'.repeat(5000) });
  assert.equal([lost.status, lost.body], [500, 'lost on the way back']);
  assert.is(work, 1, 'the server did the work');
  const next = await request(port, agent, '/other');
  assert.equal([next.status, next.body], [200, 'did /other with 0 bytes']);
  assert.is(up.connections, 1);
  let e: any;
  await until(async () => (e = (await fl.api('GET', '/events?proxy=late&type=http_abort')).json.events[0]) !== undefined, 5000, 'the event stored');
  assert.equal([e.action, e.detail.method, e.detail.path, e.detail.status, e.detail.server_status, e.detail.when, e.detail.stream_id],
    ['aborted', 'POST', '/charge', 500, 200, 'response', 1]);
  agent.destroy();
  await up.close();
});

test('delays per route on one connection: each request waits its own route\'s delay, at its phase', async () => {
  const up = await h1Upstream();
  const port = await httpProxy(fl, 'slow', up.address);
  await fl.toxic('slow', { type: 'http_delay', name: 'req', attributes: { latency: 300, path: '/slow' } });
  await fl.toxic('slow', { type: 'http_delay', name: 'res', attributes: { latency: 200, path: '/later', when: 'response' } });
  const agent = oneSocket();
  await request(port, agent, '/warm');
  const time = async (path: string) => {
    const start = performance.now();
    const r = await request(port, agent, path);
    assert.is(r.status, 200);
    return { ms: performance.now() - start, start };
  };
  for (let round = 0; round < 2; round++) {
    const slow = await time('/slow');
    const fast = await time('/fast');
    const later = await time('/later');
    assert.ok(slow.ms >= 299, `/slow took ${slow.ms}`);
    assert.ok(later.ms >= 199, `/later took ${later.ms}`);
    assert.ok(fast.ms < 100 + lag.worst(fast.start), `/fast took ${fast.ms} (timer lag ${lag.worst(fast.start)})`);
  }
  assert.is(up.connections, 1);
  agent.destroy();
  await up.close();
});

test('toxics added, updated and removed between requests on one connection apply from the next request', async () => {
  const up = await h1Upstream();
  const port = await httpProxy(fl, 'live', up.address);
  const agent = oneSocket();
  const statuses = [(await request(port, agent, '/')).status];
  await fl.toxic('live', { type: 'http_abort', name: 'a' });
  statuses.push((await request(port, agent, '/')).status);
  await fl.api('POST', '/proxies/live/toxics/a', { attributes: { status: 429 } });
  statuses.push((await request(port, agent, '/')).status);
  await fl.api('DELETE', '/proxies/live/toxics/a');
  statuses.push((await request(port, agent, '/')).status);
  assert.equal(statuses, [200, 503, 429, 200]);
  assert.is(up.connections, 1);
  agent.destroy();
  await up.close();
});

test('pipelined requests go upstream as the bytes sent, answers come back in order, an abort in its place', async () => {
  const raw: Buffer[] = [];
  const up = await h1Upstream((req, res, body) => res.end(`${req.method} ${req.url} ${body.toString()}`));
  up.server.on('connection', (s: net.Socket) => s.on('data', (d: Buffer) => raw.push(d)));
  const port = await httpProxy(fl, 'pipe', up.address);
  await fl.toxic('pipe', { type: 'http_abort', attributes: { path: '/skip', status: 404, body: 'skipped' } });
  const one = 'POST /one HTTP/1.1\r\nHost: x\r\nX-Odd-Case:  spaced value \r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n';
  const two = 'PUT /skip HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello';
  const three = 'GET /three HTTP/1.1\r\nhost: x\r\n\r\n';
  const client = await connect(port);
  const replies: string[] = [];
  client.on('data', (d: Buffer) => replies.push(d.toString()));
  // In odd pieces, so heads and bodies straddle reads.
  const all = one + two + three;
  for (let i = 0; i < all.length; i += 17) {
    client.write(all.slice(i, i + 17));
    await sleep(1);
  }
  await until(() => (replies.join('').match(/HTTP\/1\.1 /g) ?? []).length === 3, 5000, 'three answers');
  const text = replies.join('');
  const bodies = text.split(/HTTP\/1\.1 /).slice(1).map((r) => [Number(r.slice(0, 3)), r.slice(r.indexOf('\r\n\r\n') + 4)]);
  assert.equal(bodies, [[200, 'POST /one abcde'], [404, 'skipped'], [200, 'GET /three ']]);
  assert.is(Buffer.concat(raw).toString('latin1'), one + three, 'the server got exactly the bytes sent, less the aborted request');
  client.destroy();
  await up.close();
});

test('large chunked bodies both ways arrive intact', async () => {
  const up = await h1Upstream((_req, res, body) => {
    const digest = createHash('sha256').update(body).digest('hex');
    for (let i = 0; i < 64; i++) res.write(Buffer.alloc(16_384, i));
    res.end(digest);
  });
  const port = await httpProxy(fl, 'big', up.address);
  const payload = Buffer.alloc(3_000_000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
  const res = await fetch(`http://127.0.0.1:${port}/upload`, { method: 'POST', body: payload, duplex: 'half' } as RequestInit);
  const got = Buffer.from(await res.arrayBuffer());
  assert.is(res.status, 200);
  assert.is(got.length, 64 * 16_384 + 64);
  assert.is(got.subarray(-64).toString(), createHash('sha256').update(payload).digest('hex'));
  for (let i = 0; i < 64; i++) assert.ok(got.subarray(i * 16_384, (i + 1) * 16_384).every((b) => b === i), `chunk ${i}`);
  await up.close();
});

test('fetch with keep-alive: statuses and bodies as the server and the toxic give them', async () => {
  const up = await h1Upstream();
  const port = await httpProxy(fl, 'fetch', up.address);
  await fl.toxic('fetch', { type: 'http_abort', attributes: { path: '/bad', status: 502, body: '{"error":"injected"}' } });
  for (let i = 0; i < 20; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/good/${i}`);
    assert.equal([ok.status, await ok.text()], [200, `ok GET /good/${i} 0\n`]);
    const bad = await fetch(`http://127.0.0.1:${port}/bad`, { method: 'POST', body: 'x' });
    assert.equal([bad.status, await bad.json()], [502, { error: 'injected' }]);
  }
  assert.ok(up.connections <= 2, `${up.connections} upstream connections for 40 keep-alive requests`);
  await up.close();
});

test('Expect: 100-continue: the 100 passes through; an abort answers at once and ends the connection', async () => {
  const up = await h1Upstream();
  const port = await httpProxy(fl, 'expect', up.address);
  await fl.toxic('expect', { type: 'http_abort', attributes: { path: '/refuse', status: 413 } });
  const send = (path: string) => new Promise<{ status: number; body: string; continued: boolean; close: string | undefined }>((resolve, reject) => {
    let continued = false;
    const req = http.request({ host: '127.0.0.1', port, path, method: 'PUT', agent: false, headers: { expect: '100-continue', 'content-length': 1000 } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, continued, close: res.headers.connection }));
    });
    req.on('continue', () => { continued = true; req.end(Buffer.alloc(1000, 1)); });
    req.on('error', reject);
  });
  const ok = await send('/accept');
  assert.equal([ok.status, ok.body, ok.continued], [200, 'ok PUT /accept 1000\n', true]);
  const refused = await send('/refuse');
  assert.equal([refused.status, refused.continued, refused.close], [413, false, 'close']);
  await up.close();
});

test('an upgrade becomes a tunnel after the 101; a declined one stays HTTP', async () => {
  const up = await h1Upstream((_req, res) => res.end('no upgrade here'));
  up.server.on('upgrade', (req, socket: net.Socket, head: Buffer) => {
    if (req.headers.upgrade !== 'echo') return socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  const port = await httpProxy(fl, 'upgrade', up.address);
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/ws', agent: false, headers: { connection: 'Upgrade', upgrade: 'echo' } });
    req.on('upgrade', (res, s: net.Socket) => { assert.is(res.statusCode, 101); resolve(s); });
    req.on('error', reject);
    req.end();
  });
  const echoed = new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (d: Buffer) => { text += d; if (text.length >= 26) resolve(text); });
  });
  socket.write('GET / HTTP/1.1 is just bytes');
  assert.is(await echoed, 'GET / HTTP/1.1 is just bytes');
  socket.destroy();
  await up.close();
});

test('HTTP/1.0 and Connection: close: the proxy answers and ends the connection as the request asked', async () => {
  const up = await h1Upstream();
  const port = await httpProxy(fl, 'close', up.address);
  await fl.toxic('close', { type: 'http_abort', attributes: { path: '/x' } });
  for (const request of ['GET /x HTTP/1.0\r\n\r\n', 'GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 'GET /y HTTP/1.0\r\n\r\n']) {
    const client = await connect(port);
    const parts: Buffer[] = [];
    client.on('data', (d: Buffer) => parts.push(d));
    const ended = new Promise((resolve) => client.once('end', resolve));
    client.write(request);
    await ended;
    const text = Buffer.concat(parts).toString();
    assert.match(text, request.includes('/x') ? /^HTTP\/1\.1 503 / : /^HTTP\/1\.1 200 /, request);
    client.destroy();
  }
  await up.close();
});

test.run();
