// The published toxiproxy-node-client (4.x) driving every one of its methods against faultline,
// unchanged: Toxiproxy (createProxy, populate, get, getAll, getVersion, reset, getApi), Proxy
// (update, remove, addToxic, getToxic, toJson, getHost, getPath, getToxiproxy), Toxic (update,
// remove, toJson, getPath) and the HttpClient underneath. Data flows through a proxy the
// client made, and a latency toxic it added measurably delays a ping-pong.

import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pkg from 'toxiproxy-node-client';
import type { Latency, Proxy as ClientProxy } from 'toxiproxy-node-client';
import { connect, percentile, portOf, readBytes } from './_helpers/net.js';
import { assertPasses, tryConnect, withServer } from './_helpers/api.js';

const { Toxiproxy, Proxy, Toxic, ToxiproxyError } = pkg;

/** Median round trip of `n` small ping-pongs on one connection, in ms. */
async function medianRtt(socket: net.Socket, n = 5): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const got = readBytes(socket, 16);
    const start = performance.now();
    socket.write(Buffer.alloc(16, i));
    await got;
    times.push(performance.now() - start);
  }
  return percentile(times, 50);
}

const create = (client: InstanceType<typeof Toxiproxy>, name: string, upstream: string) =>
  client.createProxy({ name, listen: '127.0.0.1:0', upstream });

