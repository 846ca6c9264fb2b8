// /events/stream on a real server: the snapshot (proxies, counters) then live events for real
// injected faults, emit-to-receive latency under ~1,000 fault events a second, and the Origin
// check on the upgrade alongside the REST API's browser guard.

import { performance } from 'node:perf_hooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LagSampler } from './_helpers/lag.js';
import type net from 'node:net';
import { closeKind, connect, echoServer, percentile, sleep, startServer } from './_helpers/net.js';
import { rawRequest } from './_helpers/api.js';
import { upgrade, watch } from './_helpers/ws.js';
import { waitFor } from './_helpers/persistence.js';

const wsUrl = (httpUrl: string, query = '') => `${httpUrl.replace('http:', 'ws:')}/events/stream${query}`;

test('a client gets the snapshot (proxies, counters), then live events for real faults and changes', async () => {
  const echo = await echoServer();
  const s = await startServer();
  try {
    const port = await s.proxy('rst', echo.address);
    await s.proxy('other', echo.address);
    await s.toxic('rst', { name: 'rp', type: 'reset_peer', stream: 'upstream' });
    const before = await connect(port);
    before.write('x');
    assert.is(await closeKind(before), 'reset');
    // stats=0: the stats messages, every second, would interleave with the events checked in order.
    const all = await watch(wsUrl(s.url, '?stats=0'));
    const faults = await watch(wsUrl(s.url, '?proxy=rst&type=reset_peer'));
    const others = await watch(wsUrl(s.url, '?proxy=other'));
    const proxies = (await s.api('GET', '/proxies')).json;
    const [snapshot] = await all.next(1);
    assert.equal(snapshot, {
      type: 'snapshot',
      proxies: [proxies.other, proxies.rst],
      counters: [{ proxy: 'rst', protocol: 'tcp', type: 'reset_peer', stream: 'upstream', action: 'reset', count: 1 }],
    });
    assert.equal((await faults.next(1))[0], snapshot);

    const t0 = Date.now();
    const c = await connect(port);
    const client = `127.0.0.1:${c.localPort}`;
    c.write('hello');
    assert.is(await closeKind(c), 'reset');
    const t1 = Date.now();
    assert.is((await s.toxic('rst', { name: 'n', type: 'noop', stream: 'downstream' })).status, 200);
    const msgs = (await all.next(5)).slice(1);
    assert.equal(msgs.map((m) => [m.type, m.kind]), [
      ['event', 'conn:opened'], ['event', 'fault:injected'], ['event', 'conn:closed'], ['event', 'state:changed'],
    ]);
    const [opened, fault, closed, changed] = msgs.map((m) => m.event);
    assert.equal(opened, { proxy: 'rst', protocol: 'tcp', conn: opened.conn, client, upstream: echo.address, ts: opened.ts, id: opened.id });
    // Every streamed event carries the id it is stored under, so a client can match the log.
    for (const m of msgs) assert.match(m.event.id, /^[\w-]{21}$/);
    const { id, ts, ...rest } = fault;
    assert.match(id, /^[\w-]{21}$/);
    assert.ok(ts >= t0 && ts <= t1, `fault ts ${ts} within the connection's life`);
    assert.equal(rest, {
      proxy: 'rst', protocol: 'tcp', conn: opened.conn, client, toxic: 'rp', type: 'reset_peer', stream: 'upstream', action: 'reset', detail: { after_ms: 0 },
    });
    assert.is(closed.conn, opened.conn);
    assert.is(closed.bytesUp, 5);
    assert.equal([changed.kind, changed.proxy, changed.toxic, changed.body.type, changed.body.stream], ['toxic:added', 'rst', 'n', 'noop', 'downstream']);
    await faults.next(2);
    await sleep(100);
    assert.equal(faults.messages.slice(1).map((m) => [m.kind, m.event.id]), [['fault:injected', id]], 'the filtered client got only the fault');
    assert.is(others.messages.length, 1, 'a client filtering on another proxy got only its snapshot');
    for (const w of [all, faults, others]) w.ws.close();
  } finally {
    await s.close();
    await echo.close();
  }
});

