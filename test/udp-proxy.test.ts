// UDP proxies (issue 4): datagrams intact both ways, per-client sessions, idle expiry, delete
// and disable under load, and the API's protocol rules. Failed sends (an upstream that does not
// exist, datagrams too large) are in udp-errors.test.ts.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { performance } from 'node:perf_hooks';
import { pattern, sleep, startServer, type TestServer } from './_helpers/net.js';
import {
  hasIPv6, seqDatagram, sessions, udpClient, udpEcho, udpProxy, udpUpstream, waitFor, windowedEcho,
} from './_helpers/udp.js';

/** A seeded server and an echo upstream, both closed after `fn`, whatever happens. */
async function withEcho(fn: (server: TestServer, echo: Awaited<ReturnType<typeof udpEcho>>) => Promise<void>): Promise<void> {
  const server = await startServer();
  const echo = await udpEcho();
  try {
    await fn(server, echo);
  } finally {
    await server.close();
    await echo.close();
  }
}

test('datagrams of 0, 1, 1400 and 65,507 bytes pass intact both ways, one datagram each', () => withEcho(async (server, echo) => {
  const { port } = await udpProxy(server, 'u', echo.address);
  const client = await udpClient();
  try {
    const sizes = [0, 1, 1400, 65_507, 1, 0];
    const sent = sizes.map((n, i) => pattern(n, i));
    for (const data of sent) client.send(data, port);
    for (const data of sent) {
      const got = await client.next();
      assert.is(got.data.length, data.length);
      assert.ok(got.data.equals(data), `a ${data.length}-byte datagram came back changed`);
      assert.is(got.port, port, 'replies come from the proxy port');
    }
    await sleep(50);
    assert.is(client.received.length, sizes.length, 'no datagram was split, merged or repeated');
    assert.is(echo.count, sizes.length);
  } finally {
    await client.close();
  }
}));

test('200,000 echo datagrams at a 64-datagram window: none lost, duplicated or reordered', () => withEcho(async (server, echo) => {
  const { port } = await udpProxy(server, 'u', echo.address);
  const total = 200_000;
  const start = performance.now();
  const order = await windowedEcho(port, total, 64);
  const seconds = (performance.now() - start) / 1000;
  for (let i = 0; i < total; i++) {
    if (order[i] !== i) assert.unreachable(`reply ${i} was datagram ${order[i]}`);
  }
  assert.is(echo.count, total, 'the upstream saw each datagram once');
  console.log(`  udp echo through the proxy: ${Math.round(total / seconds)} datagrams/s`);
}));

test('two clients: each gets only its own replies; the upstream sees two source ports; sessions: 2', () => withEcho(async (server, echo) => {
  const { port, json } = await udpProxy(server, 'u', echo.address);
  assert.equal(Object.keys(json), ['name', 'listen', 'upstream', 'enabled', 'toxics', 'protocol', 'idle_timeout', 'sessions']);
  assert.is(json.protocol, 'udp');
  assert.is(json.idle_timeout, 60_000);
  assert.is(json.sessions, 0);
  const a = await udpClient();
  const b = await udpClient();
  try {
    for (let i = 0; i < 20; i++) {
      a.send(`a${i}`, port);
      b.send(`b${i}`, port);
    }
    for (let i = 0; i < 20; i++) {
      assert.is((await a.next()).data.toString(), `a${i}`);
      assert.is((await b.next()).data.toString(), `b${i}`);
    }
    await sleep(30);
    assert.is(a.received.length, 20);
    assert.is(b.received.length, 20);
    assert.is(echo.sources.length, 2, 'one upstream socket per client');
    assert.not.ok(echo.sources.includes(a.port) || echo.sources.includes(b.port), 'the upstream sees the proxy, not the clients');
    assert.is(await sessions(server, 'u'), 2);
    const list = await server.api('GET', '/proxies');
    assert.is(list.json.u.sessions, 2);
  } finally {
    await a.close();
    await b.close();
  }
}));

