// The extension endpoints end to end, after real traffic and real faults: GET /events (every
// filter, cursor paging, ndjson export, 400s, retention, the log turned off), GET /connections
// (live TCP connections and UDP sessions with their bytes and active toxics) and GET /metrics
// (Prometheus text parsed back and checked against the traffic sent).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { performance } from 'node:perf_hooks';
import { closeKind, connect, echoServer, pattern, readAll, readBytes, sleep, startServer } from './_helpers/net.js';
import { allPages, call, metric, ndjson, parseMetrics, roundTrip, tempDir, waitFor } from './_helpers/persistence.js';
import { udpClient, udpEcho, udpProxy } from './_helpers/udp.js';

const KINDS = ['fault:injected', 'fault:folded', 'conn:opened', 'conn:closed', 'state:changed'] as const;

test('GET /events after real faults: filters, since/until, cursor paging, ndjson, 400s', async () => {
  const t = await tempDir();
  const echo = await echoServer();
  const s = await startServer({ db: t.file });
  try {
    const rst = await s.proxy('rst', echo.address);
    const lim = await s.proxy('lim', echo.address);
    const lat = await s.proxy('lat', echo.address);
    await s.toxic('rst', { name: 'rp', type: 'reset_peer', stream: 'upstream' });
    await s.toxic('lim', { name: 'ld', type: 'limit_data', stream: 'downstream', attributes: { bytes: 10 } });
    await s.toxic('lat', { name: 'l5', type: 'latency', stream: 'upstream', attributes: { latency: 5 } });
    for (let i = 0; i < 3; i++) {
      const c = await connect(rst);
      c.write(pattern(100));
      assert.is(await closeKind(c), 'reset');
    }
    for (let i = 0; i < 2; i++) {
      const c = await connect(lim);
      const got = readAll(c);
      c.write(pattern(100));
      assert.is((await got).length, 10);
      c.destroy();
    }
    const c = await connect(lat);
    for (let i = 0; i < 5; i++) { c.write(pattern(100, i)); await readBytes(c, 100); }
    c.end();
    await readAll(c);
    // 3 proxies + 3 toxics created; 6 connections opened and closed; 3 resets, 2 closes, 5 delays.
    await waitFor(async () => (await call(s.url, 'GET', '/events?limit=1000')).json.events.length === 28, 3000, '28 events stored');
    const all = (await call(s.url, 'GET', '/events?limit=1000')).json.events as any[];
    assert.ok(all.every((e, i) => i === 0 || (e.seq < all[i - 1].seq && e.ts <= all[i - 1].ts)), 'newest first');
    const page = (await call(s.url, 'GET', '/events')).json;
    assert.equal(page, { events: all, next: null }, 'default limit 100 covers all 28');
    const q = async (query: string) => {
      const r = await call(s.url, 'GET', `/events?${query}`);
      assert.is(r.status, 200, r.text);
      assert.is(r.json.next, null);
      return r.json.events as any[];
    };
    const expectFilter = async (query: string, pred: (e: any) => boolean, count: number) => {
      const got = await q(query);
      assert.equal(got, all.filter(pred), query);
      assert.is(got.length, count, query);
    };
    await expectFilter('proxy=rst', (e) => e.proxy === 'rst', 11);
    const aReset = all.find((e) => e.action === 'reset');
    assert.equal((await q(`conn=${aReset.conn}`)).map((e) => e.kind), ['conn:closed', 'fault:injected', 'conn:opened']);
    await expectFilter('type=reset_peer', (e) => e.type === 'reset_peer', 4); // 3 faults + toxic:added
    await expectFilter('action=delayed', (e) => e.action === 'delayed', 5);
    await expectFilter('action=reset', (e) => e.action === 'reset' && e.toxic === 'rp', 3);
    await expectFilter('kind=conn:opened', (e) => e.kind === 'conn:opened', 6);
    await expectFilter('toxic=ld', (e) => e.toxic === 'ld', 3);
    await expectFilter('kind=fault:injected&proxy=lim', (e) => e.kind === 'fault:injected' && e.proxy === 'lim' && e.action === 'closed', 2);
    await expectFilter('proxy=nope', () => false, 0);
    const pivot = all[12].ts as number;
    const since = all.filter((e) => e.ts >= pivot);
    await expectFilter(`since=${pivot}`, (e) => e.ts >= pivot, since.length);
    assert.equal(await q(`since=${encodeURIComponent(new Date(pivot).toISOString())}`), since, 'ISO 8601 since');
    await expectFilter(`until=${pivot}`, (e) => e.ts < pivot, all.length - since.length);
    await expectFilter(`since=${pivot}&until=${pivot + 1}&proxy=lat`, (e) => e.ts === pivot && e.proxy === 'lat', all.filter((e) => e.ts === pivot && e.proxy === 'lat').length);

    const paged = await allPages(s.url, '', 4);
    assert.is(paged.pages, 7, 'exactly full last page: next is null');
    assert.equal(paged.events, all, 'pages join up: no gaps, no duplicates');
    const rstPages = await allPages(s.url, 'proxy=rst', 5);
    assert.is(rstPages.pages, 3);
    assert.equal(rstPages.events, all.filter((e) => e.proxy === 'rst'));
    const first = (await call(s.url, 'GET', '/events?limit=4')).json;
    assert.equal(first.events, all.slice(0, 4));

    assert.equal(await ndjson(s.url), all, 'ndjson exports every event');
    assert.equal(await ndjson(s.url, 'proxy=lat'), all.filter((e) => e.proxy === 'lat'));
    assert.equal(await ndjson(s.url, 'kind=conn:closed&limit=2'), all.filter((e) => e.kind === 'conn:closed').slice(0, 2));

    const wrong: string[] = [];
    for (const bad of ['limit=0', 'limit=10001', 'limit=1.5', 'since=yesterday', 'until=2024-05-01T12:00:00', 'proxi=rst', 'cursor=abc',
      'proxy=', 'proxy=a&proxy=b', `since=${pivot}&until=${pivot}`, 'format=ndjson&foo=1', 'format=ndjson&limit=0', 'format=ndjson&limit=10001',
      'format=csv', 'format=', 'format=NDJSON', 'format=json&format=ndjson', 'format=csv&proxy=rst']) {
      const r = await call(s.url, 'GET', `/events?${bad}`).catch((e) => ({ status: 0, text: `${e.message}: ${e.cause?.message}`, json: {} as any }));
      if (r.status !== 400 || r.json?.code !== 'ERR_BAD_QUERY' || r.json.status !== 400 || !/^bad query: /.test(r.json.error)) wrong.push(`${bad} -> ${r.status} ${r.text}`);
    }
    const csv = await call(s.url, 'GET', '/events?format=csv');
    assert.equal(csv.json, { error: "bad query: format must be json or ndjson, got 'csv'", status: 400, code: 'ERR_BAD_QUERY' }, 'names the field and its values');
    assert.equal((await call(s.url, 'GET', '/events?format=json&limit=1000')).json, page, 'format=json is the default page');
    assert.equal((await call(s.url, 'GET', '/events?limit=3')).json.events, all.slice(0, 3), 'still serving after bad queries');
    assert.ok((await roundTrip(lat, pattern(10))) !== null, 'and still proxying');
    assert.equal(wrong, [], 'every bad query is a 400 ERR_BAD_QUERY');
  } finally {
    await s.close();
    await echo.close();
    await t.remove();
  }
});

