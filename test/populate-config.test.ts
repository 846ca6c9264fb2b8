// A config applied at start against stored state on a fixed port, populate's idle_timeout for a
// kept UDP proxy, updates that fail without changing anything, and the events of restored state
// told apart from what a client did.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import dgram from 'node:dgram';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { tryConnect } from './_helpers/api.js';
import { echoServer, startServer, type TestServer } from './_helpers/net.js';
import { call, tempDir, waitFor } from './_helpers/persistence.js';
import { udpEcho } from './_helpers/udp.js';

/** A port the kernel just handed out and nothing holds now, for a proxy that must keep it. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve); });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('--config at start replaces a stored proxy on the same fixed address: enabled, no stored toxics, and stored so', async () => {
  const t = await tempDir();
  const echo = await echoServer();
  const servers: TestServer[] = [];
  try {
    const port = await freePort();
    const listen = `127.0.0.1:${port}`;
    const a = await startServer({ db: t.file });
    servers.push(a);
    assert.is((await a.api('POST', '/proxies', { name: 'fixed', listen, upstream: echo.address })).status, 201);
    assert.is((await a.api('POST', '/proxies/fixed', { enabled: false })).status, 200);
    assert.is((await a.toxic('fixed', { name: 'slow', type: 'latency', attributes: { latency: 300 } })).status, 200);
    await a.close();

    const config = path.join(t.dir, 'config.json');
    await fs.writeFile(config, JSON.stringify([{ name: 'fixed', listen, upstream: echo.address, enabled: true }]));
    const b = await startServer({ db: t.file, config });
    servers.push(b);
    const shown = (await b.api('GET', '/proxies/fixed')).json;
    assert.is(shown.listen, listen);
    assert.is(shown.upstream, echo.address);
    assert.is(shown.enabled, true, 'the config says enabled');
    assert.equal(shown.toxics, [], 'the stored toxic is gone');
    assert.is(await tryConnect(port), 'connected');
    await b.close();

    const c = await startServer({ db: t.file });
    servers.push(c);
    const again = (await c.api('GET', '/proxies')).json;
    assert.equal(Object.keys(again), ['fixed']);
    assert.is(again.fixed.enabled, true, 'the replacement was stored');
    assert.equal(again.fixed.toxics, []);
    assert.is(await tryConnect(port), 'connected');
  } finally {
    for (const s of servers) await s.close();
    await echo.close();
    await t.remove();
  }
});

test('POST /populate again with a new idle_timeout: the kept UDP proxy takes it, keeps its toxics, and stores it', async () => {
  const t = await tempDir();
  const upstream = await udpEcho();
  const servers: TestServer[] = [];
  try {
    const s = await startServer({ db: t.file });
    servers.push(s);
    const entry = { name: 'u', protocol: 'udp', listen: '127.0.0.1:0', upstream: upstream.address, idle_timeout: 5000 };
    const first = await s.api('POST', '/populate', [entry]);
    assert.is(first.status, 201, first.text);
    assert.is(first.json.proxies[0].idle_timeout, 5000);
    const listen = first.json.proxies[0].listen as string;
    assert.is((await s.toxic('u', { name: 'lat', type: 'latency', attributes: { latency: 10 } })).status, 200);
    const updates: number[] = [];
    s.events.on('state:changed', (c) => { if (c.kind === 'proxy:updated') updates.push(Number(c.body.idle_timeout)); });

    const second = await s.api('POST', '/populate', [{ ...entry, listen, idle_timeout: 9000 }]);
    assert.is(second.status, 201, second.text);
    assert.is(second.json.proxies[0].idle_timeout, 9000);
    assert.is(second.json.proxies[0].listen, listen, 'the same proxy, kept');
    assert.equal(second.json.proxies[0].toxics.map((x: any) => x.name), ['lat'], 'kept with its toxics');
    assert.is((await s.api('GET', '/proxies/u')).json.idle_timeout, 9000);
    // An unchanged idle_timeout, or none, is no change.
    assert.is((await s.api('POST', '/populate', [{ ...entry, listen, idle_timeout: 9000 }])).status, 201);
    const { idle_timeout: _omit, ...without } = entry;
    const third = await s.api('POST', '/populate', [{ ...without, listen }]);
    assert.is(third.json.proxies[0].idle_timeout, 9000);
    assert.equal(updates, [9000], 'one proxy:updated, for the one change');
    await s.close();

    const r = await startServer({ db: t.file });
    servers.push(r);
    assert.is((await r.api('GET', '/proxies/u')).json.idle_timeout, 9000, 'stored');
  } finally {
    for (const s of servers) await s.close();
    await upstream.close();
    await t.remove();
  }
});

test('an update refused for one field changes nothing, idle_timeout included', async () => {
  const upstream = await udpEcho();
  const s = await startServer();
  try {
    const made = await s.api('POST', '/proxies', { name: 'u', protocol: 'udp', listen: '127.0.0.1:0', upstream: upstream.address, idle_timeout: 5000 });
    assert.is(made.status, 201, made.text);
    const before = (await s.api('GET', '/proxies/u')).json;
    let changes = 0;
    s.events.on('state:changed', () => { changes++; });

    // An address that does not parse is bad input; one that parses but is taken is Toxiproxy's 500.
    const badListen = await s.api('POST', '/proxies/u', { idle_timeout: 777, listen: 'nonsense' });
    assert.is(badListen.status, 400, badListen.text);
    assert.match(badListen.json.error, /listen address nonsense: missing port/);
    const taken = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => taken.bind(0, '127.0.0.1', () => resolve()));
    try {
      const inUse = await s.api('POST', '/proxies/u', { idle_timeout: 777, listen: `127.0.0.1:${taken.address().port}` });
      assert.is(inUse.status, 500, inUse.text);
      assert.match(inUse.json.error, /EADDRINUSE/);
    } finally {
      taken.close();
    }
    const badUpstream = await s.api('POST', '/proxies/u', { idle_timeout: 777, upstream: 'nonsense' });
    assert.is(badUpstream.status, 400, badUpstream.text);
    const badProtocol = await s.api('PATCH', '/proxies/u', { idle_timeout: 777, protocol: 'tcp' });
    assert.is(badProtocol.status, 400, badProtocol.text);
    assert.equal((await s.api('GET', '/proxies/u')).json, before, 'nothing changed');
    assert.is(changes, 0, 'and nothing was reported');

    const good = await s.api('POST', '/proxies/u', { idle_timeout: 777 });
    assert.is(good.status, 200, good.text);
    assert.is(good.json.idle_timeout, 777);
    assert.is(changes, 1);
  } finally {
    await s.close();
    await upstream.close();
  }
});

test('restored proxies and toxics are logged with detail.restored: true; API actions are not', async () => {
  const t = await tempDir();
  const echo = await echoServer();
  const servers: TestServer[] = [];
  try {
    const a = await startServer({ db: t.file });
    servers.push(a);
    await a.proxy('r', echo.address);
    assert.is((await a.toxic('r', { name: 'lat', type: 'latency', attributes: { latency: 5 } })).status, 200);
    await a.close();

    const b = await startServer({ db: t.file });
    servers.push(b);
    const query = async (q: string) => (await call(b.url, 'GET', `/events?${q}`)).json.events as any[];
    await waitFor(async () => (await query('kind=toxic:added&type=latency')).length === 2, 3000, 'the restored toxic logged');
    // Newest first: the restart's event, then the API's.
    const toxics = await query('kind=toxic:added&type=latency');
    assert.equal(toxics.map((e) => e.detail.restored), [true, undefined]);
    assert.equal(toxics.map((e) => e.toxic), ['lat', 'lat']);
    assert.is(toxics[0].detail.attributes.latency, 5);
    const created = await query('kind=proxy:created&proxy=r');
    assert.equal(created.map((e) => e.detail.restored), [true, undefined]);
    assert.is(created[0].detail.upstream, echo.address);

    // The flag is the log's only: the API's JSON has no such field.
    const shown = (await b.api('GET', '/proxies/r')).json;
    assert.is('restored' in shown, false);
    assert.is('restored' in shown.toxics[0], false);
    // And what a client does after the restart is not marked restored.
    assert.is((await b.toxic('r', { name: 'later', type: 'latency' })).status, 200);
    await waitFor(async () => (await query('kind=toxic:added&toxic=later')).length === 1, 3000, 'the new toxic logged');
    assert.is((await query('kind=toxic:added&toxic=later'))[0].detail.restored, undefined);
  } finally {
    for (const s of servers) await s.close();
    await echo.close();
    await t.remove();
  }
});

test.run();
