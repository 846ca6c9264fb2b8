// The shortest path a test author takes: a server in the process, a proxy in front of a
// service, a fault as one typed call, and the fault seen on the event stream without sleeping.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startFaultline } from '../src/index.js';
import { closeKind, connect, echoServer, pattern, readAll } from './_helpers/net.js';

test('bytes round-trip through a proxy with no toxics, with half-close', async () => {
  const echo = await echoServer();
  const faultline = await startFaultline();
  try {
    const proxy = await faultline.proxy({ name: 'echo', upstream: echo.address });
    const client = await connect(proxy.port);
    const data = pattern(1_000_000);
    const got = readAll(client);
    client.end(data);
    assert.ok((await got).equals(data));
  } finally {
    await faultline.close();
    await echo.close();
  }
});

test('a reset as one call, seen on the stream, gone once withToxic ends', async () => {
  const echo = await echoServer();
  const faultline = await startFaultline();
  try {
    const proxy = await faultline.proxy({ name: 'echo', upstream: echo.address });
    await proxy.withToxic({ type: 'reset_peer', stream: 'upstream' }, async () => {
      const client = await connect(proxy.port);
      client.write('hello');
      assert.is(await closeKind(client), 'reset');
      const event = await faultline.events.waitFor({ proxy: 'echo', action: 'reset' });
      assert.is(event.type, 'reset_peer');
    });
    assert.equal(await proxy.toxics(), []);
    const client = await connect(proxy.port);
    const got = readAll(client);
    client.end('after');
    assert.is((await got).toString(), 'after');
  } finally {
    await faultline.close();
    await echo.close();
  }
});

test.run();
