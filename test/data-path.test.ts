// The data path end to end, over real loopback sockets: integrity, half-close both ways,
// back-pressure with bounded memory, toxic churn on live connections, refused upstreams,
// disable/delete, IPv6 and reset pass-through.

import net from 'node:net';
import { once } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lag } from './_helpers/lag.js';
import {
  closeKind, connect, echoServer, pattern, portOf, readAll, readBytes, sleep, startServer, tcpServer,
  type TestServer, type Upstream,
} from './_helpers/net.js';
import {
  BlockChecker, assertSame, bufferMemory, closedPort, counters, firstDiff, floodWriter, hasIPv6Loopback, timed,
  tryConnect, within,
} from './_helpers/data-path.js';
import { until } from './_helpers/faults.js';
import { latency } from '../toxics/latency.js';

const MB = 1024 * 1024;
let server: TestServer;
let echo: Upstream;

test.before(async () => { [server, echo] = await Promise.all([startServer(), echoServer()]); });
test.after(async () => { await server.close(); await echo.close(); });

/** Puts a zero-latency toxic on both streams: the chain path instead of socket to socket. */
async function chain(proxy: string): Promise<void> {
  for (const stream of ['upstream', 'downstream']) assert.is((await server.toxic(proxy, { type: 'latency', stream, attributes: { latency: 0 } })).status, 200);
}

// ---- (a) integrity ----

test('10 MB round-trips through the proxy byte for byte', async () => {
  const port = await server.proxy('bulk', echo.address);
  const client = await connect(port);
  // pattern() repeats every 64 KiB, so it cannot see a 64 KiB block moved; counters() can.
  const data = Buffer.concat([counters(10 * MB - 4096), pattern(4096, 7)]);
  const got = readAll(client);
  client.end(data);
  assertSame(await within(got, 10_000, 'echo of 10 MB'), data, '10 MB echo');
});

test('50 concurrent connections each get back exactly their own bytes', async () => {
  const port = await server.proxy('many', echo.address);
  const results = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
    const client = await connect(port);
    const data = counters(64 * 1024 + i * 997, i + 1);
    const got = readAll(client);
    // Several writes per connection so that the connections interleave.
    for (let at = 0; at < data.length; at += 8192) client.write(data.subarray(at, at + 8192));
    client.end();
    return { i, data, got: await within(got, 10_000, `connection ${i}`) };
  }));
  for (const { i, data, got } of results) assertSame(got, data, `connection ${i}`);
});

// ---- (b) half-close, on the bare path and on the toxic chain ----

for (const path of ['bare', 'chain'] as const) {
  test(`client FIN reaches the upstream, whose reply still reaches the client (${path})`, async () => {
    const received: Buffer[] = [];
    const up = await tcpServer((s) => {
      s.on('data', (d: Buffer) => received.push(d));
      // Replies only after reading EOF, as a request/response over half-close does.
      s.on('end', () => s.end(`got ${Buffer.concat(received).length} bytes\n`));
    });
    try {
      const name = `half-client-${path}`;
      const port = await server.proxy(name, up.address);
      if (path === 'chain') await chain(name);
      const client = await connect(port);
      const data = pattern(100_000, 3);
      const reply = readAll(client);
      client.end(data);
      assert.is((await within(reply, 5000, 'reply after client FIN')).toString(), 'got 100000 bytes\n');
      assertSame(Buffer.concat(received), data, 'bytes at the upstream');
    } finally {
      await up.close();
    }
  });

  test(`upstream FIN reaches the client, which can still send to the upstream (${path})`, async () => {
    let upstreamGot!: Promise<Buffer>;
    const up = await tcpServer((s) => {
      upstreamGot = readAll(s);
      s.end('hello, I am done talking\n');
    });
    try {
      const name = `half-upstream-${path}`;
      const port = await server.proxy(name, up.address);
      if (path === 'chain') await chain(name);
      const client = await connect(port);
      const greeting = await within(readAll(client), 5000, 'greeting then EOF at the client');
      assert.is(greeting.toString(), 'hello, I am done talking\n');
      assert.ok(!client.destroyed, 'the client socket stays open for writing after the upstream FIN');
      const data = pattern(200_000, 5);
      client.end(data);
      assertSame(await within(upstreamGot, 5000, 'data sent after the upstream FIN'), data, 'bytes sent after FIN');
    } finally {
      await up.close();
    }
  });
}

// ---- (c) back-pressure ----

// Much more than the kernel's socket buffers and the proxy's bounded queues hold together, so
// a proxy that buffered without bound would accept all of it and fail the stall check.
const FLOOD = 128 * MB;
// What the proxy may hold beyond a toxic's own declared queue (socket buffers, chunk slack).
// Measured: about 0.3 MB on the bare path, 32.3 MB with latency (its queue is 32 MiB).
const SLACK = 8 * MB;

