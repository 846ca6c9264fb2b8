// A dns proxy without toxics, with real resolvers on loopback: Node's (c-ares) over UDP, dig over
// UDP and TCP, and a client that sends exactly one query. Ids, EDNS and truncation kept; clients
// that choose the same id each get their own answer; malformed queries dropped with an event
// while the proxy keeps serving; an upstream that does not answer gets SERVFAIL.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { FaultEvent } from '../src/events/bus.js';
import { authServer, dig, digTest, resolverAt, type AuthServer } from './_helpers/dns.js';
import { ask, datas, dnsProxy, failure, raw, rcode, storedEvents } from './_helpers/dns-client.js';
import { sleep, startServer, type TestServer } from './_helpers/net.js';

let fl: TestServer;
let auth: AuthServer;
let port: number;
const faults: FaultEvent[] = [];
const many = Array.from({ length: 60 }, (_, i) => ({ type: 'A' as const, data: `10.1.0.${i}`, ttl: 30 }));

test.before(async () => {
  auth = await authServer({
    'svc.test': [{ type: 'A', data: '10.0.0.1', ttl: 300 }, { type: 'AAAA', data: '2001:db8::1', ttl: 120 }, { type: 'TXT', data: 'hello', ttl: 60 }],
    'big.test': many,
  });
  fl = await startServer();
  fl.events.on('fault:injected', (e) => faults.push(e));
  port = await dnsProxy(fl, 'dns', auth.address);
});
test.after(async () => {
  await fl.close();
  await auth.close();
});

test("Node's resolver gets the upstream's records and TTLs through the proxy", async () => {
  const r = resolverAt(port);
  assert.equal(await r.resolve4('svc.test', { ttl: true }), [{ address: '10.0.0.1', ttl: 300 }]);
  assert.equal(await r.resolve6('svc.test', { ttl: true }), [{ address: '2001:db8::1', ttl: 120 }]);
  assert.equal(await r.resolveTxt('svc.test'), [['hello']]);
  assert.is(await failure(r.resolve4('nothing.test')), 'ENOTFOUND');
  const proxy = (await fl.api('GET', '/proxies/dns')).json;
  assert.equal([proxy.protocol, proxy.toxics], ['dns', []]);
});

test('ids and EDNS: the client gets its own id back, the upstream sees the OPT record', async () => {
  for (const transport of ['udp', 'tcp'] as const) {
    const seen = auth.seen.length;
    const a = await ask(port, 'svc.test', 'A', { transport, id: 4242, edns: 1400 });
    assert.is(a.packet?.id, 4242, transport);
    assert.equal(datas(a), ['10.0.0.1']);
    assert.is(auth.seen[seen]?.transport, transport);
    assert.is(auth.seen[seen]?.opt?.udpPayloadSize, 1400, 'the EDNS size reaches the upstream');
    assert.ok(a.packet?.additionals?.some((x) => x.type === 'OPT'), 'the answer has its OPT record');
  }
});

test('clients that choose the same id each get their own answer, over UDP and TCP at once', async () => {
  auth.zone.set('one.test', [{ type: 'A', data: '10.0.1.1', ttl: 5 }]);
  auth.zone.set('two.test', [{ type: 'A', data: '10.0.2.2', ttl: 5 }]);
  const asks = [];
  for (let i = 0; i < 50; i++) {
    const name = i % 2 === 0 ? 'one.test' : 'two.test';
    asks.push(ask(port, name, 'A', { id: 7, transport: i % 5 === 0 ? 'tcp' : 'udp' }).then((a) => [name, a] as const));
  }
  for (const [name, a] of await Promise.all(asks)) {
    assert.is(a.packet?.id, 7);
    assert.equal(datas(a), [name === 'one.test' ? '10.0.1.1' : '10.0.2.2'], name);
  }
});

test('a truncated upstream answer reaches the client with TC, and its retry over TCP gets every record', async () => {
  const udp = await ask(port, 'big.test', 'A', { edns: 512 });
  assert.ok(udp.packet?.flag_tc, 'TC kept');
  assert.equal(udp.packet?.answers, []);
  const seen = auth.seen.length;
  const tcp = await ask(port, 'big.test', 'A', { transport: 'tcp' });
  assert.is(datas(tcp).length, 60);
  assert.is(auth.seen[seen]?.transport, 'tcp', 'asked upstream over TCP');
  // c-ares does the same retry by itself.
  assert.is((await resolverAt(port).resolve4('big.test')).length, 60);
});

