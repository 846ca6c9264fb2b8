// Bad input to the API: malformed JSON, wrong JSON types, out-of-range numbers and huge bodies.
// Each gets a 4xx {"error", "status"} whose message names the bad field, changes nothing, and
// leaves the server serving; a proxy with a connection opened before all of it still passes data.

import http from 'node:http';
import type net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, echoServer, startServer, type TestServer, type Upstream } from './_helpers/net.js';
import { assertEchoes, assertError, rawRequest } from './_helpers/api.js';

interface Ctx { server: TestServer; echo: Upstream; client: net.Socket; state: string }
const bad = suite<Ctx>('api bad input', {} as Ctx);

/** Everything the API reports, so a rejected request can be shown to have changed nothing. */
const snapshot = async (server: TestServer) => (await server.api('GET', '/proxies')).text;

bad.before(async (ctx) => {
  ctx.echo = await echoServer();
  ctx.server = await startServer();
  const port = await ctx.server.proxy('live', ctx.echo.address);
  const res = await ctx.server.toxic('live', { name: 'lat', type: 'latency', attributes: { latency: 1, jitter: 0 } });
  assert.is(res.status, 200);
  await ctx.server.toxic('live', { name: 'sl', type: 'slicer', stream: 'upstream', attributes: { average_size: 512, size_variation: 100 } });
  ctx.client = await connect(port);
  await assertEchoes(ctx.client, 4096, 1);
  ctx.state = await snapshot(ctx.server);
});

bad.after(async (ctx) => {
  ctx.client?.destroy();
  await ctx.server?.close();
  await ctx.echo?.close();
});

type Case = [label: string, method: string, path: string, body: unknown, status: number, error: RegExp];
const BAD = /^bad request body: /;
const field = (name: string) => new RegExp(`^bad request body: .*\\b${name}\\b`);

const CASES: Case[] = [
  ['malformed JSON', 'POST', '/proxies', '{"name": "x", ', 400, BAD],
  ['not JSON at all', 'POST', '/proxies', 'hello', 400, BAD],
  ['malformed JSON on update', 'PATCH', '/proxies/live', '{enabled:false}', 400, BAD],
  ['malformed JSON on a toxic', 'POST', '/proxies/live/toxics', '{"type":', 400, BAD],
  ['an array for a proxy', 'POST', '/proxies', '[]', 400, BAD],
  ['enabled: "yes"', 'POST', '/proxies', { name: 'x', upstream: '127.0.0.1:9', enabled: 'yes' }, 400, field('enabled')],
  ['enabled: "yes" on update', 'PATCH', '/proxies/live', { enabled: 'yes' }, 400, field('enabled')],
  ['name: 5', 'POST', '/proxies', { name: 5, upstream: '127.0.0.1:9' }, 400, field('name')],
  ['listen: 1', 'POST', '/proxies', { name: 'x', listen: 1, upstream: '127.0.0.1:9' }, 400, field('listen')],
  ['upstream without a port', 'POST', '/proxies', { name: 'x', upstream: 'localhost' }, 400, field('upstream')],
  ['upstream without a port on update', 'POST', '/proxies/live', { upstream: 'localhost' }, 400, field('upstream')],
  ['populate given an object', 'POST', '/populate', { name: 'x', upstream: '127.0.0.1:9' }, 400, /^bad request body: .*array/],
  ['populate item name: 5', 'POST', '/populate', [{ name: 5, upstream: '127.0.0.1:9' }], 400, field('name')],
  ['toxicity: "x"', 'POST', '/proxies/live/toxics', { type: 'latency', toxicity: 'x' }, 400, field('toxicity')],
  ['toxicity: 2', 'POST', '/proxies/live/toxics', { type: 'latency', toxicity: 2 }, 400, field('toxicity')],
  ['toxicity: -1', 'POST', '/proxies/live/toxics', { type: 'latency', toxicity: -1 }, 400, field('toxicity')],
  ['toxicity: 2 on update', 'PATCH', '/proxies/live/toxics/lat', { toxicity: 2 }, 400, field('toxicity')],
  ['stream: 5', 'POST', '/proxies/live/toxics', { type: 'latency', stream: 5 }, 400, field('stream')],
  ['type: 5', 'POST', '/proxies/live/toxics', { type: 5 }, 400, field('type')],
  ['attributes: "x"', 'POST', '/proxies/live/toxics', { type: 'latency', attributes: 'x' }, 400, field('attributes')],
  ['latency: "100"', 'POST', '/proxies/live/toxics', { type: 'latency', attributes: { latency: '100' } }, 400, field('latency')],
  ['latency: 1.5', 'POST', '/proxies/live/toxics', { type: 'latency', attributes: { latency: 1.5 } }, 400, field('latency')],
  ['latency: -100', 'POST', '/proxies/live/toxics', { type: 'latency', attributes: { latency: -100 } }, 400, field('latency')],
  ['jitter: -1', 'POST', '/proxies/live/toxics', { type: 'latency', attributes: { jitter: -1 } }, 400, field('jitter')],
  ['latency: "100" on update', 'POST', '/proxies/live/toxics/lat', { attributes: { latency: '100' } }, 400, field('latency')],
  ['latency: -1 on update', 'PATCH', '/proxies/live/toxics/lat', { attributes: { latency: -1 } }, 400, field('latency')],
  ['slicer average_size: 0', 'POST', '/proxies/live/toxics', { type: 'slicer', attributes: { average_size: 0 } }, 400, field('average_size')],
  ['slicer size_variation > average_size', 'POST', '/proxies/live/toxics',
    { type: 'slicer', attributes: { average_size: 10, size_variation: 11 } }, 400, field('size_variation')],
  ['slicer size_variation > average_size on update', 'PATCH', '/proxies/live/toxics/sl',
    { attributes: { size_variation: 513 } }, 400, field('size_variation')],
  ['bandwidth rate: -1', 'POST', '/proxies/live/toxics', { type: 'bandwidth', attributes: { rate: -1 } }, 400, field('rate')],
  ['limit_data bytes: "10"', 'POST', '/proxies/live/toxics', { type: 'limit_data', attributes: { bytes: '10' } }, 400, field('bytes')],
  ['timeout: 1e400 (Infinity)', 'POST', '/proxies/live/toxics', '{"type":"timeout","attributes":{"timeout":1e400}}', 400, field('timeout')],
];

