// A real Redis (Debian's redis-server, started here on an ephemeral port) behind faultline,
// driven by ioredis under latency, reset_peer, timeout, a partition, half_open and
// limit_data. Each test asserts what the client does: its timeout fires, it reconnects once
// the fault goes, and no reply ever lands on the wrong command or arrives truncated. Without
// redis-server the tests are reported as skipped, with a NOTE saying why.

import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Redis, type RedisOptions } from 'ioredis';
import { startFaultline, type FaultlineClient, type ProxyHandle } from '../src/index.js';
import { redisAvailable, startRedis, type Service } from './_helpers/databases.js';
import { sleep } from './_helpers/net.js';

const available = redisAvailable();
if (!available.ok) console.log(`NOTE: skipping the Redis interop tests: ${available.reason}`);
const it = available.ok ? test : test.skip;

/** 100 kB, so a reply spans many reads and a cut one cannot pass for whole. */
const BIG = randomBytes(75_000).toString('base64');

let redis: Service | undefined;
let faultline: FaultlineClient | undefined;
let proxy: ProxyHandle;
let admin: Redis | undefined;

if (available.ok) {
  test.before(async () => {
    redis = await startRedis();
    faultline = await startFaultline();
    proxy = await faultline.proxy({ name: 'redis', upstream: redis.address });
    // Straight to Redis, not through faultline: what the server itself sees.
    admin = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
    await admin.connect();
    await admin.set('big', BIG);
  });
  test.before.each(() => faultline!.reset());
  test.after.each(() => { for (const client of clients.splice(0)) client.disconnect(); });
  test.after(async () => {
    admin?.disconnect();
    await faultline?.close();
    await redis?.close();
  });
}

const clients: Redis[] = [];

/**
 * An ioredis client connected through the proxy: a short command timeout, one retry per
 * command, a quick reconnect. Its error events are collected rather than logged; every client
 * is disconnected after the test.
 */
async function connectClient(options: RedisOptions = {}): Promise<{ client: Redis; errors: NodeJS.ErrnoException[] }> {
  const errors: NodeJS.ErrnoException[] = [];
  const client = new Redis({
    host: proxy.host, port: proxy.port, lazyConnect: true, connectTimeout: 5000, commandTimeout: 1000,
    maxRetriesPerRequest: 1, retryStrategy: () => 100, ...options,
  });
  clients.push(client);
  client.on('error', (err: NodeJS.ErrnoException) => errors.push(err));
  await client.connect();
  return { client, errors };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then((value) => ({ value }), (err: Error) => ({ err }));
  if ('err' in outcome) return outcome.err;
  throw new Error(`expected the command to fail, got ${JSON.stringify(outcome.value)?.slice(0, 80)}`);
}

/** Polls `check` every 50 ms for up to `ms`; true once it held. */
async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (await check()) return true;
  return check();
}

const clientNames = async () => ((await admin!.client('LIST')) as string).split('\n').map((l) => /\bname=(\S*)/.exec(l)?.[1] ?? '');

it('latency: replies arrive late but whole; a commandTimeout shorter than the delay fires, and the late reply never lands on a later command', async () => {
  const { client: patient } = await connectClient({ commandTimeout: 20_000 });
  const { client: hasty } = await connectClient({ commandTimeout: 400 });
  const latency = await proxy.latency({ latency: 1500 });
  const start = performance.now();
  const slow = patient.get('big');
  assert.match((await rejection(hasty.get('big'))).message, /Command timed out/);
  assert.is(await slow, BIG);
  assert.ok(performance.now() - start >= 1490, 'the reply waited for the latency');
  await faultline!.events.waitFor({ proxy, type: 'latency', action: 'delayed', detail: { ms: 1500 } });
  await latency.remove();
  // The timed-out GET's reply may still be on its way; it must be matched to that GET.
  assert.is(await hasty.echo('after the fault'), 'after the fault');
  assert.is(await hasty.get('big'), BIG);
});

it('reset_peer: the client sees ECONNRESET, and reconnects to work normally once the toxic is removed', async () => {
  const { client, errors } = await connectClient();
  await proxy.withToxic({ type: 'reset_peer' }, async () => {
    await rejection(client.get('big'));
    await faultline!.events.waitFor({ proxy, action: 'reset' });
  });
  assert.ok(errors.some((e) => e.code === 'ECONNRESET'), `errors seen: ${errors.map((e) => e.code ?? e.message).join(', ')}`);
  assert.is(await client.get('big'), BIG);
});

it('timeout: Redis goes silent and the commandTimeout fires; removing the toxic closes the connection and the client reconnects', async () => {
  const { client } = await connectClient();
  let closes = 0;
  client.on('close', () => { closes++; });
  const toxic = await proxy.timeout({ timeout: 0 });
  assert.match((await rejection(client.get('big'))).message, /Command timed out/);
  await faultline!.events.waitFor({ proxy, type: 'timeout', action: 'dropped' });
  assert.is(closes, 0, 'silence, not a close, while the toxic is there');
  await toxic.remove();
  assert.ok(await eventually(async () => closes > 0), 'the removal closed the connection');
  assert.is(await client.get('big'), BIG);
});

it('partition: commands stall and time out, yet reach Redis in order when it heals; later replies stay matched', async () => {
  const { client } = await connectClient();
  await admin!.del('counter');
  const cut = await proxy.partition({ stream: 'upstream' });
  const outcomes = await Promise.allSettled([client.incr('counter'), client.incr('counter'), client.incr('counter')]);
  assert.equal(outcomes.map((o) => o.status), ['rejected', 'rejected', 'rejected']);
  await faultline!.events.waitFor({ proxy, type: 'partition', action: 'held' });
  assert.is(await admin!.get('counter'), null, 'nothing crossed the partition');
  await cut.remove();
  // A timed-out command is not a command that did not run.
  assert.ok(await eventually(async () => (await admin!.get('counter')) === '3'), `counter ${await admin!.get('counter')}`);
  assert.is(await client.incr('counter'), 4);
});

it('half_open: Redis sees its client leave while the client hears only silence; after removal it reconnects', async () => {
  const { client } = await connectClient({ connectionName: 'victim' });
  assert.ok((await clientNames()).includes('victim'));
  const toxic = await proxy.halfOpen();
  await faultline!.events.waitFor({ proxy, type: 'half_open', action: 'closed' });
  assert.ok(await eventually(async () => !(await clientNames()).includes('victim')), 'Redis closed the connection it saw end');
  assert.match((await rejection(client.get('big'))).message, /Command timed out/);
  await toxic.remove();
  assert.is(await client.get('big'), BIG);
  assert.ok((await clientNames()).includes('victim'));
});

it('limit_data: a reply cut short fails the command; it is never returned truncated', async () => {
  const { client } = await connectClient({ commandTimeout: 5000 });
  const toxic = await proxy.limitData({ bytes: 1000 });
  await rejection(client.get('big'));
  await faultline!.events.waitFor({ proxy, type: 'limit_data', action: 'closed', detail: { bytes: 1000 } });
  await toxic.remove();
  assert.is(await client.get('big'), BIG);
});

test.run();
