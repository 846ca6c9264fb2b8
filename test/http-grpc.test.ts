// gRPC through an http proxy with @grpc/grpc-js on both ends: the status codes a client sees
// for aborts (at either phase), resets and delays past its deadline; a fraction of calls
// failed per call on one channel; per-route gRPC figures; and the gRPC example scenario run as
// a user runs it.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { startServer, type TestServer } from './_helpers/net.js';
import { httpProxy } from './_helpers/http.js';
import { runExample, SCENARIOS } from './_helpers/services.js';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
const loader = require('@grpc/proto-loader') as typeof import('@grpc/proto-loader');
const fixture = (name: string) => fileURLToPath(new URL(`../../test/fixtures/grpc/${name}`, import.meta.url));
const demo = grpc.loadPackageDefinition(loader.loadSync(fixture('demo.proto'))).demo as any;
const health = (grpc.loadPackageDefinition(loader.loadSync(fixture('health.proto'))).grpc as any).health.v1;

let fl: TestServer;
let server: import('@grpc/grpc-js').Server;
let upstream = '';
let handled = 0;

test.before(async () => {
  fl = await startServer();
  server = new grpc.Server();
  server.addService(demo.Demo.service, {
    Say: (call: any, done: any) => { handled++; done(null, { text: `echo ${call.request.text}` }); },
  });
  server.addService(health.Health.service, { Check: (_call: any, done: any) => done(null, { status: 'SERVING' }) });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  upstream = `127.0.0.1:${port}`;
});
test.after(async () => {
  server.forceShutdown();
  await fl.close();
});

type Outcome = { code: number; details: string; text?: string };

function client(port: number) {
  const c = new demo.Demo(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const say = (text: string, deadlineMs = 5000) => new Promise<Outcome>((resolve) => {
    c.Say({ text }, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err: any, reply: any) =>
      resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '', text: reply.text }));
  });
  return { say, close: () => c.close() };
}

test('the client sees the grpc_status an abort gives, at either phase, and RST_STREAM as a reset', async () => {
  const port = await httpProxy(fl, 'codes', upstream);
  const c = client(port);
  assert.equal(await c.say('plain'), { code: 0, details: '', text: 'echo plain' });
  await fl.toxic('codes', { type: 'http_abort', name: 'unavailable', attributes: { first: 1 } });
  assert.equal(await c.say('a'), { code: grpc.status.UNAVAILABLE, details: 'faultline: request aborted by toxic unavailable' });
  await fl.toxic('codes', { type: 'http_abort', name: 'exhausted', attributes: { first: 1, when: 'response', grpc_status: 8, body: 'quota: ünïcode & 100%' } });
  const before = handled;
  assert.equal(await c.say('b'), { code: grpc.status.RESOURCE_EXHAUSTED, details: 'quota: ünïcode & 100%' });
  assert.is(handled, before + 1, 'with when: response the server handled the call');
  await fl.toxic('codes', { type: 'http_reset', attributes: { first: 1 } });
  const reset = await c.say('c');
  assert.is(reset.code, grpc.status.INTERNAL, reset.details);
  assert.match(reset.details, /RST_STREAM with code 2/);
  assert.equal(await c.say('after'), { code: 0, details: '', text: 'echo after' });
  c.close();
});

test('a delay past the deadline is DEADLINE_EXCEEDED; the same call without it is OK', async () => {
  const port = await httpProxy(fl, 'deadline', upstream);
  await fl.toxic('deadline', { type: 'http_delay', attributes: { latency: 600, path: '/demo.Demo/Say', header: 'x-slow' } });
  const c = client(port);
  assert.is((await c.say('warm')).code, 0);
  const slow = new Promise<Outcome>((resolve) => {
    const meta = new grpc.Metadata();
    meta.set('x-slow', '1');
    new demo.Demo(`127.0.0.1:${port}`, grpc.credentials.createInsecure()).Say({ text: 's' }, meta, { deadline: Date.now() + 200 },
      (err: any) => resolve({ code: err?.code ?? 0, details: err?.details ?? '' }));
  });
  assert.is((await slow).code, grpc.status.DEADLINE_EXCEEDED);
  assert.is((await c.say('fast', 200)).code, 0);
  c.close();
});

test('toxicity 0.3 over 300 calls on one channel: about 30% UNAVAILABLE, one connection, per-route gRPC figures', async () => {
  const port = await httpProxy(fl, 'fraction', upstream);
  await fl.toxic('fraction', { type: 'http_abort', toxicity: 0.3 });
  const c = client(port);
  const outcomes = await Promise.all(Array.from({ length: 300 }, (_, i) => c.say(`n${i}`)));
  const unavailable = outcomes.filter((o) => o.code === grpc.status.UNAVAILABLE).length;
  assert.is(outcomes.filter((o) => o.code === 0).length + unavailable, 300);
  // Binomial(300, 0.3): sd 7.9; 5 sd either side.
  assert.ok(unavailable > 50 && unavailable < 130, `${unavailable} of 300 UNAVAILABLE`);
  const conns = (await fl.api('GET', '/connections')).json.proxies.find((p: any) => p.proxy === 'fraction').connections;
  assert.is(conns.length, 1);
  const routes = (await fl.api('GET', '/routes?proxy=fraction')).json.proxies[0].routes;
  const say = routes.find((r: any) => r.route === 'POST /demo.Demo/Say');
  assert.is(say.requests, 300);
  assert.equal(say.grpc, { 0: 300 - unavailable, 14: unavailable });
  assert.equal(say.statuses, { '2xx': 300 });
  assert.ok(say.latency_ms.p50 > 0 && say.latency_ms.p50 <= say.latency_ms.p95 && say.latency_ms.p95 <= say.latency_ms.p99);
  const metrics = (await fl.api('GET', '/metrics')).text;
  assert.match(metrics, new RegExp(`faultline_http_grpc_responses_total\\{proxy="fraction",route="POST /demo.Demo/Say",grpc_status="14"\\} ${unavailable}\\n`));
  assert.match(metrics, /faultline_http_request_duration_seconds\{proxy="fraction",route="POST \/demo\.Demo\/Say",quantile="0\.99"\} [\d.e-]+\n/);
  c.close();
});

test('the gRPC example scenario: UNAVAILABLE, then calls past the deadline, deviate the run (exit 1)', async () => {
  const port = await httpProxy(fl, 'grpc-service', upstream);
  const r = await runExample(fl, 'grpc-unavailable.yaml', {
    GRPC_PROXY: `127.0.0.1:${port}`, GRPC_ADDRESS: upstream, GRPC_METHOD: '/grpc.health.v1.Health/Check', DEADLINE: '250ms',
    PROBES_DIR: `${SCENARIOS}probes`,
  });
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.line(/steady state \(before\) calls-within-deadline/), /ok 0 in .*20 calls to \/grpc\.health\.v1\.Health\/Check within 250ms: 20 OK; 0% failed/);
  const during = r.lines.filter((l) => /steady state \(during\)/.test(l)).join('\n');
  assert.match(during, /\d+ UNAVAILABLE/, during);
  assert.match(during, /\d+ DEADLINE_EXCEEDED/, during);
  assert.match(r.line(/^verdict:/), /^verdict: deviated \(exit 1\): steady state failed during the timeline: probe calls-within-deadline/);
  assert.match(r.line(/steady state \(after\) calls-within-deadline/), /20 OK; 0% failed/);
  assert.equal((await fl.api('GET', '/proxies/grpc-service/toxics')).json, []);
});

test.run();
