// dns proxies through the API, the CLI, the client library, scenarios and sessions: bad
// attributes named, where DNS toxics apply and where they do not, a proxy and its toxics kept
// across a restart, list attributes from the CLI, the typed client methods.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFile } from 'node:fs/promises';
import { startFaultline } from '../src/index.js';
import { authServer, type AuthServer } from './_helpers/dns.js';
import { ask, datas, dnsProxy, rcode } from './_helpers/dns-client.js';
import { cli } from './_helpers/cli.js';
import { portOf, startServer, type TestServer } from './_helpers/net.js';
import { tempDir } from './_helpers/persistence.js';

let fl: TestServer;
let auth: AuthServer;
test.before(async () => {
  auth = await authServer({ 'svc.test': [{ type: 'A', data: '10.0.0.1', ttl: 300 }] });
  fl = await startServer();
});
test.after(async () => {
  await fl.close();
  await auth.close();
});

const ttlOf = (a: object) => (a as { ttl?: number }).ttl;

function assertNames(res: { status: number; json: any; text: string }, field: RegExp, what: string): void {
  assert.is(res.status, 400, `${what}: ${res.text}`);
  assert.match(res.json.error, field, what);
}

test('bad attributes get a 400 naming the attribute and the reason', async () => {
  await dnsProxy(fl, 'bad', auth.address);
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['dns_error', { rcode: 'NOERROR' }, /attribute rcode must be one of NXDOMAIN, SERVFAIL, REFUSED/],
    ['dns_error', { name: 'bad name.test' }, /attribute name must be a DNS name .*bad label "bad name"/],
    ['dns_error', { name: '*' }, /attribute name must be a name or \*\.suffix/],
    ['dns_error', { name: 'a..b' }, /attribute name must be a DNS name/],
    ['dns_error', { name: 5 }, /attribute name must be a string/],
    ['dns_drop', { qtype: 'AXFR' }, /attribute qtype must be one of/],
    ['dns_delay', { latency: -1 }, /attribute latency must be at least 0/],
    ['dns_ttl', { ttl: 2 ** 31 }, /attribute ttl must be at most 2147483647/],
    ['dns_answer', { addresses: '10.0.0.2' }, /attribute addresses must be a JSON array of IP addresses/],
    ['dns_answer', { addresses: ['10.0.0.2', '300.1.1.1'] }, /attribute addresses must hold IPv4 or IPv6 addresses, got string "300.1.1.1" at index 1/],
    ['dns_answer', { addresses: Array.from({ length: 33 }, (_, i) => `10.0.0.${i}`) }, /attribute addresses must hold at most 32 addresses, got 33/],
    ['dns_answer', { ttl: 1.5 }, /attribute ttl must be an integer/],
  ];
  for (const [type, attributes, error] of cases) {
    assertNames(await fl.toxic('bad', { type, attributes }), error, `${type} ${JSON.stringify(attributes).slice(0, 60)}`);
  }
  assert.equal((await fl.api('GET', '/proxies/bad/toxics')).json, [], 'nothing refused was kept');
  assertNames(await fl.toxic('bad', { type: 'dns_error', toxicity: 2 }), /toxicity/, 'toxicity');
});

test('protocols: dns toxics only on dns proxies, and only dns toxics on them', async () => {
  await fl.proxy('plain', auth.address);
  assertNames(await fl.toxic('plain', { type: 'dns_error' }), /toxic dns_error does not apply to tcp proxies/, 'on tcp');
  await fl.api('POST', '/proxies', { name: 'web', listen: '127.0.0.1:0', upstream: auth.address, protocol: 'http' });
  assertNames(await fl.toxic('web', { type: 'dns_drop' }), /toxic dns_drop does not apply to http proxies/, 'on http');
  await dnsProxy(fl, 'names', auth.address);
  assertNames(await fl.toxic('names', { type: 'latency' }), /toxic latency does not apply to dns proxies/, 'tcp toxic on dns');
  assertNames(await fl.toxic('names', { type: 'http_abort' }), /toxic http_abort does not apply to dns proxies/, 'http toxic on dns');
  assertNames(await fl.api('POST', '/proxies/names', { protocol: 'udp' }), /protocol cannot change \(dns to udp\)/, 'change');
  const catalog = (await fl.api('GET', '/toxics')).json as any[];
  const dns = catalog.filter((t) => t.protocols.includes('dns')).map((t) => t.type);
  assert.equal(dns, ['dns_error', 'dns_delay', 'dns_drop', 'dns_ttl', 'dns_answer', 'dns_truncate']);
  const answer = catalog.find((t) => t.type === 'dns_answer');
  assert.equal([answer.attributes.addresses.kind, answer.attributes.name.format, answer.attributes.qtype.kind], ['list', 'domain', 'enum']);
});

