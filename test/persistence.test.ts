// State and the event log surviving restarts, end to end: a real SQLite file in a temp dir,
// in-process servers (createServer({ db })) and `faultline serve` child processes killed with
// SIGKILL mid-flow, real TCP/UDP traffic through the restored proxies, and a database file
// another connection keeps locked while the proxy keeps proxying.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { performance } from 'node:perf_hooks';
import { tryConnect } from './_helpers/api.js';
import { connect, echoServer, pattern, readBytes, sleep, startServer, type TestServer } from './_helpers/net.js';
import {
  call, holdWriteLock, malformed, metric, ndjson, ok, parseMetrics, roundTrip, spawnServe, tempDir, waitFor,
  type Child,
} from './_helpers/persistence.js';
import { udpClient, udpEcho, udpProxy } from './_helpers/udp.js';
import { watch, type Watcher } from './_helpers/ws.js';

test('restart: proxies, toxics (order, attributes, toxicity, stream label) and the disabled flag come back; ttls keep their expiry', async () => {
  const t = await tempDir();
  const echo = await echoServer();
  const uecho = await udpEcho();
  const client = await udpClient();
  let a: TestServer | null = await startServer({ db: t.file });
  let b: TestServer | null = null;
  try {
    const add = async (s: TestServer, proxy: string, body: Record<string, unknown>) => {
      const r = await s.toxic(proxy, body);
      assert.is(r.status, 200, r.text);
      return r.json;
    };
    const webPort = await a.proxy('web', echo.address);
    const { port: dnsPort } = await udpProxy(a, 'dns', uecho.address, { idle_timeout: 5000 });
    const offPort = await a.proxy('off', echo.address);
    assert.is((await a.api('POST', '/proxies/off', { enabled: false })).status, 200);
    await add(a, 'web', { name: 'lat_down', type: 'latency', stream: 'downstream', attributes: { latency: 100 } });
    await add(a, 'web', { name: 'nop_up', type: 'noop', stream: 'UpStream', toxicity: 0.25 });
    const running = await add(a, 'web', { name: 'ttl_run', type: 'latency', stream: 'upstream', attributes: { latency: 40 }, ttl: 2500 });
    const gone = await add(a, 'web', { name: 'ttl_gone', type: 'noop', stream: 'downstream', ttl: 400 });
    await add(a, 'web', { name: 'slice', type: 'slicer', stream: 'DownStream', attributes: { average_size: 64, size_variation: 8, delay: 10 } });
    await add(a, 'dns', { name: 'udp_lat', type: 'latency', stream: 'downstream', attributes: { latency: 60, jitter: 0 } });
    await add(a, 'dns', { name: 'udp_cap', type: 'limit_data', stream: 'upstream', toxicity: 0.5, attributes: { bytes: 1_000_000 } });
    const before = (await a.api('GET', '/proxies')).json;
    assert.equal(before.web.toxics.map((x: any) => x.name), ['nop_up', 'ttl_run', 'lat_down', 'ttl_gone', 'slice']);
    await a.close(); a = null;
    assert.ok(Date.now() < Date.parse(gone.expires_at), 'the server was down before ttl_gone expired');
    // Down for a second: long enough that a fresh ttl would visibly outlive the original expiry.
    await sleep(Date.parse(gone.expires_at) - Date.now() + 600);

    const t0 = performance.now();
    b = await startServer({ db: t.file });
    const restoreMs = performance.now() - t0;
    let expiredAt = 0;
    b.events.on('state:changed', (c) => { if (c.kind === 'toxic:expired' && c.toxic === 'ttl_run') expiredAt = Date.now(); });
    const after = (await b.api('GET', '/proxies')).json;
    const expected = structuredClone(before);
    expected.web.toxics = expected.web.toxics.filter((x: any) => x.name !== 'ttl_gone');
    assert.equal(after, expected, 'every proxy and toxic is back with the same JSON, ttl_gone excepted');
    assert.is(after.web.toxics.find((x: any) => x.name === 'ttl_run').expires_at, running.expires_at);

    // The restored listeners and toxics work: 100 ms down plus 40 ms up on TCP, 60 ms on UDP.
    const rtt = await roundTrip(webPort, pattern(1000));
    assert.ok(rtt !== null && rtt >= 138 && rtt < 1000, `tcp round trip ${rtt} ms through lat_down + ttl_run`);
    const u0 = performance.now();
    client.send('ping', dnsPort);
    assert.is(String((await client.next(3000)).data), 'ping');
    const urtt = performance.now() - u0;
    assert.ok(urtt >= 58 && urtt < 1000, `udp round trip ${urtt.toFixed(1)} ms through udp_lat`);
    assert.is(await tryConnect(offPort), 'ECONNREFUSED', 'the disabled proxy stays disabled');
    assert.is((await b.api('POST', '/proxies/off', { enabled: true })).status, 200);
    assert.is(await tryConnect(offPort), 'connected', 'enabled again, on the port it had');

    // ttl_run expires at its original time, not 2.5 s after the restart.
    const due = Date.parse(running.expires_at);
    await waitFor(() => expiredAt > 0, due - Date.now() + 2000, 'ttl_run to expire');
    console.log(`  restore took ${restoreMs.toFixed(0)} ms; ttl_run expired ${expiredAt - due} ms after its original expires_at`);
    assert.ok(expiredAt - due >= -5 && expiredAt - due < 400, `expired ${expiredAt - due} ms from the original expiry`);
    assert.equal((await b.api('GET', '/proxies/web/toxics')).json.map((x: any) => x.name), ['nop_up', 'lat_down', 'slice']);
    await waitFor(async () => (await ndjson(b!.url, 'proxy=web&kind=toxic:expired')).length === 2, 2000, 'both expiries logged');
    const stored = await ndjson(b.url, 'proxy=web&kind=toxic:expired');
    assert.equal(stored.map((e) => e.toxic).sort(), ['ttl_gone', 'ttl_run'], 'both expiries are in the event log');
  } finally {
    await a?.close();
    await b?.close();
    await client.close();
    await uecho.close();
    await echo.close();
    await t.remove();
  }
});