// Either direction: the writer floods, the reader (the upstream, or the client for downstream)
// starts paused and is resumed once the writer has stalled.
const PRESSURE = [
  ['upstream', null], ['upstream', { latency: 0 }], ['upstream', { latency: 5 }],
  ['downstream', null], ['downstream', { latency: 0 }],
] as const;

for (const [stream, toxic] of PRESSURE) {
  const [writes, reads] = stream === 'upstream' ? ['client', 'upstream'] : ['upstream', 'client'];
  const label = toxic === null ? 'bare path' : `latency ${toxic.latency} toxic ${stream}`;
  test(`a paused ${reads} blocks the ${writes}'s writer and bounds memory (${label})`, async () => {
    const checker = new BlockChecker();
    const up = await tcpServer(() => {});
    try {
      const name = `pressure-${stream}-${toxic === null ? 'bare' : toxic.latency}`;
      const port = await server.proxy(name, up.address);
      if (toxic !== null) assert.is((await server.toxic(name, { type: 'latency', stream, attributes: toxic })).status, 200);
      const client = await connect(port);
      await until(() => up.sockets.length > 0, 2000, 'upstream accept');
      const upstreamSide = up.sockets[0]!;
      const [writer, reader] = stream === 'upstream' ? [client, upstreamSide] : [upstreamSide, client];
      // Paused before the listener goes on, so the listener does not start the flow.
      reader.pause();
      reader.on('data', (d: Buffer) => checker.push(d));
      const readerDone = once(reader, 'end');
      const before = await bufferMemory();
      let [growth, readAtStall] = [-1, -1];
      const stalledAt = await within(floodWriter(writer, FLOOD, 400, async () => {
        growth = (await bufferMemory()) - before;
        readAtStall = checker.bytes;
        reader.resume();
      }), 30_000, 'flood writer');
      await within(readerDone, 30_000, `the ${reads} reading the whole flood`);
      assert.ok(stalledAt !== null, `the writer never blocked: all ${FLOOD / MB} MB were buffered somewhere`);
      assert.ok(stalledAt < FLOOD / 2, `the writer blocked only after ${(stalledAt / MB).toFixed(1)} MB`);
      assert.is(readAtStall, 0, `the paused ${reads} read nothing`);
      // A latency toxic keeps reading into its queue so that delay does not cap throughput;
      // that queue is bounded by the buffer the toxic declares, and nothing else may grow.
      const limit = SLACK + (toxic === null ? 0 : latency.buffer ?? 0);
      assert.ok(growth < limit,
        `buffer memory grew ${(growth / MB).toFixed(1)} MB while blocked (limit ${(limit / MB).toFixed(0)} MB; ${(stalledAt / MB).toFixed(1)} MB written)`);
      assert.is(checker.error, null);
      assert.is(checker.bytes, FLOOD);
      client.destroy();
    } finally {
      await up.close();
    }
  });
}

// ---- (d) toxic churn on a live connection ----

test('no byte is lost or reordered while toxics are added, updated and removed in a loop', async () => {
  const port = await server.proxy('churn', echo.address);
  const client = await connect(port);
  const data = Buffer.alloc(65_535 * 2);
  for (let i = 0; i < 65_535; i++) data.writeUInt16BE(i, i * 2);
  const got = readAll(client);
  let writing = true;
  const writer = (async () => {
    for (let at = 0, n = 0; at < data.length; at += 64, n++) {
      client.write(data.subarray(at, at + 64));
      if (n % 4 === 3) await sleep(1);
    }
    client.end();
    writing = false;
  })();
  let cycles = 0;
  while (writing) {
    await Promise.all(['upstream', 'downstream'].map(async (stream) => {
      const path = `/proxies/churn/toxics/churn_${stream}`;
      const add = await server.toxic('churn', { name: `churn_${stream}`, type: 'latency', stream, attributes: { latency: 5 } });
      assert.is(add.status, 200, `add: ${add.text}`);
      const update = await server.api('POST', path, { attributes: { latency: 1, jitter: 1 } });
      assert.is(update.status, 200, `update: ${update.text}`);
      const remove = await server.api('DELETE', path);
      assert.is(remove.status, 204, `remove: ${remove.text}`);
    }));
    cycles++;
  }
  await writer;
  const received = await within(got, 10_000, 'echo of the counter stream');
  assert.ok(cycles >= 5, `only ${cycles} add/update/remove cycles overlapped the transfer`);
  const at = firstDiff(received, data);
  assert.is(at, -1, `${received.length} of ${data.length} bytes; counter ${at >> 1} is ${at >= 0 && at + 1 < received.length ? received.readUInt16BE(at & ~1) : 'missing'}`);
});