test('idle expiry: a session ends idle_timeout after its last datagram; the next one opens a fresh session', () => withEcho(async (server, echo) => {
  const opened: string[] = [];
  const closed: { conn: string; reason: string; protocol: string }[] = [];
  const offOpen = server.events.on('conn:opened', (e) => opened.push(e.conn));
  const offClose = server.events.on('conn:closed', (e) => closed.push(e));
  const { port, json } = await udpProxy(server, 'u', echo.address, { idle_timeout: 200 });
  assert.is(json.idle_timeout, 200);
  const client = await udpClient();
  try {
    client.send('one', port);
    await client.next();
    const last = performance.now();
    assert.is(await sessions(server, 'u'), 1);
    assert.is(opened.length, 1);
    await waitFor(async () => (await sessions(server, 'u')) === 0, 2000, 'the session to expire');
    const after = performance.now() - last;
    assert.ok(after >= 190 && after <= 500, `session expired ${after.toFixed(0)} ms after the last datagram`);
    assert.equal(closed.map((c) => [c.conn, c.reason, c.protocol]), [[opened[0], 'idle', 'udp']]);

    client.send('two', port);
    assert.is((await client.next()).data.toString(), 'two');
    assert.is(await sessions(server, 'u'), 1);
    assert.is(opened.length, 2);
    assert.is.not(opened[1], opened[0], 'a fresh session id');
    assert.is(echo.sources.length, 2, 'a fresh upstream socket (new source port)');
  } finally {
    offOpen();
    offClose();
    await client.close();
  }
}));

/** Floods `port` from a client until stopped; resolves the flood's stopper. */
function flood(client: Awaited<ReturnType<typeof udpClient>>, port: number): () => void {
  let on = true;
  let i = 0;
  const tick = (): void => {
    if (!on) return;
    for (let n = 0; n < 16; n++) client.send(seqDatagram(i++), port);
    setImmediate(tick);
  };
  tick();
  return () => { on = false; };
}

for (const how of ['delete', 'disable'] as const) {
  test(`${how} under load: every session's socket closes and the server keeps serving`, async () => {
    const server = await startServer();
    const sink = await udpUpstream();
    const closed: string[] = [];
    const off = server.events.on('conn:closed', (e) => closed.push(e.reason));
    const a = await udpClient();
    const b = await udpClient();
    const stops: (() => void)[] = [];
    try {
      const { port } = await udpProxy(server, 'u', sink.address);
      stops.push(flood(a, port), flood(b, port));
      await waitFor(() => sink.count > 2000, 3000, 'the flood to reach the upstream');
      const res = how === 'delete'
        ? await server.api('DELETE', '/proxies/u')
        : await server.api('POST', '/proxies/u', { enabled: false });
      assert.is(res.status, how === 'delete' ? 204 : 200);
      if (how === 'disable') assert.is(res.json.sessions, 0);
      await sleep(100); // what the proxy had sent before drains from the kernel
      const settled = sink.count;
      await sleep(300);
      assert.is(sink.count, settled, 'the upstream stopped receiving');
      assert.is(sink.sources.length, 2);
      assert.equal(closed, ['proxy stopped', 'proxy stopped']);
      // Still serving: the API answers and a new UDP proxy carries traffic.
      assert.is((await server.api('GET', '/version')).status, 200);
      const echo = await udpEcho();
      try {
        const { port: port2 } = await udpProxy(server, 'v', echo.address);
        const c = await udpClient();
        c.send('alive', port2);
        assert.is((await c.next()).data.toString(), 'alive');
        await c.close();
        if (how === 'disable') {
          for (const stop of stops) stop();
          await sleep(20);
          assert.is((await server.api('POST', '/proxies/u', { enabled: true })).status, 200);
          assert.is(await sessions(server, 'u'), 0);
          // Re-enabled, it carries traffic again, in a fresh session.
          a.send('again', port);
          await waitFor(() => sink.count === settled + 1, 2000, 'a datagram after re-enabling');
          assert.is(await sessions(server, 'u'), 1);
        }
      } finally {
        await echo.close();
      }
    } finally {
      for (const stop of stops) stop();
      off();
      await a.close();
      await b.close();
      await server.close();
      await sink.close();
    }
  });
}