test('a config applied at start wins over a stored proxy of the same name, and is stored in its place', async () => {
  const t = await tempDir();
  const [one, two] = [await echoServer(), await echoServer()];
  const servers: TestServer[] = [];
  try {
    const a = await startServer({ db: t.file });
    servers.push(a);
    await a.proxy('shared', one.address);
    await a.proxy('kept', one.address);
    assert.is((await a.toxic('shared', { name: 'slow', type: 'latency', attributes: { latency: 500 } })).status, 200);
    assert.is((await a.toxic('kept', { name: 'k', type: 'noop' })).status, 200);
    await a.close();
    const b = await startServer({ db: t.file, config: [{ name: 'shared', listen: '127.0.0.1:0', upstream: two.address }] });
    servers.push(b);
    const shared = (await b.api('GET', '/proxies/shared')).json;
    assert.is(shared.upstream, two.address);
    assert.equal(shared.toxics, [], 'the stored toxic went with the stored proxy');
    const port = Number(shared.listen.split(':')[1]);
    const rtt = await roundTrip(port, pattern(100));
    assert.ok(rtt !== null && rtt < 400, `no latency toxic on the config's proxy (${rtt} ms)`);
    assert.is(two.sockets.length, 1, 'traffic reached the config upstream');
    assert.is(one.sockets.length, 0);
    assert.equal((await b.api('GET', '/proxies/kept/toxics')).json.map((x: any) => x.name), ['k'], 'other stored proxies stay');
    await b.close();
    const c = await startServer({ db: t.file });
    servers.push(c);
    const again = (await c.api('GET', '/proxies')).json;
    assert.equal(Object.keys(again).sort(), ['kept', 'shared']);
    assert.is(again.shared.upstream, two.address, 'the replacement was stored');
    assert.equal(again.shared.toxics, []);
  } finally {
    for (const s of servers) await s.close();
    await one.close();
    await two.close();
    await t.remove();
  }
});