/** The rejection of a client call, which must be a ToxiproxyError. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, ToxiproxyError);
    return err as Error;
  }
  throw new Error('expected the call to fail');
}

test('getVersion, getApi and the HttpClient methods', () => withServer(async (server, echo) => {
  const client = new Toxiproxy(server.url);
  const version = await client.getVersion();
  assert.ok(version.startsWith('{"version": "2.12.0"'), version);
  const api = client.getApi();
  assert.is(api, client.api);
  assert.equal((await api.get(`${server.url}/proxies`)).data, {});
  const made = await api.post<{ name: string; enabled: boolean }>(`${server.url}/proxies`, { name: 'h', listen: '127.0.0.1:0', upstream: echo.address });
  assert.equal([made.data.name, made.data.enabled], ['h', true]);
  assert.is(await api.getText(`${server.url}/version`), version);
  assert.is(await api.delete(`${server.url}/proxies/h`), undefined);
  const err = await rejection(api.get(`${server.url}/proxies/h`));
  assert.is(err.message, 'Request failed with status code 404');
}));

test('createProxy, get, getAll, toJson, getHost, getPath, getToxiproxy; data flows', () => withServer(async (server, echo) => {
  const client = new Toxiproxy(server.url);
  const proxy = await create(client, 'svc', echo.address);
  assert.instance(proxy, Proxy);
  assert.match(proxy.listen, /^127\.0\.0\.1:\d+$/);
  assert.is.not(portOf(proxy.listen), 0);
  assert.equal(proxy.toJson(), { enabled: true, listen: proxy.listen, name: 'svc', upstream: echo.address });
  assert.is(proxy.getHost(), server.url);
  assert.is(proxy.getPath(), `${server.url}/proxies/svc`);
  assert.is(proxy.getToxiproxy(), client);
  await assertPasses(portOf(proxy.listen), 256 * 1024);

  const got = await client.get('svc');
  assert.instance(got, Proxy);
  assert.equal(got.toJson(), proxy.toJson());
  await create(client, 'another', echo.address);
  const all = await client.getAll();
  assert.equal(Object.keys(all), ['another', 'svc']);
  assert.instance(all.svc, Proxy);
  assert.equal(all.svc!.toJson(), proxy.toJson());

  assert.is((await rejection(create(client, 'svc', echo.address))).message, 'Request failed with status code 409');
  assert.is((await rejection(client.get('missing'))).message, 'Request failed with status code 404');
}));

test('addToxic (latency has an effect), getToxic, Toxic.update, toJson, getPath, remove', () => withServer(async (server, echo) => {
  const client = new Toxiproxy(server.url);
  const proxy = await create(client, 'svc', echo.address);
  const socket = await connect(portOf(proxy.listen));
  try {
    const base = await medianRtt(socket);
    assert.ok(base < 15, `baseline RTT ${base} ms`);

    const toxic = await proxy.addToxic<Latency>({
      name: 'lag', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 60, jitter: 0 },
    });
    assert.instance(toxic, Toxic);
    assert.equal(toxic.toJson(), { attributes: { latency: 60, jitter: 0 }, name: 'lag', stream: 'downstream', toxicity: 1, type: 'latency' });
    assert.is(toxic.getPath(), `${server.url}/proxies/svc/toxics/lag`);
    const slow = await medianRtt(socket);
    assert.ok(slow >= 58 && slow < 85, `RTT with 60 ms latency: ${slow} ms`);

    const fetched = await proxy.getToxic<Latency>('lag');
    assert.instance(fetched, Toxic);
    assert.equal(fetched.toJson(), toxic.toJson());

    const updated = await fetched.update({ ...fetched.toJson(), attributes: { latency: 25, jitter: 0 } });
    assert.instance(updated, Toxic);
    assert.equal(updated.attributes, { latency: 25, jitter: 0 });
    assert.equal((await server.api('GET', '/proxies/svc/toxics/lag')).json.attributes, { latency: 25, jitter: 0 });
    const less = await medianRtt(socket);
    assert.ok(less >= 24 && less < 50, `RTT with 25 ms latency: ${less} ms`);

    assert.is(await updated.remove(), undefined);
    assert.equal((await server.api('GET', '/proxies/svc/toxics')).json, []);
    assert.is((await rejection(proxy.getToxic('lag'))).message, 'Request failed with status code 404');
    const after = await medianRtt(socket);
    assert.ok(after < 15, `RTT after removal: ${after} ms`);
    assert.is((await rejection(proxy.addToxic({ name: 'x', type: 'down', stream: 'downstream', toxicity: 1, attributes: {} }))).message,
      'Request failed with status code 400');
  } finally {
    socket.destroy();
  }
}));

test('Proxy.update disables (refused) and re-enables on the same port; Proxy.remove', () => withServer(async (server, echo) => {
  const client = new Toxiproxy(server.url);
  const proxy = await create(client, 'svc', echo.address);
  const port = portOf(proxy.listen);
  const off = await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
  assert.instance(off, Proxy);
  assert.equal(off.toJson(), { ...proxy.toJson(), enabled: false });
  assert.is(await tryConnect(port), 'ECONNREFUSED');
  const on = await off.update({ enabled: true, listen: off.listen, upstream: off.upstream });
  assert.equal(on.toJson(), proxy.toJson());
  await assertPasses(port);

  assert.is(await on.remove(), undefined);
  assert.is(await tryConnect(port), 'ECONNREFUSED');
  assert.equal(await client.getAll(), {});
  assert.is((await rejection(on.remove())).message, 'Request failed with status code 404');
}));

test('populate creates in order and returns Proxy objects; [] gives {}', () => withServer(async (server, echo) => {
  const client = new Toxiproxy(server.url);
  const proxies = await client.populate([
    { name: 'web', listen: '127.0.0.1:0', upstream: echo.address },
    { name: 'db', listen: '127.0.0.1:0', upstream: echo.address, enabled: false },
  ]);
  assert.equal(Object.keys(proxies), ['web', 'db']);
  const web = proxies.web as ClientProxy;
  assert.instance(web, Proxy);
  assert.is(web.enabled, true);
  assert.equal(proxies.db!.toJson(), { enabled: false, listen: '127.0.0.1:0', name: 'db', upstream: echo.address });
  await assertPasses(portOf(web.listen));
  assert.equal(await client.populate([]), {});
  const err = await rejection(client.populate([{ name: '', listen: '127.0.0.1:0', upstream: echo.address }]));
  assert.is(err.message, 'Request failed with status code 400');
}));

test('reset re-enables proxies and removes toxics', () => withServer(async (server, echo) => {
  const client = new Toxiproxy(server.url);
  const proxy = await create(client, 'svc', echo.address);
  await proxy.addToxic<Latency>({ name: 'lag', type: 'latency', stream: 'upstream', toxicity: 1, attributes: { latency: 500, jitter: 0 } });
  await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
  assert.is((await client.get('svc')).enabled, false);
  assert.is(await client.reset(), undefined);
  const after = await client.get('svc');
  assert.equal(after.toJson(), proxy.toJson());
  assert.equal((await server.api('GET', '/proxies/svc/toxics')).json, []);
  const socket = await connect(portOf(after.listen));
  try {
    assert.ok((await medianRtt(socket, 3)) < 15, 'no latency left after reset');
  } finally {
    socket.destroy();
  }
}));

test.run();
