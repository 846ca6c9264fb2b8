import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FaultEvent, FaultsFolded } from '../src/index.js';
import { FaultLimiter } from '../src/events/fault-limiter.js';
import { connect, echoServer, readBytes, sleep, startServer, type TestServer } from './_helpers/net.js';

async function withProxy(seed: number, run: (server: TestServer, port: number) => Promise<void>): Promise<void> {
  const echo = await echoServer();
  const server = await startServer({ seed });
  try {
    await run(server, await server.proxy('p', echo.address));
  } finally {
    await server.close();
    await echo.close();
  }
}

test('a fault event carries id, ts, proxy, conn, client, toxic, type, stream, action and detail', async () => {
  await withProxy(1, async (server, port) => {
    const seen: FaultEvent[] = [];
    const opened: string[] = [];
    server.events.on('fault:injected', (e) => seen.push(e));
    server.events.on('conn:opened', (e) => opened.push(e.conn));
    await server.toxic('p', { name: 'slow', type: 'latency', attributes: { latency: 20 } });
    const client = await connect(port);
    client.write('ping');
    await readBytes(client, 4);
    client.destroy();
    assert.is(seen.length, 1);
    const e = seen[0]!;
    assert.match(e.id, /^[\w-]{21}$/);
    assert.ok(Math.abs(e.ts - Date.now()) < 5_000);
    assert.equal(
      { proxy: e.proxy, protocol: e.protocol, toxic: e.toxic, type: e.type, stream: e.stream, action: e.action, detail: e.detail },
      { proxy: 'p', protocol: 'tcp', toxic: 'slow', type: 'latency', stream: 'downstream', action: 'delayed', detail: { ms: 20 } },
    );
    assert.equal([e.conn], opened);
    assert.match(e.client, /^127\.0\.0\.1:\d+$/);
  });
});

test('every fault is counted, and a per-chunk flood is folded under the rate limit', async () => {
  await withProxy(1, async (server, port) => {
    let streamed = 0;
    let folded = 0;
    server.events.on('fault:injected', () => streamed++);
    server.events.on('fault:folded', (e: FaultsFolded) => { folded += e.count; });
    await server.toxic('p', { type: 'latency', attributes: { latency: 1 } });
    const client = await connect(port);
    const rounds = 400;
    for (let i = 0; i < rounds; i++) {
      client.write('x');
      await readBytes(client, 1);
    }
    client.destroy();
    const counts = server.events.faultCounts();
    assert.equal(counts, [{ proxy: 'p', protocol: 'tcp', type: 'latency', stream: 'downstream', action: 'delayed', count: rounds }]);
    assert.ok(streamed < rounds, `streamed ${streamed} of ${rounds}: the limit folded nothing`);
    await sleep(1_100);
    assert.is(streamed + folded, rounds, 'streamed plus folded accounts for every fault');
  });
});

test('the limiter admits a burst, then refills at its rate', () => {
  const limiter = new FaultLimiter(10);
  let admitted = 0;
  for (let i = 0; i < 100; i++) if (limiter.admit('k', 0)) admitted++;
  assert.is(admitted, 10);
  assert.equal(limiter.drain(0), [{ key: 'k', folded: 90 }]);
  assert.ok(!limiter.admit('k', 50));
  assert.ok(limiter.admit('k', 200));
  assert.equal(limiter.drain(200), [{ key: 'k', folded: 1 }]);
});

async function rollPattern(seed: number): Promise<string> {
  let pattern = '';
  await withProxy(seed, async (server, port) => {
    await server.toxic('p', { type: 'latency', toxicity: 0.5, attributes: { latency: 30 } });
    for (let i = 0; i < 24; i++) {
      const client = await connect(port);
      const started = performance.now();
      client.write('x');
      await readBytes(client, 1);
      pattern += performance.now() - started >= 25 ? '1' : '0';
      client.destroy();
    }
  });
  return pattern;
}

test('toxicity rolls come from the seed: the same seed and traffic give the same decisions', async () => {
  const a = await rollPattern(42);
  const b = await rollPattern(42);
  const c = await rollPattern(43);
  assert.is(a, b);
  assert.ok(a.includes('0') && a.includes('1'), `toxicity 0.5 should mix: ${a}`);
  assert.is.not(a, c, 'a different seed should give different rolls');
});

test.run();