test('a dns proxy and its toxics survive a restart, and act as before', async () => {
  const t = await tempDir();
  try {
    const first = await startServer({ db: t.file });
    const port = await dnsProxy(first, 'kept', auth.address);
    await first.toxic('kept', { type: 'dns_answer', name: 'moved', attributes: { addresses: ['10.7.7.7', '2001:db8::7'], ttl: 3, name: '*.svc.test' } });
    await first.toxic('kept', { type: 'dns_error', toxicity: 0.5, attributes: { rcode: 'NXDOMAIN', qtype: 'TXT' } });
    await first.close();
    const second = await startServer({ db: t.file });
    try {
      const proxy = (await second.api('GET', '/proxies/kept')).json;
      assert.equal([proxy.protocol, proxy.listen, proxy.toxics.length], ['dns', `127.0.0.1:${port}`, 2]);
      assert.equal(proxy.toxics[0].attributes, { addresses: ['10.7.7.7', '2001:db8::7'], ttl: 3, name: '*.svc.test', qtype: '' });
      assert.equal(datas(await ask(port, 'a.svc.test', 'A')), ['10.7.7.7']);
      assert.equal(datas(await ask(port, 'svc.test', 'A', { transport: 'tcp' })), ['10.0.0.1']);
    } finally {
      await second.close();
    }
  } finally {
    await t.remove();
  }
});

test('the client library: a dns proxy and a typed method per DNS toxic, name and ttl attributes under attributes', async () => {
  const faultline = await startFaultline({ seed: 3 });
  try {
    const proxy = await faultline.proxy({ name: 'lib', upstream: auth.address, protocol: 'dns' });
    assert.is(proxy.protocol, 'dns');
    const moved = await proxy.dnsAnswer({ addresses: ['10.3.3.3'], attributes: { name: 'svc.test', ttl: 60 } });
    assert.equal(moved.attributes, { addresses: ['10.3.3.3'], ttl: 60, name: 'svc.test', qtype: '' });
    const { packet } = await ask(proxy.port, 'svc.test', 'A');
    assert.equal(packet?.answers?.map((a) => [(a as { data: unknown }).data, ttlOf(a)]), [['10.3.3.3', 60]]);
    await moved.update({ attributes: { ttl: 5 } });
    assert.equal((await ask(proxy.port, 'svc.test', 'A')).packet?.answers?.map(ttlOf), [5]);
    await moved.remove();
    const error = await proxy.dnsError({ rcode: 'REFUSED', qtype: 'A', toxicity: 1 });
    assert.is(rcode(await ask(proxy.port, 'svc.test', 'A')), 'REFUSED');
    await error.remove();
    await proxy.dnsDelay({ latency: 1 });
    await proxy.dnsDrop({ qtype: 'MX' });
    await proxy.dnsTtl({ attributes: { ttl: 9 } });
    await proxy.dnsTruncate({ name: 'truncate_it' });
    assert.equal((await ask(proxy.port, 'svc.test', 'A', { transport: 'tcp' })).packet?.answers?.map(ttlOf), [9]);
    const misspelt = await proxy.dnsError({ rcod: 'x' } as never).then(() => 'added', (err: Error) => err.message);
    assert.match(misspelt, /dns_error toxic: cannot add "rcod"/);
  } finally {
    await faultline.close();
  }
});

