// One flooded proxy must not lock out the control API: `faultline serve` under a small open-file
// limit, far more clients through one proxy than descriptors allow. Proxied accepts are shed
// (reported as refused) before the reserve the API needs, so /version, /connections and a
// DELETE of the flooded proxy keep answering while the flood lasts.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { openFds } from './_helpers/listeners.js';
import { echoServer, portOf, sleep } from './_helpers/net.js';
import { call, spawnServe, tempDir } from './_helpers/persistence.js';

const LIMIT = 256;
const CLIENTS = 400;

/** Opens a client; `closed` counts those the server turned away (reset) or that failed. */
function client(port: number, all: net.Socket[], closed: { n: number }): void {
  const socket = net.connect(port, '127.0.0.1');
  all.push(socket);
  socket.on('error', () => {});
  socket.once('close', () => { closed.n++; });
}

test(`ulimit -n ${LIMIT}, ${CLIENTS} clients through one proxy: the API keeps answering and can delete the proxy`, async () => {
  const t = await tempDir();
  // The upstream holds every connection open and echoes.
  const echo = await echoServer();
  const sockets: net.Socket[] = [];
  const child = await spawnServe(['--db', t.file], t.dir, { fdLimit: LIMIT });
  try {
    const made = await call(child.url, 'POST', '/proxies', { name: 'flood', listen: '127.0.0.1:0', upstream: echo.address });
    assert.is(made.status, 201, made.text);
    const port = portOf(made.json.listen);
    const closed = { n: 0 };
    for (let i = 0; i < CLIENTS; i++) client(port, sockets, closed);
    // Every client ends up proxied (live on the server) or turned away (closed here); on a busy
    // machine that takes a while, so wait for the sum rather than for a fixed time.
    const liveNow = async () => (await call(child.url, 'GET', '/connections')).json?.proxies?.[0]?.connections?.length ?? 0;
    const deadline = Date.now() + 30_000;
    while ((await liveNow()) + closed.n < CLIENTS && Date.now() < deadline) await sleep(100);
    const open = CLIENTS - closed.n;
    const fds = openFds(child.proc.pid!);
    const version = await call(child.url, 'GET', '/version');
    const connections = await call(child.url, 'GET', '/connections');
    const live = connections.json?.proxies?.[0]?.connections?.length;
    const other = await call(child.url, 'POST', '/proxies', { name: 'other', listen: '127.0.0.1:0', upstream: echo.address });
    const events = await call(child.url, 'GET', '/events?kind=fault:injected&limit=1');
    console.log(`  ${CLIENTS} clients under ulimit -n ${LIMIT}: ${open} proxied, ${CLIENTS - open} refused; server fds ${fds}; ` +
      `/version ${version.status}, /connections ${connections.status} (${live} live), create ${other.status}, /events ${events.status}`);
    assert.is(version.status, 200);
    assert.is(connections.status, 200);
    assert.is(other.status, 201, other.text);
    assert.is(events.status, 200);
    assert.ok(open > 20 && open < CLIENTS, `${open} proxied`);
    assert.is(live, open, 'every client not turned away is proxied');
    assert.ok(fds < LIMIT, `${fds} fds`);
    assert.is(events.json.events[0]?.action, 'refused');
    assert.is(events.json.events[0]?.type, 'file_descriptors');
    const deleted = await call(child.url, 'DELETE', '/proxies/flood');
    assert.is(deleted.status, 204, deleted.text);
    assert.is((await call(child.url, 'GET', '/proxies')).json.flood, undefined);
  } finally {
    for (const s of sockets) s.destroy();
    await child.kill('SIGKILL');
    await echo.close();
    await t.remove();
  }
});

test.run();