test('kill -9 while events flow: state is back, stored events are well-formed, at most the last batch is lost', async () => {
  const t = await tempDir();
  const echo = await echoServer();
  const children: Child[] = [];
  let ws: Watcher | null = null;
  let stop = false;
  const workers: Promise<number>[] = [];
  try {
    const first = await spawnServe(['--db', t.file, '--seed', '7'], t.dir);
    children.push(first);
    const created = await ok(first.url, 'POST', '/proxies', { name: 'p', listen: '127.0.0.1:0', upstream: echo.address });
    const port = Number(created.listen.split(':')[1]);
    for (const [name, stream] of [['l1', 'upstream'], ['l2', 'upstream'], ['l3', 'downstream'], ['l4', 'downstream']]) {
      await ok(first.url, 'POST', '/proxies/p/toxics', { name, type: 'latency', stream, attributes: { latency: 1 } });
    }
    const proxiesBefore = await ok(first.url, 'GET', '/proxies');
    ws = await watch(`${first.url.replace('http:', 'ws:')}/events/stream`);
    // Many short connections: two conn events each, and latency faults (50/s per toxic) on top.
    const churn = async () => {
      let n = 0;
      while (!stop) if ((await roundTrip(port, pattern(200), 2000)) !== null) n++;
      return n;
    };
    for (let i = 0; i < 8; i++) workers.push(churn());
    await sleep(1500);
    // Taken with nothing between it and the signal: kill() sends it synchronously.
    const killAt = Date.now();
    await first.kill('SIGKILL');
    stop = true;
    const conns = (await Promise.all(workers)).reduce((s, n) => s + n, 0);
    const seen = ws.messages.filter((m) => m.type === 'event');
    const flowing = seen.filter((m) => m.event.ts >= killAt - 1000).length;
    assert.ok(flowing >= 200, `events were flowing: ${flowing} in the last second before the kill`);

    const second = await spawnServe(['--db', t.file], t.dir);
    children.push(second);
    assert.equal(await ok(second.url, 'GET', '/proxies'), proxiesBefore, 'every proxy and toxic is back');
    const stored = await ndjson(second.url);
    const now = Date.now();
    const bad = stored.map((e) => malformed(e, now)).filter((p) => p !== null);
    assert.equal(bad.slice(0, 3), [], `${bad.length} malformed events`);
    assert.is(new Set(stored.map((e) => e.id)).size, stored.length, 'ids are unique');
    assert.ok(stored.every((e, i) => i === 0 || e.seq < stored[i - 1].seq), 'newest first by seq');

    // Match what the live client saw: faults by id (the only stream events with one), the rest
    // by fields that identify them.
    const keyOf = (kind: string, e: any) => kind === 'fault:injected' ? e.id
      : kind.startsWith('conn:') ? `${kind}|${e.conn}`
        : kind === 'fault:folded' ? `${kind}|${e.proxy}|${e.toxic}|${e.action}|${e.ts}|${e.count ?? e.detail?.count}`
          : `${e.kind}|${e.proxy}|${e.toxic ?? ''}|${e.ts}`;
    const storedKeys = new Set(stored.map((e) => keyOf(/^(proxy|toxic):/.test(e.kind) ? 'state' : e.kind, e)));
    const missing = seen.filter((m) => !storedKeys.has(keyOf(m.kind === 'state:changed' ? 'state' : m.kind, m.event)));
    // Batches are written in the order events happened, so what a kill loses is a tail: every
    // lost event is at least as new as the newest stored one. How long that tail is depends on
    // how busy the machine is (7-48 ms on an idle one); that a batch landed in the last two
    // seconds shows the writer kept up at all.
    const newestStored = Math.max(...stored.filter((e) => e.ts <= killAt).map((e) => e.ts));
    const lostOld = missing.filter((m) => m.event.ts < newestStored);
    console.log(`  kill -9: ${conns} connections, ${seen.length} events streamed (${flowing}/s at the kill), ${stored.length} stored; ` +
      `${missing.length} streamed events not stored, the oldest ${missing.length ? killAt - Math.min(...missing.map((m) => m.event.ts)) : 0} ms ` +
      `before the kill; newest stored event ${killAt - newestStored} ms before it`);
    assert.equal(lostOld.map((m) => m.event), [], 'only the tail after the last batch written is lost');
    assert.ok(killAt - newestStored < 2000, `the newest stored event is ${killAt - newestStored} ms before the kill`);

    // The restored proxy and its toxics still work on the restarted server.
    const rtt = await roundTrip(port, pattern(200));
    assert.ok(rtt !== null, 'data flows through the restored proxy');
    await waitFor(async () => (await ndjson(second.url, 'kind=fault:injected&toxic=l1')).some((e) => e.ts > killAt), 3000, 'a fault after restart');
  } finally {
    stop = true;
    await Promise.all(workers);
    ws?.ws.terminate();
    for (const c of children) await c.kill();
    await echo.close();
    await t.remove();
  }
});

