// The HTTP/2 relay's own promises: frames pass byte for byte where no toxic acts; HPACK
// tables stay in step both ways after toxics hold, drop or answer header blocks; flow-control
// window the proxy's drops would have cost is given back; a broken upstream is an event. Then
// the stream and connection states a toxic's hold, answer or reset meets: window on both
// levels, resets and GOAWAY either way, pushes, PRIORITY, h2c, a header block without end.
// Past 300 lines: each of those is one scenario against real peers (node:http2, or raw frames
// from test/_helpers/h2-peer.ts where node:http2 will not send what is needed).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { sleep, startServer, type TestServer } from './_helpers/net.js';
import { h2Upstream, httpProxy, until } from './_helpers/http.js';
import { FLAG, FrameReader, PREFACE, TYPE, frame, type Frame as RawFrame } from './_helpers/h2-frames.js';
import { rawClient, rawUpstream, requestBlock, u32 } from './_helpers/h2-peer.js';

let fl: TestServer;
test.before(async () => { fl = await startServer(); });
test.after(async () => { await fl.close(); });

/** A TCP hop that records what passes each way. */
async function tap(target: number): Promise<{ port: number; up: Buffer[]; down: Buffer[]; close(): void }> {
  const rec = { up: [] as Buffer[], down: [] as Buffer[] };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const server = net.connect(target, '127.0.0.1');
    for (const s of [client, server]) { sockets.add(s); s.on('error', () => {}); }
    client.on('data', (d) => { rec.up.push(d); server.write(d); });
    server.on('data', (d) => { rec.down.push(d); client.write(d); });
    client.on('end', () => server.end());
    server.on('end', () => client.end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, ...rec, close: () => { for (const s of sockets) s.destroy(); server.close(); } };
}

/** A request with headers and body; the response's headers and body. A stream that stalls
 *  (a flow-control window never given back, a table out of step) fails after 10 s. */
function call(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<{ headers: http2.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error(`${headers[':path']}: no answer in 10 s`)), 10_000).unref();
    const s = session.request(headers, { endStream: body === undefined });
    const parts: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    s.on('response', (h) => { head = h; });
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve({ headers: head, body: Buffer.concat(parts) }));
    s.on('error', reject);
    if (body !== undefined) s.end(body);
  });
}

test('with no toxic acting, the frames each way are the same bytes as the peers sent', async () => {
  const up = await h2Upstream((stream, headers) => {
    stream.respond({ ':status': 200, 'x-echo': String(headers['x-id']), 'x-big': 'v'.repeat(300) });
    stream.end(`body ${headers[':path']}`);
  });
  const near = await tap(up.port);
  const port = await httpProxy(fl, 'same', `127.0.0.1:${near.port}`);
  // A toxic that matches nothing: the layer decodes and decides, and still changes no byte.
  await fl.toxic('same', { type: 'http_abort', attributes: { path: '/never' } });
  const far = await tap(port);
  const session = http2.connect(`http://127.0.0.1:${far.port}`);
  for (let round = 0; round < 3; round++) {
    await Promise.all(Array.from({ length: 20 }, (_, i) => call(session, { ':path': `/r${round}/${i}`, 'x-id': String(i % 4), cookie: 'c'.repeat(200) })));
  }
  session.close();
  await until(() => Buffer.concat(near.down).length === Buffer.concat(far.down).length && Buffer.concat(near.up).length >= Buffer.concat(far.up).length - 9, 5000, 'the last frames');
  assert.ok(Buffer.concat(far.up).length > 1000);
  // The client's GOAWAY at close may or may not be through the proxy when the taps are read.
  const sent = Buffer.concat(far.up);
  assert.ok(Buffer.concat(near.up).equals(sent.subarray(0, Buffer.concat(near.up).length)), 'client to server: the same bytes');
  assert.ok(Buffer.concat(near.down).equals(Buffer.concat(far.down)), 'server to client: the same bytes');
  near.close();
  far.close();
  await up.close();
});

