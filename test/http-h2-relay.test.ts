// The HTTP/2 relay's own promises: frames pass byte for byte where no toxic acts; HPACK
// tables stay in step both ways after toxics hold, drop or answer header blocks; flow-control
// window the proxy's drops would have cost is given back; a broken upstream is an event.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { startServer, type TestServer } from './_helpers/net.js';
import { h2Upstream, httpProxy, until } from './_helpers/http.js';

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

test.run();
