// The connection-level faults over real sockets: half_open (one side silently orphaned),
// partition (asymmetric, held or dropped, with back-pressure), slow_open and limit_time timing,
// and the dial timeout against an upstream that never answers.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lag } from './_helpers/lag.js';
import net from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { DIAL_TIMEOUT_MS, TcpProxy } from '../src/core/tcp-proxy.js';
import { connect, echoServer, pattern, readBytes, sleep, startServer } from './_helpers/net.js';
import { median, mismatch, watchClose, within } from './_helpers/toxics.js';
import { connectRig, until, withFaultRig } from './_helpers/faults.js';

const echo = (s: net.Socket) => s.pipe(s);

/** Writes and resolves with the write's error, if any (a silent peer must not make it fail). */
const writeOk = (socket: net.Socket, data: string) =>
  new Promise<Error | null | undefined>((resolve) => socket.write(data, (err) => resolve(err)));

test('half_open downstream: the client sees no FIN, RST or data; the upstream is closed; removal resets', () =>
  withFaultRig({ onSocket: echo }, async (rig) => {
    const client = await connectRig(rig);
    const pong = readBytes(client, 4);
    client.write('ping');
    assert.is((await within(pong, 1000, 'echo before the fault')).toString(), 'ping');
    const closed = watchClose(client);
    const bytesBefore = rig.bytes[0];
    await rig.toxic({ name: 'ho', type: 'half_open' });
    await until(() => rig.upstreamClosed[0] !== '', 1000, 'upstream close');
    assert.is(rig.upstreamClosed[0], 'end', 'the upstream sees its connection closed (FIN)');
    // A connection made while it is active is accepted, and orphaned the same way.
    const late = await connectRig(rig);
    const lateClosed = watchClose(late);
    await until(() => rig.upstreamClosed[1] !== '', 1000, 'upstream close of the new connection');
    assert.is(await writeOk(client, 'anyone there?'), null);
    assert.is(await writeOk(late, 'hello?'), null);
    await sleep(500);
    assert.not.ok(closed.settled, `the orphaned client saw ${closed.kind}`);
    assert.not.ok(lateClosed.settled, `the new orphaned client saw ${lateClosed.kind}`);
    assert.is(closed.bytes + lateClosed.bytes, 0, 'an orphaned client must receive nothing');
    assert.is(rig.bytes[0], bytesBefore, 'the vanished server received data');
    assert.is(rig.bytes[1], 0);
    assert.equal(rig.events.map((e) => [e.toxic, e.action, e.detail]), [['ho', 'closed', { half_open: true }], ['ho', 'closed', { half_open: true }]]);
    // Removal: the orphans are finally told, as a keepalive probe would tell them.
    assert.is(await rig.remove('ho'), 204);
    const [a, b] = await within(Promise.all([closed.done, lateClosed.done]), 1000, 'orphans closed on removal');
    // The issue says the orphans are closed; the contract (half_open's onRemove) resets them.
    assert.ok(['reset', 'end'].includes(a.kind) && ['reset', 'end'].includes(b.kind), `orphans saw ${a.kind}, ${b.kind}`);
    // And the proxy works again.
    const fresh = await connect(rig.port);
    const again = readBytes(fresh, 2);
    fresh.write('ok');
    assert.is((await within(again, 1000, 'echo after removal')).toString(), 'ok');
    fresh.destroy();
  }));

test('half_open upstream: the client is closed, the server is left hanging until removal', () =>
  withFaultRig({ onSocket: () => {} }, async (rig) => {
    await rig.toxic({ name: 'ho', type: 'half_open', stream: 'upstream' });
    const client = await connect(rig.port);
    const clientClosed = watchClose(client);
    await until(() => rig.bytes.length === 1, 1000, 'upstream connection');
    const server = rig.upstream.sockets[0]!;
    const kind = await within(clientClosed.done, 1000, 'client close');
    assert.is(kind.kind, 'end', 'the vanished client side is closed with FIN');
    const serverWrite = new Promise<Error | null | undefined>((resolve) => server.write('reply', (err) => resolve(err)));
    assert.is(await serverWrite, null);
    await sleep(500);
    assert.is(rig.upstreamClosed[0], '', `the orphaned server saw ${rig.upstreamClosed[0]}`);
    assert.is(clientClosed.bytes, 0, 'the reply must not reach the vanished client');
    assert.is(await rig.remove('ho'), 204);
    await until(() => rig.upstreamClosed[0] !== '', 1000, 'orphaned server closed on removal');
    assert.ok(['reset', 'end'].includes(rig.upstreamClosed[0]!), `orphaned server saw ${rig.upstreamClosed[0]}`);
    client.destroy();
  }));