test('HPACK tables stay in step both ways after blocks are held, dropped and answered', async () => {
  const up = await h2Upstream((stream, headers) => {
    // Repeated values, so the server's encoder indexes them in the client's table.
    stream.respond({ ':status': 200, 'x-echo-id': String(headers['x-id']), 'x-echo-tag': String(headers['x-tag']), 'x-server': 'same-every-time' });
    stream.end(String(headers['x-id']));
  });
  const port = await httpProxy(fl, 'tables', up.address);
  const add = async (name: string, type: string, attributes: Record<string, unknown>) => {
    assert.is((await fl.toxic('tables', { name, type, attributes })).status, 200, name);
  };
  await add('abort', 'http_abort', { path: '/abort/*', status: 503 });
  await add('late', 'http_abort', { path: '/late/*', when: 'response', status: 502 });
  await add('slow', 'http_delay', { path: '/slow/*', latency: 30 });
  await add('slowback', 'http_delay', { path: '/slowback/*', latency: 30, when: 'response' });
  await add('reset', 'http_reset', { path: '/reset/*' });
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  const kinds = ['ok', 'abort', 'late', 'slow', 'slowback', 'reset'];
  for (let round = 0; round < 4; round++) {
    const results = await Promise.all(Array.from({ length: 60 }, async (_, i) => {
      const kind = kinds[i % kinds.length]!;
      const id = `${round}-${i}`;
      try {
        return { kind, id, r: await call(session, { ':path': `/${kind}/${id}`, 'x-id': id, 'x-tag': `tag-${i % 3}`, 'x-fixed': 'indexed-value' }) };
      } catch (err) {
        return { kind, id, error: (err as Error & { code?: string }).code };
      }
    }));
    for (const x of results) {
      if (x.kind === 'reset') { assert.is(x.error, 'ERR_HTTP2_STREAM_ERROR', x.id); continue; }
      assert.ok(x.r !== undefined, `${x.kind} ${x.id}: ${x.error}`);
      const { headers, body } = x.r!;
      if (x.kind === 'abort') { assert.is(headers[':status'], 503, x.id); continue; }
      if (x.kind === 'late') { assert.is(headers[':status'], 502, x.id); continue; }
      assert.equal([headers[':status'], headers['x-echo-id'], headers['x-echo-tag'], headers['x-server'], body.toString()],
        [200, x.id, `tag-${Number(x.id.split('-')[1]) % 3}`, 'same-every-time', x.id], `${x.kind} ${x.id}`);
    }
  }
  assert.is(up.sessions, 1);
  session.close();
  await up.close();
});

test('window the proxy dropped is given back: big bodies of aborted requests and replaced answers do not stall the connection', async () => {
  const big = Buffer.alloc(256 * 1024, 7);
  const up = await h2Upstream((stream, headers) => {
    stream.resume();
    stream.on('end', () => {
      stream.respond({ ':status': 200 });
      stream.end(headers[':path'] === '/bigback' ? big : 'ok');
    });
  });
  const port = await httpProxy(fl, 'window', up.address);
  assert.is((await fl.toxic('window', { name: 'drop', type: 'http_abort', attributes: { path: '/drop', status: 413 } })).status, 200);
  assert.is((await fl.toxic('window', { name: 'back', type: 'http_abort', attributes: { path: '/bigback', when: 'response', status: 500, body: 'replaced' } })).status, 200);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  // Each alone is four times the 64 KiB connection window both sides start with.
  for (let i = 0; i < 8; i++) {
    const dropped = await call(session, { ':path': '/drop', ':method': 'POST' }, big);
    assert.is(dropped.headers[':status'], 413);
    const replaced = await call(session, { ':path': '/bigback' });
    assert.equal([replaced.headers[':status'], replaced.body.length < 100 ? replaced.body.toString() : `${replaced.body.length} bytes`], [500, 'replaced']);
  }
  const after = await call(session, { ':path': '/after', ':method': 'POST' }, big);
  assert.equal([after.headers[':status'], after.body.toString()], [200, 'ok']);
  session.close();
  await up.close();
});

