// Every DNS toxic through a dns proxy, seen by a client that sends exactly one query (and by
// Node's resolver and dig where retries matter): what the client gets, whether the upstream was
// asked, and the event; name and qtype matching; changes between queries; seeded rolls.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FaultEvent } from '../src/events/bus.js';
import { authServer, dig, digTest, resolverAt, type AuthServer } from './_helpers/dns.js';
import { ask, datas, dnsProxy, failure, rcode, storedEvents } from './_helpers/dns-client.js';
import { sleep, startServer, type TestServer } from './_helpers/net.js';

let fl: TestServer;
let auth: AuthServer;
const faults: FaultEvent[] = [];
let n = 0;

test.before(async () => {
  auth = await authServer({
    'svc.test': [{ type: 'A', data: '10.0.0.1', ttl: 300 }, { type: 'AAAA', data: '2001:db8::1', ttl: 300 }, { type: 'TXT', data: 'hi', ttl: 300 }],
    'a.svc.test': [{ type: 'A', data: '10.0.0.2', ttl: 300 }],
    'other.test': [{ type: 'A', data: '10.0.0.3', ttl: 300 }],
  });
  fl = await startServer();
  fl.events.on('fault:injected', (e) => faults.push(e));
});
test.after(async () => {
  await fl.close();
  await auth.close();
});

/** A fresh dns proxy with these toxics; its name and port. */
async function withToxics(...toxics: Array<Record<string, unknown>>): Promise<{ name: string; port: number }> {
  const name = `p${++n}`;
  const port = await dnsProxy(fl, name, auth.address);
  for (const t of toxics) {
    const res = await fl.toxic(name, t);
    assert.is(res.status, 200, res.text);
  }
  return { name, port };
}

/** Whether the upstream saw a query for `name` while `fn` ran. */
async function upstreamAsked(name: string, fn: () => Promise<void>): Promise<boolean> {
  const from = auth.seen.length;
  await fn();
  return auth.seen.slice(from).some((q) => q.name.toLowerCase() === name);
}

function faultsOf(proxy: string): FaultEvent[] {
  return faults.filter((e) => e.proxy === proxy);
}

test('dns_error: each rcode, instead of the upstream, with an event naming it', async () => {
  for (const [code, nodeCode] of [['NXDOMAIN', 'ENOTFOUND'], ['SERVFAIL', 'ESERVFAIL'], ['REFUSED', 'EREFUSED']] as const) {
    const p = await withToxics({ type: 'dns_error', attributes: { rcode: code } });
    assert.not.ok(await upstreamAsked('svc.test', async () => {
      const a = await ask(p.port, 'svc.test', 'A', { id: 99 });
      assert.equal([rcode(a), a.packet?.id, a.packet?.answers, a.packet?.questions?.[0]?.name], [code, 99, [], 'svc.test']);
      assert.is(await failure(resolverAt(p.port).resolve4('svc.test')), nodeCode);
    }), 'the upstream never sees the query');
    const e = faultsOf(p.name)[0]!;
    assert.equal([e.toxic, e.type, e.action, e.protocol, e.detail.rcode, e.detail.name, e.detail.qtype, e.detail.transport],
      ['dns_error_downstream', 'dns_error', 'aborted', 'dns', code, 'svc.test', 'A', 'udp']);
  }
});

test('dns_delay: latency plus or minus jitter per query, then the real answer', async () => {
  const plain = await withToxics();
  const base = (await ask(plain.port, 'svc.test', 'A')).ms;
  const p = await withToxics({ type: 'dns_delay', attributes: { latency: 300 } });
  const a = await ask(p.port, 'svc.test', 'A');
  assert.equal(datas(a), ['10.0.0.1']);
  assert.ok(a.ms >= 295 && a.ms < 300 + base + 1500, `${a.ms} ms (no toxic: ${base})`);
  const ttls = await resolverAt(p.port, 3000).resolve4('svc.test', { ttl: true });
  assert.equal(ttls, [{ address: '10.0.0.1', ttl: 300 }]);
  const j = await withToxics({ type: 'dns_delay', attributes: { latency: 200, jitter: 150 } });
  const times = await Promise.all(Array.from({ length: 12 }, () => ask(j.port, 'svc.test', 'A', { timeoutMs: 3000 }).then((x) => x.ms)));
  assert.ok(times.every((ms) => ms >= 45), times.join(' '));
  const delays = faultsOf(j.name).map((e) => Number(e.detail.ms));
  assert.is(delays.length, 12);
  assert.ok(delays.every((ms) => ms >= 50 && ms <= 350), delays.join(' '));
  assert.ok(new Set(delays).size > 3, `jitter varies: ${delays.join(' ')}`);
});