// The near side is the one left orphaned: the client on downstream, the server on upstream.
for (const stream of ['downstream', 'upstream'] as const) {
  for (const ending of ['removal', 'disable'] as const) {
    test(`half_open ${stream}: a half-closing orphan still sees no FIN or RST, and is closed on ${ending}`, () =>
      withFaultRig({}, async (rig) => {
        const client = await connectRig(rig);
        const server = rig.upstream.sockets[0]!;
        const [near, far] = stream === 'downstream' ? [client, server] : [server, client];
        const nearClosed = watchClose(near);
        const farClosed = watchClose(far);
        await rig.toxic({ name: 'ho', type: 'half_open', stream });
        assert.is((await within(farClosed.done, 1000, 'the far side closed')).kind, 'end');
        assert.is(await writeOk(near, 'last words'), null);
        near.end();
        await sleep(500);
        // A vanished peer cannot answer a FIN: no end, no reset, no close, no bytes.
        assert.not.ok(nearClosed.settled, `the orphan saw ${nearClosed.kind} after half-closing`);
        assert.is(nearClosed.bytes + farClosed.bytes + rig.bytes[0]!, 0);
        // Still a live connection, so it cannot leak past the toxic or the proxy.
        const live = await rig.server.api('GET', '/connections');
        assert.is(live.json.proxies[0].connections.length, 1);
        const t0 = performance.now();
        if (ending === 'removal') assert.is(await rig.remove('ho'), 204);
        else assert.is((await rig.server.api('POST', '/proxies/p', { enabled: false })).status, 200);
        const how = await within(nearClosed.done, 1000, `the orphan closed on ${ending}`);
        // half_open's onRemove resets, as a keepalive probe would; disabling closes (EOF).
        assert.is(how.kind, ending === 'removal' ? 'reset' : 'end');
        assert.ok(performance.now() - t0 < 500, `closed ${(performance.now() - t0).toFixed(0)} ms after the ${ending}`);
        assert.is((await rig.server.api('GET', '/connections')).json.proxies[0].connections.length, 0);
      }));
  }
}

test('asymmetric partition (upstream): B->A flows, A->B is held, and on heal arrives whole and in order', () =>
  withFaultRig({ onSocket: (s) => s.write('from B') }, async (rig) => {
    await rig.toxic({ name: 'cut', type: 'partition', stream: 'upstream' });
    const client = await connectRig(rig);
    assert.is((await within(readBytes(client, 6), 1000, 'B->A data')).toString(), 'from B');
    const data = pattern(100_000, 3);
    for (let at = 0; at < data.length; at += 10_000) {
      client.write(data.subarray(at, at + 10_000));
      await sleep(2);
    }
    client.end();
    rig.upstream.sockets[0]!.write(' still');
    assert.is((await within(readBytes(client, 6), 1000, 'B->A during the partition')).toString(), ' still');
    await sleep(300);
    assert.is(rig.bytes[0], 0, 'data crossed the partition');
    assert.is(rig.upstreamClosed[0], '', 'the FIN crossed the partition');
    assert.equal(rig.events.map((e) => [e.action, e.stream]), [['held', 'upstream']]);
    assert.is(await rig.remove('cut'), 204);
    await until(() => rig.upstreamClosed[0] === 'end', 2000, 'held data and FIN after the heal');
    assert.is(mismatch(rig.data(0), data), null);
    client.destroy();
  }));