const failuresOf = async (url: string) =>
  metric(parseMetrics(await (await fetch(`${url}/metrics`)).text()).samples, 'faultline_store_write_failures_total');

test('an unwritable database (another connection holds the write lock): proxying goes on, events wait, a state change is refused with a 503 and not made, writes resume', async () => {
  const t = await tempDir();
  const echo = await echoServer();
  const logs: string[] = [];
  const servers: TestServer[] = [];
  let lock: { release(): Promise<void> } | null = null;
  try {
    const s = await startServer({ db: t.file, log: (line) => logs.push(line) });
    servers.push(s);
    const port = await s.proxy('p', echo.address);
    assert.is((await s.toxic('p', { name: 'lat', type: 'latency', stream: 'upstream', attributes: { latency: 5 } })).status, 200);
    assert.ok((await roundTrip(port, pattern(100))) !== null);
    await waitFor(async () => (await ndjson(s.url, 'kind=fault:injected')).length === 1, 2000, 'the first fault stored');

    lock = await holdWriteLock(t.file);
    const lockedAt = Date.now();
    const during: string[] = [];
    const off = s.events.on('fault:injected', (e) => during.push(e.id));
    const rtts: (number | null)[] = [];
    const traffic = (async () => {
      // Paced under the 50/s fault event limit, so every fault has its own event.
      while (Date.now() - lockedAt < 2800) { rtts.push(await roundTrip(port, pattern(100))); await sleep(25); }
    })();
    // The writer's first batch waits out the 2 s busy timeout, then fails.
    const failedAfter = await waitFor(async () => (await failuresOf(s.url)) > 0, 2600, 'a counted store failure');
    // A state change cannot be written while the lock is held: it is refused, not made.
    const t0 = performance.now();
    const refused = await s.toxic('p', { name: 'during', type: 'noop', stream: 'downstream' });
    const refusedMs = performance.now() - t0;
    assert.is(refused.status, 503, refused.text);
    assert.is(refused.json.code, 'ERR_STATE_NOT_SAVED');
    assert.match(refused.json.error, /could not be saved, so it was not made: .*SQLITE_BUSY/);
    assert.equal((await s.api('GET', '/proxies/p/toxics')).json.map((x: any) => x.name), ['lat'], 'the refused toxic is not there');
    await traffic;
    off();
    const samples = parseMetrics(await (await fetch(`${s.url}/metrics`)).text()).samples;
    const sorted = rtts.filter((r): r is number => r !== null).sort((x, y) => x - y);
    console.log(`  db locked 2.8 s: ${rtts.length} round trips, p50 ${sorted[sorted.length >> 1]?.toFixed(1)} ms, ` +
      `max ${sorted.at(-1)?.toFixed(1)} ms; first failure counted after ${failedAfter} ms; toxic refused after ${refusedMs.toFixed(0)} ms`);
    assert.is(sorted.length, rtts.length, 'every round trip during the lock succeeded');
    assert.ok(rtts.length >= 20, `${rtts.length} round trips`);
    assert.ok(sorted[sorted.length >> 1]! < 100 && sorted.at(-1)! < 1000, 'the proxy never waited for the disk');
    // Behind the event batch's busy wait, then its own: a bound, not a hang.
    assert.ok(refusedMs < 8000, `the refusal came in ${refusedMs.toFixed(0)} ms`);
    assert.is(during.length, rtts.length, 'a fault per round trip, still injected and reported');
    assert.ok(metric(samples, 'faultline_faults_total', { proxy: 'p', type: 'latency', action: 'delayed' }) >= 1 + rtts.length);
    assert.ok(metric(samples, 'faultline_store_write_failures_total') > 0);
    assert.ok(logs.some((l) => l.includes('cannot write the event log')), `failure logged: ${logs.join(' | ')}`);

    await lock.release(); lock = null;
    // The events that waited in memory, and those after the release, all reach the log.
    await waitFor(async () => {
      const ids = new Set((await ndjson(s.url, 'kind=fault:injected')).map((e) => e.id));
      return during.every((id) => ids.has(id));
    }, 5000, 'the events held during the lock to be written');
    assert.ok((await roundTrip(port, pattern(100))) !== null);
    await waitFor(async () => (await ndjson(s.url, 'kind=fault:injected')).length === 2 + rtts.length, 2000, 'the fault after the release');
    assert.ok(logs.some((l) => l.includes('event log writes resumed')), logs.join(' | '));
    assert.is((await s.toxic('p', { name: 'after', type: 'noop', stream: 'downstream' })).status, 200, 'state writes work again');
    await s.close();
    const r = await startServer({ db: t.file });
    servers.push(r);
    assert.equal((await r.api('GET', '/proxies/p/toxics')).json.map((x: any) => x.name), ['lat', 'after'], 'the refused toxic never reached the disk');
    assert.is((await call(r.url, 'GET', '/events?toxic=during&kind=toxic:added')).json.events.length, 0);
  } finally {
    await lock?.release();
    for (const s of servers) await s.close();
    await echo.close();
    await t.remove();
  }
});

