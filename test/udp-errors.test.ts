// UDP proxies when sending fails (issue 4): an upstream with nothing bound answers with ICMP
// port unreachable, which is recorded (GET /connections, conn:closed, metrics) and warned from
// the first error; a datagram too large for the other address family is dropped as a fault
// event. Either way the session and the proxy keep serving.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FaultEvent } from '../src/index.js';
import { sleep, startServer, type TestServer } from './_helpers/net.js';
import { deadUdpPort, hasIPv6, sessions, udpClient, udpEcho, udpProxy, udpSocket, waitFor } from './_helpers/udp.js';

type Warning = { message: string; context: Record<string, unknown> };

/** The live sessions of proxy `name`, as GET /connections shows them. */
async function liveSessions(server: TestServer, name: string): Promise<any[]> {
  const res = await server.api('GET', '/connections');
  assert.is(res.status, 200);
  return res.json.proxies.find((p: any) => p.proxy === name)?.connections ?? [];
}

async function upstreamErrorsMetric(server: TestServer, name: string): Promise<number | undefined> {
  const text = (await server.api('GET', '/metrics')).text;
  const m = new RegExp(`^faultline_upstream_errors_total\\{proxy="${name}"\\} (\\d+)$`, 'm').exec(text);
  return m === null ? undefined : Number(m[1]);
}

/** A server recording warnings, fault events and conn:closed, closed after `fn`. */
async function withServer(fn: (server: TestServer, seen: {
  warnings: Warning[]; faults: FaultEvent[]; closed: Array<{ conn: string; reason: string; upstreamErrors?: number }>;
}) => Promise<void>): Promise<void> {
  const server = await startServer();
  const seen = { warnings: [] as Warning[], faults: [] as FaultEvent[], closed: [] as Array<{ conn: string; reason: string; upstreamErrors?: number }> };
  const offs = [
    server.events.on('log:warn', (e) => seen.warnings.push(e)),
    server.events.on('fault:injected', (e) => seen.faults.push(e)),
    server.events.on('conn:closed', (e) => seen.closed.push(e)),
  ];
  try {
    await fn(server, seen);
  } finally {
    for (const off of offs) off();
    await server.close();
  }
}

test('ICMP port unreachable is recorded: /connections, metrics, conn:closed, a warning from the first error; the proxy survives', () => withServer(async (server, seen) => {
  const a = await udpClient();
  const b = await udpClient();
  const echo = await udpEcho();
  try {
    const dead = await deadUdpPort();
    const { port } = await udpProxy(server, 'u', `127.0.0.1:${dead}`);
    assert.is(await upstreamErrorsMetric(server, 'u'), 0, 'a zero series before any traffic');
    for (let i = 0; i < 5; i++) { a.send(`x${i}`, port); await sleep(30); }
    await waitFor(async () => ((await liveSessions(server, 'u'))[0]?.upstream_errors ?? 0) >= 4, 2000, 'upstream_errors >= 4');
    const [session] = await liveSessions(server, 'u');
    const errors = session.upstream_errors as number;
    assert.ok(errors >= 4 && errors <= 5, `one error per datagram after the first at most: ${errors}`);
    assert.is(session.client, `127.0.0.1:${a.port}`);
    assert.is(await upstreamErrorsMetric(server, 'u'), errors);

    assert.is(seen.warnings.length, 1, 'warned once within the second');
    const warn = seen.warnings[0]!;
    assert.match(warn.message, new RegExp(`^u: upstream 127\\.0\\.0\\.1:${dead} unreachable \\(ICMP port unreachable`));
    assert.is(warn.context.error, 'ECONNREFUSED');
    assert.is(warn.context.client, `127.0.0.1:${a.port}`);
    assert.is(warn.context.upstream_errors, 1, 'the very first error warns');
    assert.is(a.received.length, 0);
    assert.equal(seen.faults, [], 'an unreachable upstream is not an injected fault');

    // Pointed at a live upstream, the proxy drops its sessions (as Toxiproxy restarts the
    // listener): the old session closes with its count,
    // the metric keeps it, and a new client is served.
    assert.is((await server.api('POST', '/proxies/u', { upstream: echo.address })).status, 200);
    assert.equal(seen.closed.map((c) => [c.conn, c.reason, c.upstreamErrors]), [[session.conn, 'proxy moved', errors]]);
    b.send('alive', port);
    assert.is((await b.next()).data.toString(), 'alive');
    const [fresh] = await liveSessions(server, 'u');
    assert.equal([fresh.client, fresh.upstream_errors], [`127.0.0.1:${b.port}`, 0]);
    assert.is(await upstreamErrorsMetric(server, 'u'), errors, 'closed sessions still count');
    assert.is(await sessions(server, 'u'), 1);
  } finally {
    await a.close();
    await b.close();
    await echo.close();
  }
}));

