import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, echoServer, pattern, readAll, startServer } from './_helpers/net.js';

test('bytes round-trip through a proxy with no toxics, with half-close', async () => {
  const echo = await echoServer();
  const server = await startServer();
  try {
    const port = await server.proxy('echo', echo.address);
    const client = await connect(port);
    const data = pattern(1_000_000);
    const got = readAll(client);
    client.end(data);
    assert.ok((await got).equals(data));
  } finally {
    await server.close();
    await echo.close();
  }
});

test.run();