test('an upstream that breaks HTTP/2: a malformed_response event, the client told and closed', async () => {
  // The server's preface, then a HEADERS frame on stream 0.
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1, 1, 5, 0, 0, 0, 0, 0x82])));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = await httpProxy(fl, 'badup', `127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  const closed = once(session, 'close');
  session.request({ ':path': '/x' }).on('error', () => {});
  await closed;
  let events: any[] = [];
  await until(async () => (events = (await fl.api('GET', '/events?proxy=badup&type=malformed_response')).json.events).length >= 1, 5000, 'the event');
  assert.match(events[0].detail.reason, /HTTP\/2: .*stream 0/);
  server.close();
});

/** `p`, or a failure after 10 s. */
function within<T>(p: Promise<T>, what: string): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: not in 10 s`)), 10_000).unref())]);
}

test('a stream reset before the server\'s SETTINGS arrive: its DATA\'s window goes back after them, not ahead', async () => {
  const up = await h2Upstream();
  const port = await httpProxy(fl, 'early', up.address);
  assert.is((await fl.toxic('early', { type: 'http_reset', attributes: { path: '/reset' } })).status, 200);
  // The request and its body in the client's first flight, before the proxy has an upstream.
  const c = await rawClient(port, [
    frame(TYPE.HEADERS, FLAG.END_HEADERS, 1, requestBlock('/reset', true)),
    frame(TYPE.DATA, FLAG.END_STREAM, 1, Buffer.alloc(1000, 1)),
  ]);
  await c.wait('the RST_STREAM', (f) => f.type === TYPE.RST_STREAM);
  await c.wait('the window given back', (f) => f.type === TYPE.WINDOW_UPDATE);
  assert.equal(c.reader.frames[0]!.type, TYPE.SETTINGS, 'the server\'s SETTINGS come first (RFC 9113 3.4)');
  c.socket.destroy();
  await up.close();
});

test('a client cancelling a stream whose answer a delay holds: the held body\'s window goes back to the server', async () => {
  const body = Buffer.alloc(40_000, 3);
  const up = await h2Upstream((stream) => {
    stream.respond({ ':status': 200 });
    stream.end(body);
  });
  const port = await httpProxy(fl, 'cancelheld', up.address);
  assert.is((await fl.toxic('cancelheld', { type: 'http_delay', attributes: { path: '/held', latency: 2000, when: 'response' } })).status, 200);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  // Each held answer takes 40 KB of the server's 64 KB connection window; two use it all.
  for (let i = 0; i < 3; i++) {
    const s = session.request({ ':path': '/held' });
    s.on('error', () => {});
    await sleep(300);
    s.close(http2.constants.NGHTTP2_CANCEL);
  }
  const after = await call(session, { ':path': '/after' });
  assert.equal([after.headers[':status'], after.body.length], [200, body.length]);
  session.close();
  await up.close();
});

test('an answer replaced while the client still sends: the server\'s window for the request passes on', async () => {
  // An echo: the answer starts at once and ends with the request.
  const up = await h2Upstream((stream) => {
    stream.respond({ ':status': 200 });
    stream.pipe(stream);
  });
  const port = await httpProxy(fl, 'echo', up.address);
  assert.is((await fl.toxic('echo', { type: 'http_abort', attributes: { path: '/echo', when: 'response', status: 500, body: 'replaced' } })).status, 200);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  const r = await call(session, { ':path': '/echo', ':method': 'POST' }, Buffer.alloc(256 * 1024, 5));
  assert.equal([r.headers[':status'], r.body.toString()], [500, 'replaced']);
  assert.equal((await call(session, { ':path': '/after', ':method': 'POST' }, Buffer.from('ok'))).body.toString(), 'ok');
  session.close();
  await up.close();
});

