// Live stats on /events/stream: the snapshot's `stats` and a `stats` message every statsMs, with
// cumulative per-proxy bytes (open and closed connections), open connections, faults by action,
// and event counts; who gets them (unfiltered clients, or `stats=1`).

import { test } from 'uvu';
import type net from 'node:net';
import * as assert from 'uvu/assert';
import { closeKind, connect, echoServer, pattern, readBytes, sleep, startServer } from './_helpers/net.js';
import { startHub, upgrade, until, watch, type Watcher } from './_helpers/ws.js';

const wsUrl = (httpUrl: string, query = '') => `${httpUrl.replace('http:', 'ws:')}/events/stream${query}`;

const idle = (name: string) => ({
  name, protocol: 'tcp', enabled: true, active: 0, bytes: { upstream: 0, downstream: 0 }, faults: 0, faults_by_action: {},
});

/** The first stats message from now on that satisfies `cond`. */
async function statsWhere(w: Watcher, cond: (m: any) => boolean, what: string): Promise<any> {
  const from = w.messages.length;
  let found: any;
  await until(() => (found = w.messages.slice(from).find((m) => m.type === 'stats' && cond(m))) !== undefined, 5000, () => what);
  return found;
}

const proxyIn = (m: any, name: string) => m.proxies.find((p: any) => p.name === name);

test('stats: exact cumulative bytes each way for open then closed connections, and faults by action', async () => {
  const echo = await echoServer();
  const s = await startServer({ statsMs: 50 });
  try {
    const port = await s.proxy('p', echo.address);
    const w = await watch(wsUrl(s.url));
    const [snapshot] = await w.next(1);
    assert.is(snapshot.type, 'snapshot');
    assert.equal(Object.keys(snapshot.stats), ['ts', 'proxies', 'events']);
    assert.equal(snapshot.stats.proxies, [idle('p')]);
    assert.equal(snapshot.stats.events, { total: 0, folded: 0 });
    assert.ok(Math.abs(snapshot.stats.ts - Date.now()) < 2000);

    const N = 300_000;
    const data = pattern(N);
    const c = await connect(port);
    const back = readBytes(c, N);
    c.write(data);
    assert.ok((await back).equals(data));
    const open = await statsWhere(w, (m) => proxyIn(m, 'p')?.bytes.downstream === N, 'stats with the echoed bytes');
    assert.equal(proxyIn(open, 'p'), { ...idle('p'), active: 1, bytes: { upstream: N, downstream: N } });

    c.end();
    await closeKind(c);
    const closed = await statsWhere(w, (m) => proxyIn(m, 'p')?.active === 0, 'stats after the close');
    assert.equal(proxyIn(closed, 'p'), { ...idle('p'), bytes: { upstream: N, downstream: N } }, 'closed bytes still count');

    // A second connection adds to the first one's bytes.
    const c2 = await connect(port);
    const back2 = readBytes(c2, 1000);
    c2.write(pattern(1000, 3));
    await back2;
    c2.destroy();
    await statsWhere(w, (m) => proxyIn(m, 'p')?.active === 0 && proxyIn(m, 'p')?.bytes.upstream === N + 1000, 'N + 1000 bytes');

    const rport = await s.proxy('r', echo.address);
    await s.toxic('r', { name: 'rp', type: 'reset_peer', stream: 'upstream' });
    await s.toxic('p', { name: 'off', type: 'latency', stream: 'downstream', toxicity: 0 });
    const rc = await connect(rport);
    rc.write('x');
    assert.is(await closeKind(rc), 'reset');
    const faulted = await statsWhere(w, (m) => proxyIn(m, 'r')?.faults === 1 && m.events.total === 1, 'the reset counted');
    const r = proxyIn(faulted, 'r');
    assert.equal([r.faults, r.faults_by_action, r.active], [1, { reset: 1 }, 0]);
    assert.equal(faulted.proxies.map((p: any) => p.name), ['p', 'r']);
    assert.equal(proxyIn(faulted, 'p').faults_by_action, {});
    assert.equal(faulted.events, { total: 1, folded: 0 });

    await s.api('POST', '/proxies/p', { enabled: false });
    await statsWhere(w, (m) => proxyIn(m, 'p')?.enabled === false, 'the disabled proxy');
    await s.api('DELETE', '/proxies/r');
    const after = await statsWhere(w, (m) => m.proxies.length === 1, 'the deleted proxy gone');
    assert.equal(after.proxies.map((p: any) => p.name), ['p']);
    const ticks = w.messages.filter((m) => m.type === 'stats').map((m) => m.ts);
    assert.ok(ticks.every((t, i) => i === 0 || t >= ticks[i - 1]), 'in time order');
    w.ws.close();
  } finally {
    await s.close();
    await echo.close();
  }
});

test('stats go every statsMs to unfiltered clients and to those asking with stats=1, and not to others', async () => {
  const s = await startServer({ statsMs: 40 });
  try {
    await s.proxy('p', '127.0.0.1:9');
    const all = await watch(wsUrl(s.url));
    const filtered = await watch(wsUrl(s.url, '?proxy=p'));
    const kinds = await watch(wsUrl(s.url, '?kind=fault:injected'));
    const asked = await watch(wsUrl(s.url, '?proxy=p&stats=1'));
    const declined = await watch(wsUrl(s.url, '?stats=0'));
    const t0 = Date.now();
    await until(() => all.messages.filter((m) => m.type === 'stats').length >= 10, 5000, () => 'ten stats messages');
    const elapsed = Date.now() - t0;
    await asked.next(5);
    assert.ok(elapsed >= 300, `ten ticks of 40 ms took ${elapsed} ms`);
    for (const w of [all, asked]) {
      assert.ok('stats' in w.messages[0], 'the snapshot has stats');
      assert.ok(w.messages.slice(1).every((m) => m.type === 'stats'));
      assert.equal(w.messages.at(-1).proxies.map((p: any) => p.name), ['p']);
    }
    for (const w of [filtered, kinds, declined]) {
      assert.is(w.messages.length, 1, 'only the snapshot');
      assert.not.ok('stats' in w.messages[0]);
    }
    assert.equal(await upgrade(wsUrl(s.url, '?stats=yes')), { status: 400, body: 'stats must be 0 or 1' });
    for (const w of [all, filtered, kinds, asked, declined]) w.ws.close();
  } finally {
    await s.close();
  }
});

test('stats count toward a client\'s queue: a stalled client lags on them alone, then gets none', async () => {
  const big = { pad: 'z'.repeat(64 * 1024) };
  let reads = 0;
  const f = await startHub({ stats: () => { reads++; return big; }, statsMs: 5, queueBytes: 1024 * 1024, lagGraceMs: 5000 });
  try {
    const w = await watch(f.url());
    await w.next(2);
    const socket = (w.ws as unknown as { _socket: net.Socket })._socket;
    socket.pause();
    await until(() => f.hub.stats().lagged === 1, 10_000, () => `the stalled client to lag: ${JSON.stringify(f.hub.stats())}`);
    const sent = f.hub.stats().sent;
    const readsAtLag = reads;
    await sleep(100);
    assert.is(f.hub.stats().sent, sent, 'nothing more is sent to a lagging client');
    assert.is(reads, readsAtLag, 'stats are not even built when nobody takes them');
    socket.resume();
    const { code } = await w.closed;
    assert.is(code, 1013);
    assert.equal(w.messages.at(-1), { type: 'lagged', missed: 0 }, 'stats are not missed events');
    assert.ok(w.messages.slice(1, -1).every((m) => m.type === 'stats' && m.pad.length === 64 * 1024));
  } finally {
    await f.close();
  }
});

test.run();