// ---- (e) unreachable upstream ----

test('a refused upstream closes the client promptly and the server keeps serving', async () => {
  const port = await server.proxy('refused', `127.0.0.1:${await closedPort()}`);
  for (let i = 0; i < 3; i++) {
    const client = await connect(port);
    const { ms, value } = await timed(within(closeKind(client), 2000, 'close after a refused dial'));
    assert.ok(value === 'end' || value === 'reset', `the client saw ${value}`);
    assert.ok(ms < 1000 + lag.worst(), `the client was closed after ${ms.toFixed(0)} ms (timer lag ${lag.worst()} ms)`);
    client.destroy();
  }
  const res = await server.api('GET', '/proxies/refused');
  assert.is(res.status, 200);
  assert.is(res.json.enabled, true);
  const client = await connect(await server.proxy('after-refused', echo.address));
  const got = readAll(client);
  client.end('still serving');
  assert.is((await within(got, 2000, 'echo after refusals')).toString(), 'still serving');
});

// ---- (f) disable and delete ----

for (const how of ['disable', 'delete'] as const) {
  test(`${how} closes live connections and refuses new ones`, async () => {
    const name = `${how}-me`;
    const port = await server.proxy(name, echo.address);
    const client = await connect(port);
    client.write('ping');
    assert.is((await within(readBytes(client, 4), 2000, 'ping echo')).toString(), 'ping');
    const upstreamSide = echo.sockets[echo.sockets.length - 1]!;
    const upstreamClosed = once(upstreamSide, 'close');
    const kind = closeKind(client);
    const res = how === 'disable'
      ? await server.api('POST', `/proxies/${name}`, { enabled: false })
      : await server.api('DELETE', `/proxies/${name}`);
    assert.is(res.status, how === 'disable' ? 200 : 204, res.text);
    if (how === 'disable') assert.is(res.json.enabled, false);
    assert.is(await within(kind, 1000, `client close after ${how}`), 'end');
    await within(upstreamClosed, 1000, `upstream close after ${how}`);
    assert.is(await tryConnect(port), 'ECONNREFUSED');
    assert.is((await server.api('GET', `/proxies/${name}`)).status, how === 'disable' ? 200 : 404);
  });
}

// ---- (g) IPv6 ----

test('a proxy on [::1] passes data to an upstream on ::1', async () => {
  if (!(await hasIPv6Loopback())) {
    console.log('  (skipped: this machine cannot listen on ::1)');
    return;
  }
  const peers: string[] = [];
  const echo6 = net.createServer({ allowHalfOpen: true }, (s) => {
    peers.push(s.remoteAddress ?? '');
    s.on('error', () => {});
    s.pipe(s);
  });
  echo6.listen(0, '::1');
  await once(echo6, 'listening');
  try {
    const upstream = `[::1]:${(echo6.address() as net.AddressInfo).port}`;
    const res = await server.api('POST', '/proxies', { name: 'v6', listen: '[::1]:0', upstream });
    assert.is(res.status, 201, res.text);
    assert.match(res.json.listen, /^\[::1\]:[1-9]\d*$/);
    assert.is(res.json.upstream, upstream);
    const client = await connect(portOf(res.json.listen), '::1');
    const data = pattern(300_000, 9);
    const got = readAll(client);
    client.end(data);
    assertSame(await within(got, 5000, 'IPv6 echo'), data, 'IPv6 echo');
    assert.equal(peers, ['::1']);
  } finally {
    await new Promise<void>((r) => echo6.close(() => r()));
  }
});

// ---- (h) resets pass through ----

test('an upstream reset reaches the client as ECONNRESET, and a client reset the upstream', async () => {
  const up = await tcpServer(() => {});
  const rst = await tcpServer((s) => s.once('data', () => s.resetAndDestroy()));
  try {
    const client = await connect(await server.proxy('rst-up', rst.address));
    const kind = closeKind(client);
    client.write('x');
    assert.is(await within(kind, 2000, 'client close after upstream RST'), 'reset');

    const client2 = await connect(await server.proxy('rst-client', up.address));
    client2.write('y');
    await until(() => up.sockets.length > 0, 2000, 'upstream accept');
    const upstreamSide = up.sockets[0]!;
    const upstreamKind = closeKind(upstreamSide);
    assert.is((await within(readBytes(upstreamSide, 1), 2000, 'first byte at the upstream')).toString(), 'y');
    client2.resetAndDestroy();
    assert.is(await within(upstreamKind, 2000, 'upstream close after client RST'), 'reset');
  } finally {
    await up.close();
    await rst.close();
  }
});

test.run();