test('a request answered by the proxy while its body still comes: the stream\'s window is given back, the stream ends', async () => {
  const up = await h2Upstream();
  const port = await httpProxy(fl, 'earlyanswer', up.address);
  // The delay first: the first abort ends a phase's list.
  assert.is((await fl.toxic('earlyanswer', { type: 'http_delay', attributes: { path: '/drop-held', latency: 50 } })).status, 200);
  assert.is((await fl.toxic('earlyanswer', { type: 'http_abort', attributes: { path: '/drop*', status: 413 } })).status, 200);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  for (const path of ['/drop', '/drop-held']) {
    // Four times the 64 KB stream window the server gave.
    const s = session.request({ ':path': path, ':method': 'POST' });
    let status = 0;
    s.on('response', (h) => { status = Number(h[':status']); });
    s.resume();
    s.end(Buffer.alloc(256 * 1024, 9));
    await within(new Promise((resolve) => s.on('close', resolve)), `${path}: the stream closed`);
    assert.equal([status, s.rstCode], [413, http2.constants.NGHTTP2_NO_ERROR], path);
  }
  const routes = async () => (await fl.api('GET', '/routes?proxy=earlyanswer')).json.proxies[0]?.routes ?? [];
  await until(async () => (await routes()).filter((r: any) => r.route.startsWith('POST /drop')).reduce((n: number, r: any) => n + r.requests, 0) === 2, 5000, 'both exchanges recorded');
  session.close();
  await up.close();
});

test('the client refusing a push the server has already finished: the connection goes on', async () => {
  const up = await rawUpstream((f, socket) => {
    if (f.type !== TYPE.HEADERS || f.stream !== 1) return;
    // The promise, the pushed answer whole, then the answer to stream 1 begun.
    socket.write(Buffer.concat([
      frame(TYPE.PUSH_PROMISE, FLAG.END_HEADERS, 1, Buffer.concat([u32(2), requestBlock('/pushed')])),
      frame(TYPE.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 2, Buffer.from([0x88])),
      frame(TYPE.HEADERS, FLAG.END_HEADERS, 1, Buffer.from([0x88])),
    ]));
  });
  const port = await httpProxy(fl, 'pushrst', up.address);
  const c = await rawClient(port, [frame(TYPE.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, requestBlock('/'))]);
  await c.wait('the PUSH_PROMISE', (f) => f.type === TYPE.PUSH_PROMISE);
  // Sent as the promise arrived, it crossed the pushed stream's end on the way.
  c.socket.write(Buffer.concat([frame(TYPE.RST_STREAM, 0, 2, u32(0x8)), frame(TYPE.PING, 0, 0, Buffer.alloc(8, 7))]));
  await c.wait('the PING answered', (f) => f.type === TYPE.PING && (f.flags & FLAG.ACK) !== 0);
  assert.not.ok(c.reader.frames.some((f) => f.type === TYPE.GOAWAY), 'no GOAWAY');
  c.socket.destroy();
  up.close();
});

test('a header block that never ends is refused once it passes 1 MiB, not gathered without end', async () => {
  const up = await h2Upstream();
  const port = await httpProxy(fl, 'contflood', up.address);
  // Mute: a SETTINGS ACK in the middle would end the block as interrupted.
  const c = await rawClient(port, [frame(TYPE.HEADERS, 0, 1, Buffer.from([0x82]))], true);
  const piece = frame(TYPE.CONTINUATION, 0, 1, Buffer.alloc(16_384, 0x40));
  for (let i = 0; i < 160; i++) c.socket.write(piece);
  const goaway = await c.wait('a GOAWAY', (f) => f.type === TYPE.GOAWAY);
  assert.match(goaway.payload.subarray(8).toString(), /header block/);
  c.socket.destroy();
  await up.close();
});

test('PRIORITY from the client names the depended-on stream by its upstream id', async () => {
  const up = await h2Upstream((stream) => {
    setTimeout(() => {
      stream.respond({ ':status': 200 });
      stream.end('late');
    }, 300);
  });
  const port = await httpProxy(fl, 'prio', up.address);
  assert.is((await fl.toxic('prio', { type: 'http_abort', attributes: { path: '/abort' } })).status, 200);
  // Stream 1 never reaches the server, so streams 3 and 5 go to it as 1 and 3; 5 then says it
  // depends on 3, which unmapped would read there as a stream depending on itself.
  const c = await rawClient(port, [
    frame(TYPE.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, requestBlock('/abort')),
    frame(TYPE.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 3, requestBlock('/a')),
    frame(TYPE.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 5, requestBlock('/b')),
    frame(TYPE.PRIORITY, 0, 5, Buffer.concat([u32(3), Buffer.from([31])])),
  ]);
  for (const sid of [3, 5]) await c.wait(`stream ${sid}'s answer`, (f) => f.stream === sid && f.type === TYPE.DATA && (f.flags & FLAG.END_STREAM) !== 0);
  assert.not.ok(c.reader.frames.some((f) => f.type === TYPE.GOAWAY || f.type === TYPE.RST_STREAM), 'no GOAWAY, no reset');
  c.socket.destroy();
  await up.close();
});

