// The test-facing client against a server it starts in this process: proxies and where to
// connect, one typed method per toxic, update/remove, withToxic, enable/disable, reset, and
// the API's errors as FaultlineApiError. The file is laid out as a user's would be: one server
// per file, reset() before each test.

import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FaultlineApiError, startFaultline, type FaultlineClient, type ProxyHandle } from '../src/index.js';
import { assertPasses, tryConnect } from './_helpers/api.js';
import { closeKind, connect, echoServer, readBytes, type Upstream } from './_helpers/net.js';

let faultline: FaultlineClient;
let echo: Upstream;
let proxy: ProxyHandle;

test.before(async () => {
  faultline = await startFaultline({ seed: 7 });
  echo = await echoServer();
  proxy = await faultline.proxy({ name: 'echo', upstream: echo.address });
});
test.before.each(() => faultline.reset());
test.after(async () => {
  await faultline.close();
  await echo.close();
});

/** One 16-byte round trip on an open socket, in ms. */
async function roundTrip(socket: net.Socket): Promise<number> {
  const got = readBytes(socket, 16);
  const start = performance.now();
  socket.write(Buffer.alloc(16, 7));
  await got;
  return performance.now() - start;
}

/** The rejection of `promise`, which must be a FaultlineApiError. */
async function apiError(promise: Promise<unknown>): Promise<FaultlineApiError> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, FaultlineApiError);
    return err as FaultlineApiError;
  }
  throw new Error('expected the call to fail');
}

test('proxy(): an ephemeral loopback port, where to connect, and data through it', async () => {
  assert.is(proxy.name, 'echo');
  assert.is(proxy.host, '127.0.0.1');
  assert.ok(proxy.port > 0, `port ${proxy.port}`);
  assert.is(proxy.address, `127.0.0.1:${proxy.port}`);
  assert.is(proxy.listen, proxy.address);
  assert.is(proxy.upstream, echo.address);
  assert.is(proxy.enabled, true);
  assert.is(proxy.protocol, 'tcp');
  await assertPasses(proxy.port);
  assert.equal((await faultline.proxies()).map((p) => p.name), ['echo']);
  assert.is((await faultline.getProxy('echo')).port, proxy.port);
});

test('proxy(): a generated name when none is given, and a proxy of the same name is replaced', async () => {
  const anonymous = await faultline.proxy({ upstream: echo.address });
  assert.match(anonymous.name, /^proxy-[\w-]{10}$/);
  await anonymous.latency({ latency: 1 });
  const again = await faultline.proxy({ name: anonymous.name, upstream: echo.address });
  assert.is.not(again.port, anonymous.port, 'the replacement listens anew');
  assert.equal(await again.toxics(), [], 'the replaced proxy took its toxics with it');
  assert.is(await tryConnect(anonymous.port), 'ECONNREFUSED');
  await assertPasses(again.port);
  await again.remove();
  await again.remove(); // already gone: still resolves
  assert.equal((await faultline.proxies()).map((p) => p.name), ['echo']);
});

test('a typed toxic method adds the toxic; its handle updates and removes it on live connections', async () => {
  const socket = await connect(proxy.port);
  try {
    const latency = await proxy.latency({ latency: 400, jitter: 0 });
    assert.equal(
      [latency.name, latency.type, latency.stream, latency.toxicity, latency.proxy],
      ['latency_downstream', 'latency', 'downstream', 1, 'echo'],
    );
    assert.equal(latency.attributes, { latency: 400, jitter: 0 });
    const slow = await roundTrip(socket);
    assert.ok(slow >= 390, `round trip ${slow.toFixed(0)} ms under a 400 ms latency`);

    await latency.update({ latency: 900, toxicity: 1 });
    assert.is(latency.attributes.latency, 900);
    const slower = await roundTrip(socket);
    assert.ok(slower >= 890, `round trip ${slower.toFixed(0)} ms after the update to 900 ms`);

    assert.equal((await proxy.toxics()).map((t) => [t.name, t.attributes]), [['latency_downstream', { latency: 900, jitter: 0 }]]);
    await latency.remove();
    await latency.remove(); // idempotent, as cleanup must be
    assert.equal(await proxy.toxics(), []);
  } finally {
    socket.destroy();
  }
});

test('defaults fill what is left out, and common fields sit beside the attributes', async () => {
  const slicer = await proxy.slicer({ stream: 'upstream', toxicity: 0.5, name: 'slices', ttl: 60_000 });
  assert.equal(slicer.attributes, { average_size: 1024, size_variation: 0, delay: 0 });
  assert.equal([slicer.name, slicer.stream, slicer.toxicity], ['slices', 'upstream', 0.5]);
  assert.ok(slicer.expiresAt !== undefined && Date.parse(slicer.expiresAt) > Date.now(), `expires_at ${slicer.expiresAt}`);
  await slicer.update({ ttl: null });
  assert.is(slicer.expiresAt, undefined, 'a null ttl clears it');
  const half = await proxy.halfOpen();
  assert.equal([half.type, half.attributes], ['half_open', {}]);
  const loss = await proxy.packetLoss({ mode: 'retransmit', loss_rate: 0.25, stream: 'upstream' });
  assert.equal([loss.attributes.mode, loss.attributes.loss_rate, loss.attributes.rto], ['retransmit', 0.25, 200]);
  const spec = await proxy.addToxic({ type: 'limit_data', bytes: 10 });
  assert.equal([spec.type, spec.attributes], ['limit_data', { bytes: 10 }]);
  assert.is((await proxy.toxic('slices')).attributes.average_size, 1024);
});