test('the CLI creates dns proxies and takes addresses as a comma-separated list', async () => {
  const env = { FAULTLINE_URL: fl.url };
  const created = await cli(['create', 'viacli', '-l', '127.0.0.1:0', '-u', auth.address, '-p', 'dns'], env);
  assert.is(created.code, 0, created.stderr);
  const added = await cli(['toxic', 'add', 'viacli', '-t', 'dns_answer', '-a', 'addresses=10.0.0.2, 2001:db8::2', '-a', 'ttl=30', '-a', 'name=svc.test'], env);
  assert.is(added.code, 0, added.stderr);
  const toxic = (await fl.api('GET', '/proxies/viacli/toxics/dns_answer_downstream')).json;
  assert.equal(toxic.attributes, { addresses: ['10.0.0.2', '2001:db8::2'], ttl: 30, name: 'svc.test', qtype: '' });
  const inspect = await cli(['inspect', 'viacli'], env);
  assert.match(inspect.stdout, /protocol=dns/);
  const port = portOf((await fl.api('GET', '/proxies/viacli')).json.listen);
  assert.equal(datas(await ask(port, 'svc.test', 'A')), ['10.0.0.2']);
  const help = await cli(['toxic', 'add', '--help']);
  assert.match(help.stdout, /dns_answer +addresses=<list>,ttl=<s>,name=<domain>,qtype=<enum> +\(dns proxies\)/);
});

test('scenarios validate dns proxies and their toxics; a session exports them as it recorded them', async () => {
  const t = await tempDir();
  try {
    const file = `${t.dir}/dns.yaml`;
    await writeFile(file, [
      'title: dns faults', 'proxies:', '  - {name: resolver, protocol: dns, upstream: "127.0.0.1:53"}',
      'timeline:', '  - at: 0s', '    toxic: {proxy: resolver, type: dns_answer, attributes: {addresses: ["10.0.0.2"], ttl: 300, name: "*.svc.test"}}', '',
    ].join('\n'));
    const ok = await cli(['validate', file]);
    assert.equal([ok.code, ok.stdout], [0, 'ok: dns faults (1 step, 0s)\n'], ok.stderr);
    await writeFile(file, [
      'title: wrong', 'proxies:', '  - {name: resolver, protocol: dns, upstream: "127.0.0.1:53"}',
      'timeline:', '  - at: 0s', '    toxic: {proxy: resolver, type: latency}',
      '  - at: 0s', '    toxic: {proxy: resolver, type: dns_answer, attributes: {addresses: ["10.0.0.256"]}}', '',
    ].join('\n'));
    const bad = await cli(['validate', file]);
    assert.is(bad.code, 3, bad.stdout);
    assert.match(bad.stderr, /toxic type 'latency' does not apply to dns proxy 'resolver'/);
    assert.match(bad.stderr, /timeline\[1\]\.toxic\.attributes\.addresses: attribute addresses must hold IPv4 or IPv6 addresses/);
  } finally {
    await t.remove();
  }
  const started = await fl.api('POST', '/sessions', { name: 'dns session' });
  assert.is(started.status, 201, started.text);
  await dnsProxy(fl, 'recorded', auth.address);
  await fl.toxic('recorded', { type: 'dns_answer', name: 'move', attributes: { addresses: ['10.0.0.9'], ttl: 5 } });
  assert.is((await fl.api('POST', `/sessions/${started.json.id}/stop`)).status, 200);
  const yaml = (await fl.api('GET', `/sessions/${started.json.id}/scenario`)).text;
  assert.match(yaml, /\{ name: recorded, listen: [^,]+, upstream: [^,]+, protocol: dns \}/);
  assert.match(yaml, /type: dns_answer/);
  assert.match(yaml, /addresses:\s*(\[\s*"?10\.0\.0\.9"?\s*\]|\n\s*- "?10\.0\.0\.9"?)/);
});

test.run();