test('a refused change leaves the proxy as it was: a create, an update that moves it and a delete, each while the database is locked', async () => {
  const t = await tempDir();
  const echo = await echoServer();
  const servers: TestServer[] = [];
  let lock: { release(): Promise<void> } | null = null;
  try {
    const s = await startServer({ db: t.file });
    servers.push(s);
    const port = await s.proxy('p', echo.address);
    const live = await connect(port);
    const before = (await s.api('GET', '/proxies')).json;
    lock = await holdWriteLock(t.file);
    const created = await s.api('POST', '/proxies', { name: 'q', listen: '127.0.0.1:0', upstream: echo.address });
    const moved = await s.api('POST', '/proxies/p', { listen: '127.0.0.1:0', enabled: true });
    const deleted = await s.api('DELETE', '/proxies/p');
    assert.equal([created.status, moved.status, deleted.status], [503, 503, 503], [created.text, moved.text, deleted.text].join(' | '));
    assert.equal((await s.api('GET', '/proxies')).json, before, 'nothing changed');
    assert.is(await tryConnect(port), 'connected', 'the old listener still serves');
    live.write('still here');
    assert.is((await readBytes(live, 10)).toString(), 'still here', 'the live connection was kept');
    await lock.release(); lock = null;
    live.destroy();
    await s.close();
    const r = await startServer({ db: t.file });
    servers.push(r);
    assert.equal(Object.keys((await r.api('GET', '/proxies')).json), ['p'], 'nothing refused reached the disk');
  } finally {
    await lock?.release();
    for (const s of servers) await s.close();
    await echo.close();
    await t.remove();
  }
});

test.run();