test('partition drop: data sent into it is gone; after removal data flows again', () =>
  withFaultRig({}, async (rig) => {
    await rig.toxic({ name: 'cut', type: 'partition', stream: 'upstream', attributes: { drop: true } });
    const client = await connectRig(rig);
    client.write('lost-1');
    await sleep(30);
    client.write('lost-2');
    await until(() => rig.count('dropped') >= 2, 1000, 'two drops');
    assert.equal(rig.events.map((e) => [e.action, e.detail.bytes]), [['dropped', 6], ['dropped', 6]]);
    assert.is(await rig.remove('cut'), 204);
    client.write('after');
    await until(() => rig.bytes[0]! >= 5, 1000, 'data after removal');
    await sleep(50);
    assert.is(rig.data(0).toString(), 'after');
    client.destroy();
  }));

test('partition back-pressure: a 32 MB write stays blocked while memory stays bounded, then arrives whole', () =>
  withFaultRig({}, async (rig) => {
    await rig.toxic({ name: 'cut', type: 'partition', stream: 'upstream' });
    const client = await connectRig(rig);
    const data = pattern(32 * 1024 * 1024, 8);
    let drained = false;
    // Client, proxy and upstream share this process: Buffers the proxy reads and queues show
    // up in arrayBuffers, while what waits in kernel socket buffers does not.
    const before = process.memoryUsage().arrayBuffers;
    assert.is(client.write(data, () => { drained = true; }), false);
    await sleep(400);
    const grown = process.memoryUsage().arrayBuffers - before;
    console.log(`  partition: the proxy's memory grew ${(grown / 1024).toFixed(0)} KiB while 32 MB were held`);
    assert.not.ok(drained, 'the whole write drained into the proxy');
    assert.ok(grown < 4 * 1024 * 1024, `memory grew ${grown} bytes while held: not bounded`);
    assert.is(rig.bytes[0], 0);
    assert.is(await rig.remove('cut'), 204);
    client.end();
    await until(() => rig.upstreamClosed[0] === 'end', 5000, 'all data after the heal');
    assert.ok(drained);
    assert.is(mismatch(rig.data(0), data), null);
  }));

test('slow_open 300: the client is accepted at once; the upstream sees it and replies ~300 ms later', () =>
  withFaultRig({ onSocket: echo }, async (rig) => {
    await rig.toxic({ name: 'slow', type: 'slow_open', attributes: { delay: 300 } });
    const runs = await Promise.all([0, 1, 2].map(async () => {
      const t0 = performance.now();
      const client = await connect(rig.port);
      const connected = performance.now() - t0;
      const reply = readBytes(client, 1);
      client.write('x');
      await within(reply, 2000, 'first reply');
      const replied = performance.now() - t0;
      client.destroy();
      return { t0, connected, replied };
    }));
    const t0s = runs.map((r) => r.t0).sort((a, b) => a - b);
    const seen = rig.acceptedAt.slice().sort((a, b) => a - b).map((t, i) => t - t0s[i]!);
    const replies = runs.map((r) => r.replied);
    console.log(`  slow_open 300: upstream saw connections after ${seen.map((s) => s.toFixed(1)).join(', ')} ms; replies ${replies.map((s) => s.toFixed(1)).join(', ')} ms`);
    for (const r of runs) assert.ok(r.connected < 100, `client accepted after ${r.connected} ms`);
    // Measured from before connecting, so a dial delayed 300 ms can never show less.
    for (const ms of [...seen, ...replies]) assert.ok(ms >= 300 && ms < 500 + lag.worst(), `${ms.toFixed(1)} ms, want 300 to 500 (+ timer lag ${lag.worst()} ms)`);
    assert.ok(median(replies) < 380, `median first reply ${median(replies)} ms`);
    assert.equal(rig.events.map((e) => [e.type, e.action, e.detail]), Array(3).fill(['slow_open', 'delayed', { ms: 300 }]));
  }));