test('dns_drop: no answer, the upstream never asked, an event', async () => {
  const p = await withToxics({ type: 'dns_drop' });
  assert.not.ok(await upstreamAsked('svc.test', async () => {
    assert.is(rcode(await ask(p.port, 'svc.test', 'A', { timeoutMs: 500 })), 'none');
    assert.is(rcode(await ask(p.port, 'svc.test', 'A', { transport: 'tcp', timeoutMs: 500 })), 'none');
    assert.is(await failure(resolverAt(p.port, 400).resolve4('svc.test')), 'ETIMEOUT');
  }));
  const dropped = faultsOf(p.name);
  assert.ok(dropped.length >= 3 && dropped.every((e) => e.action === 'dropped' && e.detail.name === 'svc.test'));
  assert.equal(dropped.slice(0, 2).map((e) => e.detail.transport), ['udp', 'tcp']);
});

test('dns_ttl: every record of the upstream answer gets the TTL; NXDOMAIN SOA too', async () => {
  const p = await withToxics({ type: 'dns_ttl', attributes: { ttl: 5 } });
  assert.equal(await resolverAt(p.port).resolve4('svc.test', { ttl: true }), [{ address: '10.0.0.1', ttl: 5 }]);
  assert.equal(await resolverAt(p.port).resolve6('svc.test', { ttl: true }), [{ address: '2001:db8::1', ttl: 5 }]);
  const nx = await ask(p.port, 'missing.test', 'A', { transport: 'tcp' });
  assert.equal([rcode(nx), nx.packet?.authorities?.map((r) => (r as { ttl?: number }).ttl)], ['NXDOMAIN', [5]]);
  const events = faultsOf(p.name);
  assert.equal(events.map((e) => [e.action, e.detail.ttl, e.detail.records]), [['rewritten', 5, 1], ['rewritten', 5, 1], ['rewritten', 5, 1]]);
});

test('dns_answer: A gets the IPv4 addresses, AAAA the IPv6 ones, other types pass; the upstream is not asked', async () => {
  const p = await withToxics({ type: 'dns_answer', attributes: { addresses: ['10.9.9.9', '10.9.9.10', '2001:db8::9'], ttl: 7 } });
  assert.not.ok(await upstreamAsked('svc.test', async () => {
    assert.equal(await resolverAt(p.port).resolve4('svc.test', { ttl: true }), [{ address: '10.9.9.9', ttl: 7 }, { address: '10.9.9.10', ttl: 7 }]);
    assert.equal(await resolverAt(p.port).resolve6('svc.test', { ttl: true }), [{ address: '2001:db8::9', ttl: 7 }]);
  }));
  assert.equal(await resolverAt(p.port).resolveTxt('svc.test'), [['hi']], 'TXT passes untouched');
  const events = faultsOf(p.name);
  assert.equal(events.map((e) => [e.action, e.detail.qtype, e.detail.addresses, e.detail.ttl]),
    [['rewritten', 'A', '10.9.9.9,10.9.9.10', 7], ['rewritten', 'AAAA', '2001:db8::9', 7]]);
  // The name does not even have to exist upstream: the service "moved" somewhere new.
  assert.equal(datas(await ask(p.port, 'new.test', 'A')), ['10.9.9.9', '10.9.9.10']);
});