for (const [label, method, path, body, status, error] of CASES) {
  bad(`${label} -> ${status}`, async ({ server, state }) => {
    const res = await server.api(method, path, body);
    assertError(res, status, error);
    assert.is(await snapshot(server), state, 'nothing changed');
  });
}

bad('a 2 MiB body gets 413 JSON (Content-Length and chunked)', async ({ server, state }) => {
  const huge = JSON.stringify({ name: 'huge', upstream: '127.0.0.1:9', pad: 'x'.repeat(2 * 1024 * 1024) });
  const res = await server.api('POST', '/proxies', huge);
  assertError(res, 413, /too large/);
  const chunked = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = http.request(`${server.url}/populate`, { method: 'POST', headers: { 'Transfer-Encoding': 'chunked' } }, (r) => {
      const parts: Buffer[] = [];
      r.on('data', (d: Buffer) => parts.push(d));
      r.on('end', () => resolve({ status: r.statusCode ?? 0, text: Buffer.concat(parts).toString() }));
    });
    // The server may answer and close before the whole body is written; that is fine.
    req.on('error', (e) => (e as NodeJS.ErrnoException).code === 'EPIPE' || (e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e));
    const piece = Buffer.alloc(64 * 1024, 0x20);
    req.write('[');
    for (let i = 0; i < 32; i++) req.write(piece);
    req.end(']');
  });
  assert.is(chunked.status, 413);
  assert.is(JSON.parse(chunked.text).status, 413);
  assert.is(await snapshot(server), state);
});

bad('a body just under the limit is still parsed normally', async ({ server }) => {
  const body = JSON.stringify({ enabled: true, pad: 'x'.repeat(1024 * 1024 - 100) });
  const res = await server.api('PATCH', '/proxies/live', body);
  assert.is(res.status, 200, res.text);
  assert.is(res.json.name, 'live');
});

bad('after all of it the server serves and the old connection still passes data', async ({ server, client, state }) => {
  const version = await rawRequest(server.url, 'GET', '/version');
  assert.is(version.status, 200);
  assert.is(await snapshot(server), state);
  await assertEchoes(client, 256 * 1024, 9);
  const created = await server.api('POST', '/proxies', { name: 'after', listen: '127.0.0.1:0', upstream: '127.0.0.1:9' });
  assert.is(created.status, 201);
});

bad.run();