test('without persistence GET /events is 404 ERR_NO_EVENT_LOG; retention keeps the newest retainEvents', async () => {
  const t = await tempDir();
  const echo = await echoServer();
  const off = await startServer({ db: false });
  const s = await startServer({ db: t.file, retainEvents: 100 });
  try {
    for (const path of ['/events', '/events?format=ndjson', '/events?proxy=x']) {
      const r = await call(off.url, 'GET', path);
      assert.is(r.status, 404, path);
      assert.is(r.json.code, 'ERR_NO_EVENT_LOG');
    }
    assert.is((await call(off.url, 'GET', '/metrics')).status, 200);

    let emitted = 0;
    for (const kind of KINDS) s.events.on(kind, () => { emitted++; });
    const port = await s.proxy('p', echo.address);
    for (let i = 0; i < 80; i += 10) {
      await Promise.all(Array.from({ length: 10 }, () => roundTrip(port, pattern(50))));
    }
    await waitFor(() => emitted === 161, 3000, `161 events (${emitted})`); // created + 80 opened + 80 closed
    await waitFor(async () => (await call(s.url, 'GET', '/events?limit=1')).json.events[0]?.seq === 161, 3000, 'the last batch');
    const { events } = await allPages(s.url, '', 30);
    assert.is(events.length, 100);
    assert.equal(events.map((e) => e.seq), Array.from({ length: 100 }, (_, i) => 161 - i), 'the newest 100');
    assert.is(events.at(-1).seq, 62);
    assert.is((await call(s.url, 'GET', '/events?kind=proxy:created')).json.events.length, 0, 'the oldest were pruned');
  } finally {
    await off.close();
    await s.close();
    await echo.close();
    await t.remove();
  }
});