test('dns_truncate: TC over UDP with no records; the retry over TCP gets the real answer', async () => {
  const p = await withToxics({ type: 'dns_truncate' });
  const udp = await ask(p.port, 'svc.test', 'A', { edns: 1232 });
  assert.equal([udp.packet?.flag_tc, udp.packet?.answers, rcode(udp)], [true, [], 'NOERROR']);
  assert.ok(udp.packet?.additionals?.some((x) => x.type === 'OPT'), 'EDNS echoed');
  assert.ok(await upstreamAsked('svc.test', async () => {
    assert.equal(datas(await ask(p.port, 'svc.test', 'A', { transport: 'tcp' })), ['10.0.0.1']);
  }));
  assert.equal(await resolverAt(p.port).resolve4('svc.test'), ['10.0.0.1'], 'c-ares retries over TCP');
  const events = faultsOf(p.name);
  assert.equal(events.map((e) => [e.action, e.detail.transport]), [['truncated', 'udp'], ['truncated', 'udp']]);
});

test('matching: exact names in any case, *.suffix below the suffix only, qtype', async () => {
  const p = await withToxics(
    { type: 'dns_error', name: 'exact', attributes: { rcode: 'REFUSED', name: 'SVC.test.' } },
    { type: 'dns_error', name: 'below', attributes: { rcode: 'NXDOMAIN', name: '*.svc.test' } },
    { type: 'dns_answer', name: 'v6', attributes: { addresses: ['2001:db8::77'], qtype: 'AAAA', name: 'other.test' } },
  );
  assert.is(rcode(await ask(p.port, 'svc.test', 'A')), 'REFUSED');
  assert.is(rcode(await ask(p.port, 'Svc.Test', 'TXT')), 'REFUSED');
  assert.is(rcode(await ask(p.port, 'a.svc.test', 'A')), 'NXDOMAIN');
  assert.is(rcode(await ask(p.port, 'deep.a.svc.test', 'A')), 'NXDOMAIN');
  assert.equal(datas(await ask(p.port, 'other.test', 'A')), ['10.0.0.3'], 'A does not match qtype AAAA');
  assert.equal(datas(await ask(p.port, 'other.test', 'AAAA'), 'AAAA'), ['2001:db8::77']);
  assert.equal(datas(await ask(p.port, 'xsvc.test', 'A')), [], 'a longer label is not below the suffix');
  assert.is(rcode(await ask(p.port, 'xsvc.test', 'A')), 'NXDOMAIN');
  assert.ok(!faultsOf(p.name).some((e) => e.detail.name === 'xsvc.test'), 'xsvc.test was not matched, just unknown upstream');
  assert.equal(faultsOf(p.name).map((e) => e.toxic), ['exact', 'exact', 'below', 'below', 'v6']);
});

test('toxics added, updated and removed act from the next query', async () => {
  const p = await withToxics();
  assert.equal(datas(await ask(p.port, 'svc.test', 'A')), ['10.0.0.1']);
  await fl.toxic(p.name, { type: 'dns_answer', name: 'moved', attributes: { addresses: ['10.5.5.5'], ttl: 1 } });
  assert.equal(datas(await ask(p.port, 'svc.test', 'A')), ['10.5.5.5']);
  assert.is((await fl.api('POST', `/proxies/${p.name}/toxics/moved`, { attributes: { addresses: ['10.6.6.6'] } })).status, 200);
  assert.equal(datas(await ask(p.port, 'svc.test', 'A', { transport: 'tcp' })), ['10.6.6.6']);
  assert.is((await fl.api('DELETE', `/proxies/${p.name}/toxics/moved`)).status, 204);
  assert.equal(datas(await ask(p.port, 'svc.test', 'A')), ['10.0.0.1']);
});

/** 120 queries, alternately over UDP and TCP (`tcp`: all over TCP), through a fresh server
 *  seeded `seed` with a dns_error at toxicity 0.5: which were answered with the error, and the
 *  ids the upstream saw on the others (also drawn from the seed). */
async function pattern(seed: number, tcp: boolean): Promise<string> {
  return (await seeded(seed, tcp)).out;
}