test('limit_time 300 closes a busy connection with FIN ~300 ms after it opened', () =>
  withFaultRig({ onSocket: echo }, async (rig) => {
    await rig.toxic({ name: 'lt', type: 'limit_time', attributes: { duration: 300 } });
    const closes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const client = await connect(rig.port);
      const closed = watchClose(client, t0);
      while (!closed.settled && performance.now() - t0 < 1000) {
        client.write('tick');
        await sleep(5);
      }
      const how = await within(closed.done, 1000, 'close');
      assert.is(how.kind, 'end', 'limit_time closes with FIN');
      assert.ok(how.bytes > 100, 'data flowed until the close');
      await until(() => rig.upstreamClosed[i] !== '', 1000, 'upstream close');
      assert.is(rig.upstreamClosed[i], 'end');
      closes.push(how.ms);
      client.destroy();
    }
    console.log(`  limit_time 300: closed after ${closes.map((ms) => ms.toFixed(1)).join(', ')} ms`);
    assert.equal(rig.events.map((e) => [e.action, e.detail]), Array(3).fill(['closed', { after_ms: 300 }]));
    // t0 is taken before connecting, so a connection that lives 300 ms from its open can never
    // be seen closing sooner than 300 ms after t0: the lower bound is exact.
    for (const ms of closes) assert.ok(ms >= 300 && ms < 420 + lag.worst(), `closed ${ms.toFixed(2)} ms after connecting, want 300 to 420 (+ timer lag ${lag.worst()} ms)`);
  }));

test('limit_time added to a connection older than its duration closes it at once', () =>
  withFaultRig({ onSocket: echo }, async (rig) => {
    const client = await connectRig(rig);
    const closed = watchClose(client);
    await sleep(350);
    const t0 = performance.now();
    await rig.toxic({ name: 'lt', type: 'limit_time', attributes: { duration: 300 } });
    const how = await within(closed.done, 1000, 'close');
    assert.is(how.kind, 'end');
    assert.ok(performance.now() - t0 < 100, `closed ${(performance.now() - t0).toFixed(0)} ms after the add`);
    client.destroy();
  }));

/**
 * A loopback listener that never accepts: its thread is blocked, so once its small backlog is
 * full the kernel drops further SYNs unanswered, as a firewall's DROP rule would.
 */
async function blackhole(): Promise<{ port: number; close(): Promise<void> }> {
  const worker = new Worker(`
    const server = require('node:net').createServer();
    server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      require('node:worker_threads').parentPort.postMessage(server.address().port);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    });`, { eval: true });
  const [port] = (await once(worker, 'message')) as [number];
  const fillers: net.Socket[] = [];
  for (let full = false; !full;) {
    if (fillers.length > 64) throw new Error('the backlog never filled');
    const s = net.connect({ port, host: '127.0.0.1' }).on('error', () => {});
    fillers.push(s);
    full = !(await Promise.race([once(s, 'connect').then(() => true, () => false), sleep(200).then(() => false)]));
  }
  return { port, close: async () => { for (const s of fillers) s.destroy(); await worker.terminate(); } };
}

test('a blackholed upstream: the dial gives up after the dial timeout, closes the client and warns', async () => {
  const hole = await blackhole();
  const up = await echoServer();
  const server = await startServer();
  const warnings: [string, unknown][] = [];
  server.events.on('log:warn', (e) => warnings.push([e.message, e.context.error]));
  TcpProxy.dialTimeoutMs = 300;
  try {
    const proxyPort = await server.proxy('bh', `127.0.0.1:${hole.port}`);
    const t0 = performance.now();
    const client = await connect(proxyPort);
    const how = await within(watchClose(client, t0).done, 3000, 'client close after the dial timeout');
    assert.is(how.kind, 'end');
    assert.ok(how.ms >= 300 && how.ms < 1000 + lag.worst(), `closed ${how.ms.toFixed(0)} ms after connecting, want 300 to 1000 (+ timer lag ${lag.worst()} ms)`);
    assert.equal(warnings, [[`bh: upstream 127.0.0.1:${hole.port} unreachable`, 'connect timed out after 300 ms']]);
    // The limit covers the connect alone: a slow_open delay longer than it is not cut short.
    const port = await server.proxy('slow', up.address);
    assert.is((await server.toxic('slow', { type: 'slow_open', attributes: { delay: 400 } })).status, 200);
    const slow = await connect(port);
    const reply = readBytes(slow, 2);
    slow.write('ok');
    assert.is((await within(reply, 2000, 'echo after a slow open')).toString(), 'ok');
    assert.is(warnings.length, 1);
    slow.destroy();
  } finally {
    TcpProxy.dialTimeoutMs = DIAL_TIMEOUT_MS;
    await server.close();
    await hole.close();
    await up.close();
  }
});

test.run();