test('GET /connections: live TCP connections and UDP sessions with client, age, bytes and active toxics', async () => {
  const echo = await echoServer();
  const uecho = await udpEcho();
  const client = await udpClient();
  const s = await startServer();
  try {
    const web = await s.proxy('web', echo.address);
    await s.toxic('web', { name: 'never', type: 'latency', stream: 'downstream', toxicity: 0, attributes: { latency: 1 } });
    await s.toxic('web', { name: 'always', type: 'noop', stream: 'upstream', toxicity: 1 });
    await s.toxic('web', { name: 'down', type: 'noop', stream: 'downstream' });
    const { port: dns } = await udpProxy(s, 'dns', uecho.address);
    await s.toxic('dns', { name: 'u_on', type: 'latency', stream: 'upstream', attributes: { latency: 1 } });
    await s.toxic('dns', { name: 'u_off', type: 'noop', stream: 'downstream', toxicity: 0 });

    const t0 = performance.now();
    const a = await connect(web);
    const b = await connect(web);
    // The proxy dates a connection from when it handles the accept. Under load that can come well
    // after the client's connect resolves, but always before the client's bytes echo back.
    a.write(pattern(1000)); await readBytes(a, 1000);
    const echoedA = performance.now();
    b.write(pattern(3000)); await readBytes(b, 3000);
    const echoedB = performance.now();
    for (let i = 0; i < 3; i++) { client.send(pattern(100, i), dns); await client.next(); }
    await sleep(200);
    const q0 = performance.now();
    const res = await s.api('GET', '/connections');
    const q1 = performance.now();
    assert.is(res.status, 200);
    assert.equal(res.json.proxies.map((p: any) => [p.proxy, p.protocol, p.connections.length]), [['dns', 'udp', 1], ['web', 'tcp', 2]]);
    const conns = res.json.proxies[1].connections as any[];
    for (const [socket, sent, echoed] of [[a, 1000, echoedA], [b, 3000, echoedB]] as const) {
      const c = conns.find((x) => x.client === `127.0.0.1:${socket.localPort}`);
      assert.ok(c, `connection from ${socket.localPort} listed: ${JSON.stringify(conns)}`);
      assert.match(c.conn, /\S/);
      assert.is(c.protocol, 'tcp');
      assert.is(c.bytes_up, sent);
      assert.is(c.bytes_down, sent);
      assert.equal(c.toxics, { upstream: ['always'], downstream: ['down'] }, 'toxicity 0 is not active');
      assert.ok(c.age_ms >= q0 - echoed - 5 && c.age_ms <= q1 - t0 + 5, `age ${c.age_ms} ms, want ${(q0 - echoed).toFixed(0)} to ${(q1 - t0).toFixed(0)}`);
      assert.ok(Math.abs(Date.parse(c.opened_at) - (Date.now() - c.age_ms)) < 1000, c.opened_at);
    }
    const session = res.json.proxies[0].connections[0];
    assert.is(session.client, `127.0.0.1:${client.port}`);
    assert.is(session.protocol, 'udp');
    assert.equal([session.bytes_up, session.bytes_down], [300, 300]);
    assert.equal(session.toxics, { upstream: ['u_on'], downstream: [] });

    await s.toxic('web', { name: 'late', type: 'noop', stream: 'upstream' });
    a.destroy();
    await waitFor(async () => (await s.api('GET', '/connections')).json.proxies[1].connections.length === 1, 2000, 'a to go');
    const left = (await s.api('GET', '/connections')).json.proxies[1].connections[0];
    assert.is(left.client, `127.0.0.1:${b.localPort}`);
    assert.equal(left.toxics.upstream, ['always', 'late'], 'a toxic added to a live connection is listed');
    b.destroy();
  } finally {
    await s.close();
    await client.close();
    await uecho.close();
    await echo.close();
  }
});