test('a 65,508-byte datagram from an IPv6 client to an IPv4 upstream is dropped as a fault event; the session still echoes', async () => {
  if (!(await hasIPv6())) { console.log('  ::1 unavailable; IPv6-to-IPv4 oversize test skipped'); return; }
  await withServer(async (server, seen) => {
    const echo = await udpEcho();
    const client = await udpClient('::1');
    try {
      const { port } = await udpProxy(server, 'u6', echo.address, { listen: '[::1]:0' });
      client.send(Buffer.alloc(65_508, 0x41), port);
      await waitFor(() => seen.faults.length > 0, 2000, 'the drop event');
      const [session] = await liveSessions(server, 'u6');
      assert.equal(seen.faults.map((e) => [e.proxy, e.protocol, e.conn, e.client, e.toxic, e.type, e.stream, e.action, e.detail]), [
        ['u6', 'udp', session.conn, `[::1]:${client.port}`, '', '', 'upstream', 'dropped', { reason: 'too_large', bytes: 65_508 }],
      ]);
      assert.is(echo.count, 0);
      assert.is(seen.warnings.length, 1);
      assert.match(seen.warnings[0]!.message, /^u6: dropped a 65508-byte datagram too large to send to upstream 127\.0\.0\.1:\d+$/);
      assert.is(seen.warnings[0]!.context.error, 'EMSGSIZE');
      // The same session carries on; a too-large datagram is not an upstream error.
      for (const size of [1, 65_507]) {
        const data = Buffer.alloc(size, 0x42);
        client.send(data, port);
        assert.ok((await client.next()).data.equals(data), `${size} bytes echoed`);
      }
      const [after] = await liveSessions(server, 'u6');
      assert.equal([after.conn, after.upstream_errors], [session.conn, 0]);
      assert.is(seen.faults.length, 1);
    } finally {
      await client.close();
      await echo.close();
    }
  });
});

test('a reply too large for an IPv4 client is dropped as a downstream fault event; later replies arrive', async () => {
  if (!(await hasIPv6())) { console.log('  ::1 unavailable; IPv4-to-IPv6 oversize test skipped'); return; }
  await withServer(async (server, seen) => {
    // Answers each datagram with 65,508 bytes, then its own bytes back.
    const upstream = await udpSocket('::1', (d, socket) => {
      socket.send(Buffer.alloc(65_508, 0x43), d.port, d.address);
      socket.send(d.data, d.port, d.address);
    });
    const client = await udpClient();
    try {
      const { port } = await udpProxy(server, 'u', upstream.address);
      client.send('one', port);
      assert.is((await client.next()).data.toString(), 'one');
      await waitFor(() => seen.faults.length > 0, 2000, 'the drop event');
      assert.equal(seen.faults.map((e) => [e.stream, e.action, e.detail, e.client]), [
        ['downstream', 'dropped', { reason: 'too_large', bytes: 65_508 }, `127.0.0.1:${client.port}`],
      ]);
      assert.match(seen.warnings[0]?.message ?? '', /^u: dropped a 65508-byte datagram too large to send to client 127\.0\.0\.1:\d+$/);
      client.send('two', port);
      assert.is((await client.next()).data.toString(), 'two');
      await sleep(30);
      assert.is(client.received.length, 2, 'only the small replies arrived');
      assert.is(seen.faults.length, 2);
    } finally {
      await client.close();
      await upstream.close();
    }
  });
});

test.run();