test('a misspelt attribute is refused before anything is sent', async () => {
  // @ts-expect-error -- not an attribute of latency
  const typo = proxy.latency({ latncy: 100 });
  await typo.then(() => assert.unreachable('accepted a misspelt attribute'), (err: Error) => {
    assert.instance(err, TypeError);
    assert.match(err.message, /latency toxic: cannot add "latncy": its attributes are latency, jitter/);
  });
  // @ts-expect-error -- half_open has no attributes
  await proxy.halfOpen({ timeout: 1 }).then(() => assert.unreachable('accepted'), (err: Error) => assert.match(err.message, /it has no attributes/));
  assert.equal(await proxy.toxics(), []);
});

test('withToxic: the fault holds while fn runs and is removed however fn ends', async () => {
  const result = await proxy.withToxic({ type: 'timeout', timeout: 0 }, async (toxic) => {
    assert.is(toxic.type, 'timeout');
    assert.equal((await proxy.toxics()).map((t) => t.name), ['timeout_downstream']);
    return 42;
  });
  assert.is(result, 42);
  assert.equal(await proxy.toxics(), []);

  const failure = new Error('the test body failed');
  try {
    await proxy.withToxic({ type: 'reset_peer', stream: 'upstream' }, () => { throw failure; });
    assert.unreachable('withToxic resolved');
  } catch (err) {
    assert.is(err, failure, "fn's own error comes out");
  }
  assert.equal(await proxy.toxics(), []);
});

test('disable() refuses and closes connections, enable() brings the proxy back on its port', async () => {
  const socket = await connect(proxy.port);
  const ended = closeKind(socket);
  await proxy.disable();
  assert.is(proxy.enabled, false);
  assert.ok(['end', 'reset'].includes(await ended), 'the live connection is closed');
  assert.is(await tryConnect(proxy.port), 'ECONNREFUSED');
  const port = proxy.port;
  await proxy.enable();
  assert.is(proxy.port, port);
  await assertPasses(proxy.port);
});

test('reset(): every toxic goes and every proxy comes back', async () => {
  await proxy.bandwidth({ rate: 0 });
  await proxy.disable();
  await faultline.reset();
  await proxy.refresh();
  assert.equal([proxy.enabled, proxy.toJSON().toxics], [true, []]);
  await assertPasses(proxy.port);
});

test('errors are FaultlineApiError with the status, code and message of the error table', async () => {
  const missing = await apiError(faultline.getProxy('nope'));
  assert.equal([missing.status, missing.code, missing.message, missing.request], [404, 'ERR_PROXY_NOT_FOUND', 'proxy not found', 'GET /proxies/nope']);

  const negative = await apiError(proxy.latency({ latency: -1 }));
  assert.equal([negative.status, negative.code], [400, 'ERR_INVALID_ATTRIBUTE']);
  assert.is(negative.message, 'bad request body: attribute latency must be at least 0, got -1');

  await proxy.latency({ latency: 1 });
  const twice = await apiError(proxy.latency({ latency: 2 }));
  assert.equal([twice.status, twice.code, twice.message], [409, 'ERR_TOXIC_EXISTS', 'toxic already exists']);

  const udp = await faultline.proxy({ name: 'udp', upstream: '127.0.0.1:9', protocol: 'udp' });
  assert.is(udp.protocol, 'udp');
  const tcpOnly = await apiError(udp.slowClose({ delay: 1 }));
  assert.equal([tcpOnly.status, tcpOnly.code], [400, 'ERR_UNSUPPORTED_PROTOCOL']);
  await udp.remove();

  const noToxic = await apiError(proxy.toxic('absent'));
  assert.equal([noToxic.status, noToxic.code, noToxic.message], [404, 'ERR_TOXIC_NOT_FOUND', 'toxic not found']);
  const bad = await apiError(faultline.proxy({ name: 'bad', upstream: 'no-port' }));
  assert.equal([bad.status, bad.code], [400, 'ERR_BAD_BODY']);
  assert.match(bad.message, /^bad request body: upstream /);
});

test('the in-process server is at hand, and its URL is the client\'s', () => {
  assert.ok(faultline.server !== null);
  assert.is(faultline.url, faultline.server!.url);
  assert.match(faultline.url, /^http:\/\/127\.0\.0\.1:\d+$/);
});

test.run();
