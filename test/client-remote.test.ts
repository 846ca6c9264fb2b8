// connectFaultline: the same client for a server already running. Which URL it picks, a plain
// error when nothing answers, and a close() that leaves the server as the client found it.

import net from 'node:net';
import { once } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connectFaultline, createServer, FaultlineApiError, type FaultlineServer } from '../src/index.js';
import { faultlineUrl } from '../src/client/client.js';
import { BaseProxyHandle, type ProxyContext } from '../src/client/proxy-handle.js';
import { assertPasses } from './_helpers/api.js';
import { echoServer, type Upstream } from './_helpers/net.js';

let server: FaultlineServer;
let echo: Upstream;

test.before(async () => {
  server = await createServer({ seed: 5 });
  echo = await echoServer();
});
test.after(async () => {
  await server.close();
  await echo.close();
});

test('the URL: the argument, else FAULTLINE_URL, else TOXIPROXY_URL, else 127.0.0.1:8474', () => {
  const env = { FAULTLINE_URL: 'fl:1', TOXIPROXY_URL: 'http://tp:2/' };
  assert.is(faultlineUrl('https://given:3/', env), 'https://given:3');
  assert.is(faultlineUrl(undefined, env), 'http://fl:1');
  assert.is(faultlineUrl('', { ...env, FAULTLINE_URL: '' }), 'http://tp:2');
  assert.is(faultlineUrl(undefined, {}), 'http://127.0.0.1:8474');
});

test('connectFaultline reads FAULTLINE_URL from the environment', async () => {
  const saved = process.env.FAULTLINE_URL;
  process.env.FAULTLINE_URL = server.url.replace('http://', '');
  try {
    const client = await connectFaultline();
    assert.is(client.url, server.url);
    assert.is(client.server, null);
    await client.close();
  } finally {
    if (saved === undefined) delete process.env.FAULTLINE_URL;
    else process.env.FAULTLINE_URL = saved;
  }
});

test('nothing listening: connectFaultline fails at once and says where it looked', async () => {
  const probe = net.createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  try {
    await connectFaultline(`127.0.0.1:${port}`);
    assert.unreachable('connected to nothing');
  } catch (err) {
    assert.not.instance(err, FaultlineApiError);
    assert.is((err as Error).message, `cannot reach http://127.0.0.1:${port}: connect ECONNREFUSED`);
  }
});

test('close() deletes the proxies the client created, and only those', async () => {
  await server.collection.create({ name: 'theirs', listen: '127.0.0.1:0', upstream: echo.address });
  const client = await connectFaultline(server.url);
  const kept = await client.proxy({ name: 'mine', upstream: echo.address });
  const removed = await client.proxy({ name: 'gone', upstream: echo.address });
  await removed.remove();
  await kept.latency({ latency: 1 });
  await assertPasses(kept.port);
  assert.equal((await client.proxies()).map((p) => p.name).sort(), ['mine', 'theirs']);
  await client.close();
  await client.close(); // twice is harmless
  assert.equal(server.collection.list().map((p) => p.name), ['theirs']);
  await server.collection.delete('theirs');
});

test('a proxy on a wildcard address is reached at the API\'s host', async () => {
  await using client = await connectFaultline(server.url.replace('127.0.0.1', 'localhost'));
  // Tests bind loopback only, so the wildcard answer is the server's JSON as it would read.
  const context = (client as unknown as { context: ProxyContext }).context;
  const at = (listen: string) => new BaseProxyHandle(context, { name: 'p', listen, upstream: 'u:1', enabled: true, toxics: [] });
  assert.equal([at('0.0.0.0:4242').host, at('0.0.0.0:4242').port, at('0.0.0.0:4242').address], ['localhost', 4242, 'localhost:4242']);
  assert.equal([at('[::]:4243').host, at('[::]:4243').address], ['localhost', 'localhost:4243']);
  assert.equal([at('[::1]:4244').host, at('[::1]:4244').address], ['::1', '[::1]:4244']);
  assert.equal([at('10.1.2.3:4245').host, at('10.1.2.3:4245').address], ['10.1.2.3', '10.1.2.3:4245']);
  const proxy = await client.proxy({ upstream: echo.address });
  assert.match(proxy.listen, /^127\.0\.0\.1:\d+$/, 'a loopback API URL gets a loopback listener');
});

test.run();
