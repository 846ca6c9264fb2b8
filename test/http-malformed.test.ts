// Malformed HTTP from either side of an http proxy: the client's gets a 400 (431 for an
// oversized head), the upstream's a 502 when the client has seen nothing of that answer; each
// is an event naming what was wrong, the connection ends, and nothing else is harmed: another
// client's keep-alive connection through the same proxy goes on working throughout.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import http2 from 'node:http2';
import { connect, readAll, startServer, tcpServer, type TestServer } from './_helpers/net.js';
import { h1Upstream, h2Upstream, httpProxy, oneSocket, request, until } from './_helpers/http.js';

let fl: TestServer;
test.before(async () => { fl = await startServer(); });
test.after(async () => { await fl.close(); });

/** Sends `bytes` on a fresh connection and reads until the proxy ends it. */
async function exchange(port: number, bytes: string | Buffer): Promise<string> {
  const client = await connect(port);
  const all = readAll(client).catch(() => Buffer.alloc(0));
  client.write(bytes);
  const text = (await all).toString('latin1');
  client.destroy();
  return text;
}

async function rejectedEvents(proxy: string, type: string, n: number): Promise<any[]> {
  let events: any[] = [];
  await until(async () => (events = (await fl.api('GET', `/events?proxy=${proxy}&type=${type}`)).json.events).length >= n, 5000, `${n} ${type} events`);
  return events;
}

test('malformed requests: a 400 or 431 naming the problem, an event, the connection ended, the neighbour unharmed', async () => {
  const up = await h1Upstream();
  const port = await httpProxy(fl, 'badreq', up.address);
  const agent = oneSocket();
  assert.is((await request(port, agent, '/neighbour')).status, 200);
  const cases: Array<[string, number, RegExp]> = [
    ['GET /a b HTTP/1.1\r\nHost: x\r\n\r\n', 400, /bad request line/],
    ['GET / HTTP/1.1\r\nHost : x\r\n\r\n', 400, /bad header line/],
    ['GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n', 400, /bad header line/],
    ['POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, /both Content-Length and Transfer-Encoding/],
    ['POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', 400, /differing Content-Length/],
    ['POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n', 400, /chunked last/],
    ['GET / HTTP/1.1\r\nX: a\u0001b\r\n\r\n', 400, /control character/],
    [`GET / HTTP/1.1\r\nX: ${'a'.repeat(70_000)}\r\n\r\n`, 431, /larger than 65536 bytes/],
  ];
  for (const [bytes, status, reason] of cases) {
    const text = await exchange(port, bytes);
    assert.match(text, new RegExp(`^HTTP/1\\.1 ${status} .*\\r\\nConnection: close\\r\\n`, 's'), JSON.stringify(bytes.slice(0, 60)));
    assert.match(text, reason);
    assert.is((await request(port, agent, '/neighbour')).status, 200, 'the other connection still works');
  }
  const events = await rejectedEvents('badreq', 'malformed_request', cases.length);
  assert.ok(events.every((e) => e.action === 'rejected' && e.stream === 'upstream' && typeof e.detail.reason === 'string'));
  assert.equal(up.requests.filter((r) => r !== 'GET /neighbour'), [], 'no malformed request reached the server');
  agent.destroy();
  await up.close();
});

test('a bad chunked body after the request was forwarded: the connection ends, the upstream one too', async () => {
  const up = await h1Upstream();
  const port = await httpProxy(fl, 'badchunk', up.address);
  const text = await exchange(port, 'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\nzz\r\n');
  assert.is(text, '');
  const [e] = await rejectedEvents('badchunk', 'malformed_request', 1);
  assert.match(e.detail.reason, /bad chunk size line "zz"/);
  const open = () => new Promise<number>((resolve) => up.server.getConnections((_err, n) => resolve(n)));
  assert.is(up.connections, 1, 'the request was forwarded before its body went wrong');
  await until(async () => (await open()) === 0, 5000, 'the upstream connection closed');
  await up.close();
});

test('malformed responses: a 502 when the client saw nothing yet, a plain close otherwise; an event each', async () => {
  const replies = [
    'HELLO\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc',
  ];
  let next = 0;
  const up = await tcpServer((socket: net.Socket) => {
    const reply = replies[next++]!;
    socket.once('data', () => {
      socket.write(reply);
      // The third one sends a valid start, then breaks the framing with a second, bogus head.
      if (reply.includes('abc')) socket.end();
    });
  });
  const port = await httpProxy(fl, 'badres', up.address);
  const first = await exchange(port, 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.match(first, /^HTTP\/1\.1 502 Bad Gateway\r\n.*Connection: close\r\n\r\nfaultline: malformed response from the upstream: bad status line "HELLO"/s);
  const second = await exchange(port, 'GET /2 HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.match(second, /^HTTP\/1\.1 502 .*both Content-Length and Transfer-Encoding/s);
  // Cut short by the server: what came is passed on, then the connection ends, as it would directly.
  const third = await exchange(port, 'GET /3 HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.is(third, 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
  const events = await rejectedEvents('badres', 'malformed_response', 2);
  assert.equal(events.map((e) => [e.action, e.stream, e.detail.path]).sort(), [['rejected', 'downstream', '/1'], ['rejected', 'downstream', '/2']]);
  await up.close();
});

test('malformed HTTP/2 from the client: an event and a closed connection; other HTTP/2 connections go on', async () => {
  const up = await h2Upstream();
  const port = await httpProxy(fl, 'badh2', up.address);
  const good = http2.connect(`http://127.0.0.1:${port}`);
  const ask = (path: string) => new Promise<number>((resolve) => {
    const s = good.request({ ':path': path });
    s.on('response', (h) => resolve(Number(h[':status'])));
    s.resume();
  });
  assert.is(await ask('/before'), 200);
  // The preface, then a frame of an undefined layout: a HEADERS frame on stream 0.
  const bad = Buffer.concat([
    Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
    Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
    Buffer.from([0, 0, 1, 1, 5, 0, 0, 0, 0, 0x82]),
  ]);
  const text = await exchange(port, bad);
  // Whatever nghttp2 says on the way out (a GOAWAY), the connection ends.
  assert.ok(text.length < 200, `${text.length} bytes back`);
  const [e] = await rejectedEvents('badh2', 'malformed_request', 1);
  assert.match(e.detail.reason, /HTTP\/2/);
  assert.is(await ask('/after'), 200);
  good.close();
  await up.close();
});

test.run();