test('GET /metrics: bytes per proxy and direction, connections, faults, store counters, parsed back', async () => {
  const echo = await echoServer();
  const uecho = await udpEcho();
  const client = await udpClient();
  const s = await startServer({ db: ':memory:' });
  try {
    let delays = 0;
    s.events.on('fault:injected', (e) => { if (e.proxy === 'web') delays++; });
    const web = await s.proxy('web', echo.address);
    const rst = await s.proxy('rst', echo.address);
    const { port: dns } = await udpProxy(s, 'dns', uecho.address);
    await s.toxic('web', { name: 'lat', type: 'latency', stream: 'upstream', attributes: { latency: 2 } });
    await s.toxic('rst', { name: 'rp', type: 'reset_peer', stream: 'upstream' });
    const a = await connect(web);
    a.write(pattern(5000)); await readBytes(a, 5000);
    a.end(); await readAll(a);
    const b = await connect(web);
    b.write(pattern(700)); await readBytes(b, 700);
    for (let i = 0; i < 2; i++) { const c = await connect(rst); c.write('x'); assert.is(await closeKind(c), 'reset'); }
    for (let i = 0; i < 3; i++) { client.send(pattern(100, i), dns); await client.next(); }
    const scrape = async () => {
      const res = await fetch(`${s.url}/metrics`);
      assert.is(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      return parseMetrics(await res.text());
    };
    const m = (x: Awaited<ReturnType<typeof scrape>>, name: string, labels: Record<string, string> = {}) => metric(x.samples, `faultline_${name}`, labels);
    await waitFor(async () => m(await scrape(), 'connections_closed_total', { proxy: 'rst' }) === 2 && m(await scrape(), 'connections_closed_total', { proxy: 'web' }) === 1, 2000, 'closes counted');
    const x = await scrape();
    assert.is(x.types.get('faultline_bytes_total'), 'counter');
    assert.is(x.types.get('faultline_connections_active'), 'gauge');
    assert.is(x.types.get('faultline_faults_total'), 'counter');
    assert.equal([m(x, 'bytes_total', { proxy: 'web', direction: 'upstream' }), m(x, 'bytes_total', { proxy: 'web', direction: 'downstream' })], [5700, 5700]);
    assert.equal([m(x, 'bytes_total', { proxy: 'dns', direction: 'upstream' }), m(x, 'bytes_total', { proxy: 'dns', direction: 'downstream' })], [300, 300]);
    const conns = (proxy: string, protocol: string) => ['opened_total', 'closed_total', 'active'].map((k) => m(x, `connections_${k}`, { proxy, protocol }));
    assert.equal(conns('web', 'tcp'), [2, 1, 1]);
    assert.equal(conns('rst', 'tcp'), [2, 2, 0]);
    assert.equal(conns('dns', 'udp'), [1, 0, 1]);
    assert.ok(delays >= 2);
    assert.is(m(x, 'faults_total', { proxy: 'web', protocol: 'tcp', type: 'latency', stream: 'upstream', action: 'delayed' }), delays);
    assert.is(m(x, 'faults_total', { proxy: 'rst', type: 'reset_peer', stream: 'upstream', action: 'reset' }), 2);
    assert.is(m(x, 'faults_total'), delays + 2, 'no other faults');
    assert.equal([m(x, 'store_write_failures_total'), m(x, 'store_events_dropped_total'), m(x, 'fault_events_folded_total')], [0, 0, 0]);
    b.destroy();
    await waitFor(async () => m(await scrape(), 'connections_active', { proxy: 'web' }) === 0, 2000, 'b closed');
    const y = await scrape();
    assert.equal([m(y, 'bytes_total', { proxy: 'web', direction: 'upstream' }), m(y, 'bytes_total', { proxy: 'web', direction: 'downstream' })], [5700, 5700], 'no double count once closed');
  } finally {
    await s.close();
    await client.close();
    await uecho.close();
    await echo.close();
  }
});

test.run();
