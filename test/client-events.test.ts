// client.events: fault events from the live stream, and waitFor, which resolves with the first
// match, looking back first so that a fault that happened before the call still counts, but
// not past the last reset(). Also: the stream opens before the client's first change, close()
// closes its socket, and a server without the stream fails waitFor plainly.

import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connectFaultline, FaultEventTimeoutError, startFaultline, type FaultlineClient, type ProxyHandle } from '../src/index.js';
import { closeKind, connect, echoServer, readBytes, sleep, type Upstream } from './_helpers/net.js';

let faultline: FaultlineClient;
let echo: Upstream;
let proxy: ProxyHandle;

test.before(async () => {
  faultline = await startFaultline({ seed: 3 });
  echo = await echoServer();
  proxy = await faultline.proxy({ name: 'svc', upstream: echo.address });
});
test.before.each(() => faultline.reset());
test.after(async () => {
  await faultline.close();
  await echo.close();
});

/** Writes through the proxy and resolves with how the connection ended ('reset' under reset_peer). */
async function poke(port: number): Promise<string> {
  const socket = await connect(port);
  const ended = closeKind(socket);
  socket.write('hello');
  const kind = await ended;
  socket.destroy();
  return kind;
}

/** The rejection of `promise`. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

test('a fault that happened before waitFor is found by looking back', async () => {
  const toxic = await proxy.resetPeer({ timeout: 0 });
  assert.is(await poke(proxy.port), 'reset');
  const event = await faultline.events.waitFor({ proxy, action: 'reset' }, { timeout: 5000 });
  assert.equal(
    [event.proxy, event.toxic, event.type, event.stream, event.action, event.protocol],
    ['svc', toxic.name, 'reset_peer', 'downstream', 'reset', 'tcp'],
  );
  assert.equal(event.detail, { after_ms: 0 });
  assert.is(typeof event.id, 'string');
  assert.equal(faultline.events.seen({ toxic }).map((e) => e.id), [event.id]);
});

test('after reset(), earlier faults no longer match: the wait times out with what it saw', async () => {
  await proxy.resetPeer();
  assert.is(await poke(proxy.port), 'reset');
  await faultline.events.waitFor({ proxy: 'svc', action: 'reset' }, { timeout: 5000 });
  await faultline.reset();
  assert.equal(faultline.events.seen(), []);
  const err = await rejection(faultline.events.waitFor({ proxy: 'svc', action: 'reset' }, { timeout: 300 }));
  assert.instance(err, FaultEventTimeoutError);
  assert.is(err.message, 'no fault event matching {proxy: "svc", action: "reset"} within 300 ms; no fault events were received in the window looked at');
  assert.equal((err as FaultEventTimeoutError).seen, []);
});

test('waitFor waits for a fault still to come, matching on type, stream, action and detail', async () => {
  const waiting = faultline.events.waitFor(
    { proxy: 'svc', type: 'latency', stream: 'upstream', action: ['delayed', 'held'], detail: { ms: 150 } },
    { timeout: 5000, since: 'now' },
  );
  await sleep(50);
  await proxy.latency({ latency: 150, stream: 'upstream' });
  const socket = await connect(proxy.port);
  try {
    const back = readBytes(socket, 5);
    socket.write('hello');
    await back;
  } finally {
    socket.destroy();
  }
  const event = await waiting;
  assert.equal([event.type, event.stream, event.action, event.detail.ms], ['latency', 'upstream', 'delayed', 150]);
});

test('the timeout error names the faults that were seen instead', async () => {
  await proxy.latency({ latency: 10 });
  const socket = await connect(proxy.port);
  try {
    const back = readBytes(socket, 2);
    socket.write('hi');
    await back;
  } finally {
    socket.destroy();
  }
  await faultline.events.waitFor({ action: 'delayed' }, { timeout: 5000 });
  const err = await rejection(faultline.events.waitFor({ proxy: 'svc', action: 'reset' }, { timeout: 200 }));
  assert.instance(err, FaultEventTimeoutError);
  assert.match(err.message, /within 200 ms; received in the window looked at: svc\/latency_downstream delayed ×1/);
});

test('a misspelt match field is refused rather than matching everything', async () => {
  const err = await rejection(faultline.events.waitFor({ acton: 'reset' } as never));
  assert.instance(err, TypeError);
  assert.match(err.message, /unknown field "acton"; fields are proxy, toxic, type, stream, action, conn, detail, where/);
  assert.throws(() => faultline.events.seen({ acton: 'reset' } as never), /unknown field "acton"/);
});

test('an aborted wait rejects with the signal\'s reason', async () => {
  const controller = new AbortController();
  const waiting = faultline.events.waitFor({ action: 'corrupted' }, { timeout: 5000, signal: controller.signal });
  controller.abort(new Error('gave up'));
  assert.is((await rejection(waiting)).message, 'gave up');
});

test('the stream opens before a client\'s first change, so its first fault is never missed', async () => {
  const other = await connectFaultline(faultline.url);
  try {
    const p = await other.proxy({ upstream: echo.address });
    await p.resetPeer();
    assert.is(await poke(p.port), 'reset');
    // The fault is over before this client ever asks for events.
    const event = await other.events.waitFor({ proxy: p, action: 'reset' }, { timeout: 5000 });
    assert.is(event.proxy, p.name);
  } finally {
    await other.close();
  }
});

test('close() closes the event stream\'s socket and fails waits still pending', async () => {
  // A relay in front of the API shows which of the client's connections is the WebSocket, and
  // when it closes.
  const streams = new Set<net.Socket>();
  const relay = net.createServer((inbound) => {
    const outbound = net.connect(faultline.server!.port, '127.0.0.1');
    inbound.once('data', (first: Buffer) => {
      if (/^upgrade: websocket/im.test(first.toString('latin1'))) streams.add(inbound);
    });
    inbound.pipe(outbound).pipe(inbound);
    const done = () => { streams.delete(inbound); inbound.destroy(); outbound.destroy(); };
    inbound.on('close', done).on('error', done);
    outbound.on('close', done).on('error', done);
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  const client = await connectFaultline(`127.0.0.1:${(relay.address() as net.AddressInfo).port}`);
  try {
    const failed = rejection(client.events.waitFor({ action: 'corrupted' }, { timeout: 10_000 }));
    for (let i = 0; i < 250 && !client.events.connected; i++) await sleep(20);
    assert.ok(client.events.connected, 'the stream opened');
    assert.is(streams.size, 1, 'one WebSocket through the relay');
    await client.close();
    assert.is((await failed).message, 'the faultline client was closed while waiting for a fault event');
    assert.is(client.events.connected, false);
    for (let i = 0; i < 250 && streams.size > 0; i++) await sleep(20);
    assert.is(streams.size, 0, 'the WebSocket connection is closed');
  } finally {
    relay.close();
    await client.close();
  }
});

test('a server without the stream (Toxiproxy) still takes changes; waitFor says why it cannot wait', async () => {
  const fake = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/version') return res.end('{"version": "2.12.0"}\n');
    if (req.method === 'POST' && req.url === '/proxies') {
      res.writeHead(201, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ name: 'x', listen: '127.0.0.1:1', upstream: '127.0.0.1:2', enabled: true, toxics: [] }));
    }
    res.writeHead(404).end('404 page not found\n');
  });
  fake.listen(0, '127.0.0.1');
  await once(fake, 'listening');
  const client = await connectFaultline(`http://127.0.0.1:${(fake.address() as net.AddressInfo).port}`);
  try {
    const p = await client.proxy({ name: 'x', upstream: '127.0.0.1:2' });
    assert.is(p.port, 1);
    const err = await rejection(client.events.waitFor({ action: 'reset' }, { timeout: 2000 }));
    assert.match(err.message, /^cannot open the event stream ws:\/\/127\.0\.0\.1:\d+\/events\/stream\?kind=fault:injected: Unexpected server response: 404/);
  } finally {
    await client.close();
    fake.closeAllConnections();
    fake.close();
  }
});

test.run();