test('malformed queries are dropped with an event, over UDP and TCP, and the proxy keeps serving', async () => {
  const before = faults.length;
  const response = dnsPacket.encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'svc.test' }] });
  const trailing = Buffer.concat([dnsPacket.encode({ type: 'query', id: 2, questions: [{ type: 'A', name: 'svc.test' }] }), Buffer.from([1, 2, 3])]);
  const cases = [Buffer.from([1, 2, 3, 4, 5]), Buffer.alloc(40, 0xff), response, trailing];
  for (const bad of cases) {
    const got = await raw(port, bad, 'udp', 300);
    assert.is(got.packet, null, 'no answer to a malformed query');
  }
  // Over TCP the frame is read, found bad and dropped; the connection goes on with the next.
  const socket = net.connect({ port, host: '127.0.0.1' });
  await new Promise((r) => socket.once('connect', r));
  const answer = new Promise<Buffer>((resolve) => socket.once('data', resolve));
  socket.write(Buffer.concat([Buffer.from([0, 3, 9, 9, 9]), dnsPacket.streamEncode({ type: 'query', id: 9, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'svc.test' }] })]));
  const back = dnsPacket.decode((await answer).subarray(2));
  assert.equal([back.id, datas({ packet: back, ms: 0 })], [9, ['10.0.0.1']]);
  socket.destroy();
  await sleep(50);
  const rejected = faults.slice(before).filter((e) => e.type === 'malformed_query');
  assert.is(rejected.length, cases.length + 1, JSON.stringify(faults.slice(before)));
  assert.ok(rejected.every((e) => e.action === 'rejected' && typeof e.detail.reason === 'string'));
  assert.match(String(rejected[2]!.detail.reason), /response/);
  assert.match(String(rejected[3]!.detail.reason), /3 bytes after the message/);
  assert.is(rejected[4]!.detail.transport, 'tcp');
  assert.equal(datas(await ask(port, 'svc.test', 'A')), ['10.0.0.1'], 'still serving');
  const inStore = (e: any) => e.detail.reason !== undefined && e.type === 'malformed_query';
  const stored = await storedEvents(fl, 'kind=fault:injected&proxy=dns&limit=100', (events) => events.some(inStore));
  assert.ok(stored.some(inStore), 'in the store');
});

test('an upstream that does not answer: the client gets SERVFAIL after 5 s, with an event', async () => {
  const silent = await authServer({});
  silent.mode = 'silent';
  const p = await dnsProxy(fl, 'silent', silent.address);
  try {
    const before = faults.length;
    const [u, t] = await Promise.all([ask(p, 'svc.test', 'A', { timeoutMs: 9000 }), ask(p, 'svc.test', 'A', { transport: 'tcp', timeoutMs: 9000 })]);
    for (const a of [u, t]) {
      assert.is(rcode(a), 'SERVFAIL');
      assert.ok(a.ms >= 4900 && a.ms < 8500, `${a.ms} ms`);
    }
    const failed = faults.slice(before).filter((e) => e.proxy === 'silent' && e.type === 'upstream_failed');
    assert.equal(failed.map((e) => [e.detail.reason, e.detail.rcode, e.detail.name, e.detail.qtype]).sort(),
      [['timeout', 'SERVFAIL', 'svc.test', 'A'], ['timeout', 'SERVFAIL', 'svc.test', 'A']]);
    // Nobody listening at all: the same, not a hang.
    await silent.close();
    assert.is(rcode(await ask(p, 'svc.test', 'A', { timeoutMs: 9000 })), 'SERVFAIL');
  } finally {
    await silent.close().catch(() => {});
  }
});

const withDig = digTest(test);

withDig('dig over UDP (+notcp) and TCP (+tcp); a truncated answer retried over TCP', async () => {
  const u = await dig(port, 'svc.test', 'A', ['+notcp']);
  assert.equal([u.status, u.answers.map((a) => [a.data, a.ttl])], ['NOERROR', [['10.0.0.1', 300]]], u.text);
  assert.match(u.text, /\(UDP\)/);
  assert.match(u.text, /EDNS: version: 0/);
  const t = await dig(port, 'svc.test', 'AAAA', ['+tcp']);
  assert.equal([t.status, t.answers.map((a) => a.data)], ['NOERROR', ['2001:db8::1']], t.text);
  assert.match(t.text, /\(TCP\)/);
  const big = await dig(port, 'big.test', 'A', ['+notcp', '+bufsize=512']);
  assert.match(big.text, /Truncated, retrying in TCP mode/);
  assert.is(big.answers.length, 60, big.text);
  const nx = await dig(port, 'nothing.test', 'A');
  assert.is(nx.status, 'NXDOMAIN');
});

test.run();