async function seeded(seed: number, tcp: boolean): Promise<{ out: string; ids: number[] }> {
  const server = await startServer({ seed });
  try {
    const port = await dnsProxy(server, 'seeded', auth.address);
    await server.toxic('seeded', { type: 'dns_error', toxicity: 0.5, attributes: { rcode: 'REFUSED' } });
    await server.toxic('seeded', { type: 'dns_drop', toxicity: 0.1, attributes: { qtype: 'AAAA' } });
    let out = '';
    const from = auth.seen.length;
    for (let i = 0; i < 120; i++) {
      const a = await ask(port, i % 2 ? 'svc.test' : 'other.test', 'A', { transport: tcp || i % 2 === 0 ? 'tcp' : 'udp' });
      out += rcode(a) === 'REFUSED' ? 'x' : '.';
    }
    return { out, ids: auth.seen.slice(from).map((q) => q.id) };
  } finally {
    await server.close();
  }
}

test('seeded rolls: the same seed gives the same queries the error, whichever transport; another seed differs', async () => {
  const a = await pattern(7, false);
  assert.is(await pattern(7, false), a);
  assert.is(await pattern(7, true), a, 'per-query rolls do not depend on the transport');
  assert.is.not(await pattern(8, false), a);
  const ids = (await seeded(7, false)).ids;
  assert.equal((await seeded(7, false)).ids, ids, 'the ids asked upstream come from the seed too');
  assert.ok(ids.length > 30);
  const hit = [...a].filter((c) => c === 'x').length;
  assert.ok(hit > 30 && hit < 90, `${hit} of 120`);
});

test('events reach the store and the stream with the query, the toxic and what it did', async () => {
  const p = await withToxics({ type: 'dns_answer', name: 'move', attributes: { addresses: ['10.4.4.4'], ttl: 30, name: 'svc.test' } });
  await ask(p.port, 'svc.test', 'A');
  await storedEvents(fl, `kind=fault:injected&proxy=${p.name}`);
  await sleep(100); // one query, one event: nothing more arrives
  const stored = await storedEvents(fl, `kind=fault:injected&proxy=${p.name}`);
  assert.is(stored.length, 1, JSON.stringify(stored));
  assert.equal([stored[0].toxic, stored[0].type, stored[0].detail.addresses, stored[0].detail.name, stored[0].detail.qtype],
    ['move', 'dns_answer', '10.4.4.4', 'svc.test', 'A']);
});

const withDig = digTest(test);

withDig('dig sees each toxic: +notcp +ignore shows the TC flag, +tcp the real answer, rewritten TTLs', async () => {
  const t = await withToxics({ type: 'dns_truncate' }, { type: 'dns_ttl', attributes: { ttl: 42 } });
  const ignored = await dig(t.port, 'svc.test', 'A', ['+notcp', '+ignore']);
  assert.ok(ignored.flags.includes('tc'), ignored.text);
  assert.is(ignored.answers.length, 0);
  const retried = await dig(t.port, 'svc.test', 'A', ['+notcp']);
  assert.match(retried.text, /Truncated, retrying in TCP mode/);
  assert.equal(retried.answers.map((a) => [a.data, a.ttl]), [['10.0.0.1', 42]], retried.text);
  const e = await withToxics({ type: 'dns_error', attributes: { rcode: 'SERVFAIL', qtype: 'AAAA' } }, { type: 'dns_answer', attributes: { addresses: ['10.8.8.8'], ttl: 9 } });
  assert.is((await dig(e.port, 'svc.test', 'AAAA', ['+tcp'])).status, 'SERVFAIL');
  const moved = await dig(e.port, 'svc.test', 'A', ['+tcp']);
  assert.equal(moved.answers.map((a) => [a.data, a.ttl]), [['10.8.8.8', 9]], moved.text);
  const d = await withToxics({ type: 'dns_drop' });
  assert.is((await dig(d.port, 'svc.test', 'A', ['+time=1'])).status, 'none');
});

test.run();