test('TCP-only toxics are refused on a UDP proxy with a 400 naming the toxic and udp', () => withEcho(async (server, echo) => {
  await udpProxy(server, 'u', echo.address);
  for (const type of ['slow_close', 'slicer', 'half_open', 'reset_peer', 'limit_time', 'slow_open']) {
    const res = await server.toxic('u', { type, attributes: {} });
    assert.is(res.status, 400, type);
    assert.ok(res.json.error.includes(type) && res.json.error.includes('udp'), res.json.error);
  }
  assert.equal((await server.api('GET', '/proxies/u/toxics')).json, []);
  for (const type of ['latency', 'bandwidth', 'packet_loss', 'duplicate', 'reorder', 'corrupt', 'partition', 'timeout', 'limit_data', 'noop']) {
    assert.is((await server.toxic('u', { type, attributes: {} })).status, 200, type);
  }
}));

test('API: TCP proxies keep their exact JSON; bad protocol, idle_timeout on tcp and protocol changes are 400', () => withEcho(async (server, echo) => {
  const tcp = await server.api('POST', '/proxies', { name: 't', listen: '127.0.0.1:0', upstream: '127.0.0.1:1' });
  assert.is(tcp.status, 201);
  assert.equal(Object.keys(tcp.json), ['name', 'listen', 'upstream', 'enabled', 'toxics']);
  assert.equal(Object.keys((await server.api('GET', '/proxies')).json.t), ['name', 'listen', 'upstream', 'enabled', 'toxics']);
  const bad = await server.api('POST', '/proxies', { name: 'x', listen: '127.0.0.1:0', upstream: echo.address, protocol: 'sctp' });
  assert.is(bad.status, 400);
  assert.match(bad.json.error, /protocol/);
  const idle = await server.api('POST', '/proxies', { name: 'y', listen: '127.0.0.1:0', upstream: echo.address, idle_timeout: 100 });
  assert.is(idle.status, 400);
  assert.match(idle.json.error, /idle_timeout/);
  assert.is((await server.api('POST', '/proxies/t', { idle_timeout: 100 })).status, 400);
  assert.is((await server.api('POST', '/proxies/t', { protocol: 'udp' })).status, 400);
  assert.is((await server.api('GET', '/proxies/x')).status, 404);
  assert.is((await server.api('GET', '/proxies/y')).status, 404);
  // A UDP proxy's idle_timeout can be updated; its protocol cannot.
  await udpProxy(server, 'u', echo.address);
  assert.is((await server.api('POST', '/proxies/u', { idle_timeout: 1234 })).json.idle_timeout, 1234);
  assert.is((await server.api('POST', '/proxies/u', { idle_timeout: 0 })).status, 400);
  assert.is((await server.api('POST', '/proxies/u', { protocol: 'tcp' })).status, 400);
  assert.is((await server.api('GET', '/proxies/u')).json.idle_timeout, 1234);
}));

test('populate creates UDP proxies that carry traffic', () => withEcho(async (server, echo) => {
  const res = await server.api('POST', '/populate', [
    { name: 'pu', listen: '127.0.0.1:0', upstream: echo.address, protocol: 'udp', idle_timeout: 5000 },
    { name: 'pt', listen: '127.0.0.1:0', upstream: echo.address },
  ]);
  assert.is(res.status, 201);
  const [pu, pt] = res.json.proxies;
  assert.is(pu.protocol, 'udp');
  assert.is(pu.idle_timeout, 5000);
  assert.is(pt.protocol, undefined);
  const client = await udpClient();
  try {
    client.send('via populate', Number(pu.listen.split(':').pop()));
    assert.is((await client.next()).data.toString(), 'via populate');
  } finally {
    await client.close();
  }
}));

test('IPv6: a UDP proxy on [::1]:0 to a [::1] upstream', async () => {
  if (!(await hasIPv6())) { console.log('  ::1 unavailable; IPv6 UDP skipped'); return; }
  const server = await startServer();
  const echo = await udpEcho('::1');
  const client = await udpClient('::1');
  try {
    const { port, json } = await udpProxy(server, 'u6', echo.address, { listen: '[::1]:0' });
    assert.match(json.listen, /^\[::1\]:\d+$/);
    for (const size of [0, 1200, 65_000]) {
      const data = Buffer.alloc(size, 0x36);
      client.send(data, port);
      assert.ok((await client.next()).data.equals(data));
    }
    assert.is(await sessions(server, 'u6'), 1);
  } finally {
    await client.close();
    await echo.close();
    await server.close();
  }
});

test.run();