test('an answer reset by a toxic after the server ended it, the request still coming: the server\'s stream is ended too', async () => {
  let serverClosed = 0;
  const up = await h2Upstream((stream) => {
    stream.on('close', () => { serverClosed++; });
    // The whole answer in its HEADERS, before the request's body, which it goes on reading (a
    // server that has read nothing ends the stream itself).
    stream.resume();
    stream.respond({ ':status': 204 }, { endStream: true });
  });
  const port = await httpProxy(fl, 'resetdone', up.address);
  assert.is((await fl.toxic('resetdone', { type: 'http_reset', attributes: { path: '/early', when: 'response' } })).status, 200);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  const s = session.request({ ':path': '/early', ':method': 'POST' });
  s.on('error', () => {});
  s.write('the start of a body that never ends');
  await within(new Promise((resolve) => s.on('close', resolve)), 'the client\'s stream reset');
  assert.is(s.rstCode, http2.constants.NGHTTP2_INTERNAL_ERROR);
  await until(() => serverClosed === 1, 10_000, 'the server\'s stream closed');
  session.close();
  await up.close();
});

test('an h2c upgrade whose request an abort answers: no window for the body the client sent as HTTP/1.1, none of the server\'s kept back', async () => {
  const got: RawFrame[] = [];
  const up = await rawUpstream((f, socket) => {
    got.push(f);
    if (f.type !== TYPE.DATA) return;
    socket.write(frame(TYPE.WINDOW_UPDATE, 0, 0, u32(f.payload.length)));
    if ((f.flags & FLAG.END_STREAM) !== 0) socket.write(frame(TYPE.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, f.stream, Buffer.from([0x88])));
  });
  const port = await httpProxy(fl, 'h2cabort', up.address);
  assert.is((await fl.toxic('h2cabort', { type: 'http_abort', attributes: { path: '/upload', status: 413 } })).status, 200);
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let head: Buffer | null = Buffer.alloc(0);
  const reader = new FrameReader((f) => {
    if (f.type === TYPE.SETTINGS && (f.flags & FLAG.ACK) === 0) socket.write(frame(TYPE.SETTINGS, FLAG.ACK, 0));
  });
  socket.on('error', () => {});
  socket.on('data', (d: Buffer) => {
    if (head !== null) {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      assert.match(head.subarray(0, end).toString('latin1'), /^HTTP\/1\.1 101 /);
      d = head.subarray(end + 4);
      head = null;
      socket.write(Buffer.concat([PREFACE, frame(TYPE.SETTINGS, 0, 0)]));
    }
    reader.push(d);
  });
  const body = Buffer.alloc(40_000, 1);
  socket.write(Buffer.concat([Buffer.from('POST /upload HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n' +
    `HTTP2-Settings: \r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1'), body]));
  const wait = (what: string, check: (f: RawFrame) => boolean) => until(() => reader.frames.some(check), 10_000, what);
  await wait('the answer\'s end', (f) => f.stream === 1 && (f.flags & FLAG.END_STREAM) !== 0);
  // The client's own request on stream 3: the server gives back its 1000 bytes.
  socket.write(Buffer.concat([
    frame(TYPE.HEADERS, FLAG.END_HEADERS, 3, requestBlock('/more', true)),
    frame(TYPE.DATA, FLAG.END_STREAM, 3, Buffer.alloc(1000, 2)),
  ]));
  await wait('the answer on stream 3', (f) => f.stream === 3 && f.type === TYPE.HEADERS);
  await sleep(100);
  assert.is(got.filter((f) => f.type === TYPE.HEADERS).length, 1, 'the aborted stream never reached the server');
  const credit = reader.frames.filter((f) => f.type === TYPE.WINDOW_UPDATE && f.stream === 0).map((f) => f.payload.readUInt32BE(0));
  assert.equal(credit, [1000], 'the client hears of the window the server gave, no more and no less');
  socket.destroy();
  up.close();
});

test('a whole answer held by a delay, then the server\'s NO_ERROR reset of the request still coming: the client gets both', async () => {
  // The whole answer, then NO_ERROR for the request still coming, as node:http2 and Go send
  // when a handler answers without reading the body (RFC 9113 8.1).
  const up = await rawUpstream((f, socket) => {
    if (f.type !== TYPE.HEADERS) return;
    socket.write(Buffer.concat([
      frame(TYPE.HEADERS, FLAG.END_HEADERS, f.stream, Buffer.from([0x88])),
      frame(TYPE.DATA, FLAG.END_STREAM, f.stream, Buffer.from('no')),
      frame(TYPE.RST_STREAM, 0, f.stream, u32(0)),
    ]));
  });
  const port = await httpProxy(fl, 'stopheld', up.address);
  assert.is((await fl.toxic('stopheld', { type: 'http_delay', attributes: { path: '/upload', latency: 300, when: 'response' } })).status, 200);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  const s = session.request({ ':path': '/upload', ':method': 'POST' });
  let status = 0;
  let text = '';
  let error = '';
  s.on('response', (h) => { status = Number(h[':status']); });
  s.setEncoding('utf8');
  s.on('data', (d: string) => { text += d; });
  s.on('error', (err: NodeJS.ErrnoException) => { error = err.code ?? err.message; });
  s.write('the start of a body');
  await within(new Promise((resolve) => s.on('close', resolve)), 'the stream closed');
  assert.equal([status, text, error, s.rstCode], [200, 'no', '', http2.constants.NGHTTP2_NO_ERROR]);
  assert.equal((await call(session, { ':path': '/after' })).body.toString(), 'no', 'the connection goes on');
  session.close();
  up.close();
});

test('an upstream GOAWAY leaves alone a stream the proxy answered itself, whose request still comes', async () => {
  let upstream: net.Socket | null = null;
  const up = await rawUpstream((f, socket) => { if (f.type === TYPE.HEADERS) upstream = socket; });
  const port = await httpProxy(fl, 'goawaylocal', up.address);
  assert.is((await fl.toxic('goawaylocal', { type: 'http_abort', attributes: { path: '/drop', status: 413 } })).status, 200);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  // Stream 1 goes to the server, which has yet to answer; stream 3 the proxy answers.
  const first = call(session, { ':path': '/first' });
  first.catch(() => {});
  await until(() => upstream !== null, 10_000, 'the first request upstream');
  const s = session.request({ ':path': '/drop', ':method': 'POST' });
  let status = 0;
  let error = '';
  s.on('response', (h) => { status = Number(h[':status']); });
  s.on('error', (err: NodeJS.ErrnoException) => { error = err.code ?? err.message; });
  s.resume();
  s.write(Buffer.alloc(1000));
  await until(() => status !== 0, 10_000, 'the proxy\'s answer');
  // The server will take no stream past its 1.
  upstream!.write(frame(TYPE.GOAWAY, 0, 0, Buffer.concat([u32(1), u32(0)])));
  await sleep(100);
  // More than the stream's window: the proxy gives it back as it drops the bytes.
  s.end(Buffer.alloc(100_000));
  await within(new Promise((resolve) => s.on('close', resolve)), 'stream 3 closed');
  assert.equal([status, error, s.rstCode], [413, '', http2.constants.NGHTTP2_NO_ERROR]);
  upstream!.write(frame(TYPE.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, Buffer.from([0x88])));
  assert.is((await first).headers[':status'], 200);
  session.destroy();
  up.close();
});

test.run();