test('live latency: p99 fault-to-client under 50 ms beyond the process\'s own timer lag, at ~1,000 fault events/s, none folded', async () => {
  const echo = await echoServer();
  const s = await startServer();
  const sockets: net.Socket[] = [];
  let timer: NodeJS.Timeout | null = null;
  try {
    // 6 proxies x 4 latency toxics, each chunk 40 times a second: 24 keys at 40/s, under the
    // 50/s per-toxic limit, so every fault is streamed.
    for (let p = 0; p < 6; p++) {
      const port = await s.proxy(`p${p}`, echo.address);
      for (const [name, stream] of [['u1', 'upstream'], ['u2', 'upstream'], ['d1', 'downstream'], ['d2', 'downstream']]) {
        assert.is((await s.toxic(`p${p}`, { name, type: 'latency', stream, attributes: { latency: 1 } })).status, 200);
      }
      const socket = await connect(port);
      socket.on('data', () => {});
      sockets.push(socket);
    }
    const w = await watch(wsUrl(s.url, '?kind=fault:injected,fault:folded'));
    await w.next(1);
    const latencies: number[] = [];
    let folded = 0;
    w.ws.on('message', (data) => {
      const now = Date.now();
      const m = JSON.parse(String(data));
      if (m.kind === 'fault:injected') latencies.push(now - m.event.ts);
      else if (m.kind === 'fault:folded') folded += m.event.count;
    });
    const payload = Buffer.alloc(32, 7);
    let writes = 0;
    // Everything runs in this one process, so what load costs the stream it costs these timers
    // too: the bound is 50 ms beyond the worst lateness they show over the same window.
    const lag = new LagSampler().start();
    const t0 = performance.now();
    timer = setInterval(() => { writes++; for (const socket of sockets) socket.write(payload); }, 25);
    const start = Date.now();
    await sleep(2500);
    clearInterval(timer);
    timer = null;
    const seconds = (Date.now() - start) / 1000;
    await sleep(100);
    lag.stop();
    const loopLag = lag.worst(t0);
    const rate = latencies.length / seconds;
    const p99 = percentile(latencies, 99);
    console.log(`  ws latency p99 ${p99} ms (p50 ${percentile(latencies, 50)}, max ${Math.max(...latencies)}) at ${rate.toFixed(0)} events/s; ` +
      `folded ${folded}; worst timer lag ${loopLag} ms; ${writes} write rounds`);
    // Four latency toxics see each write (two each way); a busy loop may merge writes, never split them.
    assert.ok(latencies.length <= writes * 6 * 4 && latencies.length >= writes, `${latencies.length} events for ${writes} rounds`);
    assert.is(folded, 0, 'under the per-toxic limit, every fault is streamed');
    assert.ok(p99 < 50 + loopLag, `p99 ${p99} ms, timer lag ${loopLag} ms`);
    w.ws.close();
  } finally {
    if (timer !== null) clearInterval(timer);
    for (const socket of sockets) socket.destroy();
    await s.close();
    await echo.close();
  }
});

test('Origin: another site is refused (403), same origin and no Origin accepted; the REST browser guard stays', async () => {
  const s = await startServer();
  try {
    const host = `127.0.0.1:${s.port}`;
    assert.equal(await upgrade(wsUrl(s.url), { origin: 'http://evil.example' }), { status: 403, body: 'Origin does not match Host' });
    assert.is((await upgrade(wsUrl(s.url), { origin: `http://127.0.0.1:${s.port + 1}` })).status, 403, 'another port is another site');
    assert.is((await upgrade(wsUrl(s.url), { origin: 'null' })).status, 403);
    const withToken = wsUrl(s.url, `?token=${encodeURIComponent(s.token)}`);
    assert.is((await upgrade(withToken, { origin: `http://${host}` })).status, 101);
    assert.is((await upgrade(wsUrl(s.url), { origin: `http://${host}` })).status, 401, 'a browser needs the token');
    assert.is((await upgrade(wsUrl(s.url))).status, 101, 'no Origin: not a browser');
    const mozilla = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0';
    assert.is((await upgrade(withToken, { origin: `http://${host}`, headers: { 'user-agent': mozilla } })).status, 101,
      'a same-origin page (the dashboard) with its token may subscribe');
    assert.is((await upgrade(wsUrl(s.url), { origin: 'http://evil.example', headers: { 'user-agent': mozilla } })).status, 403);
    for (const path of ['/proxies', '/events', '/connections', '/metrics']) {
      const r = await rawRequest(s.url, 'GET', path, { 'user-agent': mozilla, origin: `http://${host}` });
      assert.equal([r.status, r.text], [403, 'User agent not allowed\n'], path);
      assert.is((await rawRequest(s.url, 'GET', path)).status, 200, `${path} without a browser user agent`);
    }
    await waitFor(async () => (await s.api('GET', '/proxies')).status === 200, 1000, 'still serving');
  } finally {
    await s.close();
  }
});

test.run();
