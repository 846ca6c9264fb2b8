// The toxic endpoints of the Toxiproxy v2 API: list order, create (200, every attribute filled
// in, `attributes` first, default names and streams), the error strings and the order in which
// they win, show, merge-updates, delete, and faultline's GET /toxics catalog extension.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { TestServer } from './_helpers/net.js';
import { assertError, withServer } from './_helpers/api.js';
import { TOXICS } from '../toxics/index.js';

/** Toxiproxy's toxics and their attributes on a TCP proxy, exactly as Toxiproxy shows them. */
const TYPES: Record<string, string[]> = {
  latency: ['latency', 'jitter'],
  bandwidth: ['rate'],
  slow_close: ['delay'],
  timeout: ['timeout'],
  reset_peer: ['timeout'],
  slicer: ['average_size', 'size_variation', 'delay'],
  limit_data: ['bytes'],
  noop: [],
};

/** A server with proxy `p` to the echo upstream. */
const withProxy = (fn: (server: TestServer) => Promise<void>) => withServer(async (server, echo) => {
  await server.proxy('p', echo.address);
  await fn(server);
});

const names = async (server: TestServer) => (await server.api('GET', '/proxies/p/toxics')).json.map((t: any) => t.name);

test('GET toxics is [] when empty; 404 proxy not found for a missing proxy', () => withProxy(async (server) => {
  const res = await server.api('GET', '/proxies/p/toxics');
  assert.is(res.status, 200);
  assert.is(res.text, '[]');
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  assertError(await server.api('GET', '/proxies/nope/toxics'), 404, 'proxy not found');
  assertError(await server.api('GET', '/proxies/nope/toxics/x'), 404, 'proxy not found');
  assertError(await server.api('DELETE', '/proxies/nope/toxics/x'), 404, 'proxy not found');
}));

test('POST toxic: 200 (not 201), exact JSON with attributes first and defaults filled in', () => withProxy(async (server) => {
  const res = await server.toxic('p', { type: 'latency' });
  assert.is(res.status, 200);
  assert.is(res.text, '{"attributes":{"latency":0,"jitter":0},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}');
  assert.match(res.headers.get('x-toxiproxy-request-id') ?? '', /^[0-9a-v]{20}$/);
  const full = await server.toxic('p', {
    name: 'slow', type: 'latency', stream: 'upstream', toxicity: 0.5, attributes: { latency: 100, unknown: 3 },
  });
  assert.is(full.status, 200);
  assert.is(full.text, '{"attributes":{"latency":100,"jitter":0},"name":"slow","type":"latency","stream":"upstream","toxicity":0.5}');
  const shown = await server.api('GET', '/proxies/p');
  assert.equal(shown.json.toxics, [full.json, res.json]);
}));

test('every toxic type fills in all of its attributes, matching the catalog defaults', () => withProxy(async (server) => {
  const catalog = (await server.api('GET', '/toxics')).json as any[];
  for (const [type, attrs] of Object.entries(TYPES)) {
    const res = await server.toxic('p', { type, attributes: null });
    assert.is(res.status, 200, `${type}: ${res.text}`);
    assert.ok(res.text.startsWith('{"attributes":'), res.text);
    assert.equal(Object.keys(res.json.attributes), attrs, type);
    const entry = catalog.find((c) => c.type === type);
    const defaults = Object.fromEntries(attrs.map((a) => [a, entry.attributes[a].default]));
    assert.equal(res.json.attributes, defaults, type);
    assert.equal([res.json.name, res.json.type, res.json.stream, res.json.toxicity], [`${type}_downstream`, type, 'downstream', 1]);
  }
  assert.equal((await server.api('GET', '/proxies/p/toxics/noop_downstream')).json.attributes, {});
}));

test('stream: case-insensitive and echoed as sent; "" and unknown streams are 400', () => withProxy(async (server) => {
  const res = await server.toxic('p', { type: 'latency', stream: 'UpStream', attributes: { latency: 1 } });
  assert.is(res.status, 200);
  assert.equal([res.json.name, res.json.stream], ['latency_UpStream', 'UpStream']);
  const down = await server.toxic('p', { type: 'latency', stream: 'DOWNSTREAM' });
  assert.equal([down.json.name, down.json.stream], ['latency_DOWNSTREAM', 'DOWNSTREAM']);
  // An upstream toxic lists before a downstream one, whatever the spelling.
  await server.toxic('p', { type: 'noop', name: 'first-down', stream: 'downstream' });
  assert.equal(await names(server), ['latency_UpStream', 'latency_DOWNSTREAM', 'first-down']);
  const msg = 'stream was invalid, can be either upstream or downstream';
  assertError(await server.toxic('p', { type: 'latency', stream: '' }), 400, msg);
  assertError(await server.toxic('p', { type: 'latency', stream: 'sideways' }), 400, msg);
  // The stream is checked before the type.
  assertError(await server.toxic('p', { type: 'nope', stream: 'both' }), 400, msg);
  assert.is((await names(server)).length, 3);
}));

test('type: unknown, missing or "down" gives 400 invalid toxic type', () => withProxy(async (server) => {
  for (const body of [{ type: 'nope' }, {}, { type: 'down' }, { type: '' }, { type: 'LATENCY' }]) {
    assertError(await server.toxic('p', body), 400, 'invalid toxic type');
  }
  assert.equal(await names(server), []);
}));

test('names are unique across both streams: 409 toxic already exists', () => withProxy(async (server) => {
  assert.is((await server.toxic('p', { name: 'x', type: 'latency', stream: 'upstream' })).status, 200);
  assertError(await server.toxic('p', { name: 'x', type: 'latency', stream: 'downstream' }), 409, 'toxic already exists');
  assertError(await server.toxic('p', { name: 'x', type: 'bandwidth', stream: 'upstream' }), 409, 'toxic already exists');
  assert.is((await server.toxic('p', { type: 'latency' })).status, 200);
  assertError(await server.toxic('p', { type: 'latency' }), 409, 'toxic already exists');
  assert.equal(await names(server), ['x', 'latency_downstream']);
}));

test('proxy not found is checked before the body is parsed', () => withServer(async (server) => {
  assertError(await server.api('POST', '/proxies/nope/toxics', '{not json'), 404, 'proxy not found');
  assertError(await server.api('POST', '/proxies/nope/toxics', ''), 404, 'proxy not found');
  assertError(await server.api('PATCH', '/proxies/nope/toxics/x', '{not json'), 404, 'proxy not found');
}));

test('list order: upstream toxics first, then downstream, each in insertion order', () => withProxy(async (server) => {
  const add = [['d1', 'downstream'], ['u1', 'upstream'], ['d2', 'downstream'], ['u2', 'upstream'], ['d0', 'downstream']];
  for (const [name, stream] of add) assert.is((await server.toxic('p', { name, stream, type: 'noop' })).status, 200);
  const order = ['u1', 'u2', 'd1', 'd2', 'd0'];
  assert.equal(await names(server), order);
  assert.equal((await server.api('GET', '/proxies/p')).json.toxics.map((t: any) => t.name), order);
  assert.equal((await server.api('GET', '/proxies')).json.p.toxics.map((t: any) => t.name), order);
}));

test('GET one toxic: 200 with the object, 404 toxic not found', () => withProxy(async (server) => {
  const created = await server.toxic('p', { name: 'a b', type: 'bandwidth', attributes: { rate: 100 } });
  const res = await server.api('GET', '/proxies/p/toxics/a%20b');
  assert.is(res.status, 200);
  assert.is(res.text, created.text);
  assert.equal(res.json, { attributes: { rate: 100 }, name: 'a b', type: 'bandwidth', stream: 'downstream', toxicity: 1 });
  assertError(await server.api('GET', '/proxies/p/toxics/nope'), 404, 'toxic not found');
}));

test('UDP-only attributes: bandwidth queue shows on UDP, and on TCP is ignored on input and never shown', () => withServer(async (server, echo) => {
  await server.proxy('p', echo.address);
  const udp = await server.api('POST', '/proxies', { name: 'u', listen: '127.0.0.1:0', upstream: echo.address, protocol: 'udp' });
  assert.is(udp.status, 201);
  const onUdp = await server.toxic('u', { type: 'bandwidth', attributes: { rate: 5 } });
  assert.is(onUdp.text, '{"attributes":{"rate":5,"queue":100},"name":"bandwidth_downstream","type":"bandwidth","stream":"downstream","toxicity":1}');
  assert.equal((await server.api('PATCH', '/proxies/u/toxics/bandwidth_downstream', { attributes: { queue: 7 } })).json.attributes, { rate: 5, queue: 7 });
  assertError(await server.toxic('u', { name: 'bad', type: 'bandwidth', attributes: { queue: 0 } }), 400, /queue/);
  // On TCP, as Toxiproxy treats keys it does not know: accepted, not validated, not kept.
  for (const queue of [5, -1, 'x']) {
    const res = await server.toxic('p', { name: `q${queue}`, type: 'bandwidth', attributes: { rate: 3, queue } });
    assert.is(res.text, `{"attributes":{"rate":3},"name":"q${queue}","type":"bandwidth","stream":"downstream","toxicity":1}`);
  }
  const patched = await server.api('PATCH', '/proxies/p/toxics/q5', { attributes: { rate: 4, queue: 9 } });
  assert.equal(patched.json.attributes, { rate: 4 });
  assert.equal((await server.api('GET', '/proxies/p')).json.toxics.map((t: any) => t.attributes), [{ rate: 4 }, { rate: 3 }, { rate: 3 }]);
  assert.equal((await server.api('GET', '/proxies/u')).json.toxics.map((t: any) => t.attributes), [{ rate: 5, queue: 7 }]);
}));

test('"stream": null is absent, as in Toxiproxy: downstream on create, unchanged on update', () => withProxy(async (server) => {
  const res = await server.toxic('p', { type: 'latency', stream: null, name: null, toxicity: null });
  assert.is(res.status, 200, res.text);
  assert.equal([res.json.name, res.json.stream, res.json.toxicity], ['latency_downstream', 'downstream', 1]);
  await server.toxic('p', { name: 'up', type: 'latency', stream: 'upstream' });
  const updated = await server.api('POST', '/proxies/p/toxics/up', { stream: null, attributes: { latency: 5 } });
  assert.is(updated.status, 200, updated.text);
  assert.equal([updated.json.stream, updated.json.attributes.latency], ['upstream', 5]);
  assertError(await server.toxic('p', { type: 'latency', stream: 3 }), 400, 'bad request body: field stream must be a string, got number');
}));

test('update (POST and PATCH) merges attributes, changes toxicity only when given, ignores name/type/stream', () => withProxy(async (server) => {
  await server.toxic('p', { name: 'lat', type: 'latency', toxicity: 0.5, attributes: { latency: 100, jitter: 10 } });
  const a = await server.api('PATCH', '/proxies/p/toxics/lat', { attributes: { latency: 200 } });
  assert.is(a.status, 200);
  assert.is(a.text, '{"attributes":{"latency":200,"jitter":10},"name":"lat","type":"latency","stream":"downstream","toxicity":0.5}');
  const b = await server.api('POST', '/proxies/p/toxics/lat', { toxicity: 0.25 });
  assert.equal(b.json, { attributes: { latency: 200, jitter: 10 }, name: 'lat', type: 'latency', stream: 'downstream', toxicity: 0.25 });
  const c = await server.api('POST', '/proxies/p/toxics/lat', {
    name: 'other', type: 'bandwidth', stream: 'upstream', attributes: { rate: 5, jitter: 0 },
  });
  assert.equal(c.json, { attributes: { latency: 200, jitter: 0 }, name: 'lat', type: 'latency', stream: 'downstream', toxicity: 0.25 });
  const d = await server.api('PATCH', '/proxies/p/toxics/lat', {});
  assert.equal(d.json, c.json);
  assert.equal((await server.api('GET', '/proxies/p/toxics/lat')).json, c.json);
  assert.equal(await names(server), ['lat']);
  assertError(await server.api('GET', '/proxies/p/toxics/other'), 404, 'toxic not found');
  assertError(await server.api('PATCH', '/proxies/p/toxics/nope', { toxicity: 1 }), 404, 'toxic not found');
  assertError(await server.api('PATCH', '/proxies/p/toxics/lat', ''), 400, 'bad request body: EOF');
}));

test('DELETE toxic: 204 with an empty body, then 404', () => withProxy(async (server) => {
  await server.toxic('p', { type: 'latency', stream: 'upstream' });
  await server.toxic('p', { type: 'latency' });
  const res = await server.api('DELETE', '/proxies/p/toxics/latency_upstream');
  assert.is(res.status, 204);
  assert.is(res.text, '');
  assert.equal(await names(server), ['latency_downstream']);
  assertError(await server.api('GET', '/proxies/p/toxics/latency_upstream'), 404, 'toxic not found');
  assertError(await server.api('DELETE', '/proxies/p/toxics/latency_upstream'), 404, 'toxic not found');
  // The freed name can be used again.
  assert.is((await server.toxic('p', { type: 'latency', stream: 'upstream' })).status, 200);
}));

/** The toxics issue 3 added, with the attributes it specifies (later issues may add more). */
const NEW_TYPES: Record<string, string[]> = {
  packet_loss: ['loss_rate', 'correlation', 'mode', 'rto'],
  duplicate: ['probability'],
  reorder: ['probability', 'gap', 'max_delay'],
  corrupt: ['probability', 'bits'],
  half_open: [],
  partition: ['drop'],
  slow_open: ['delay'],
  limit_time: ['duration'],
};

/** Issue 13's request toxics: their own attributes, then the match attributes all share. */
const HTTP_TYPES: Record<string, string[]> = {
  http_abort: ['status', 'body', 'when', 'grpc_status', 'method', 'path', 'header', 'first'],
  http_delay: ['latency', 'jitter', 'when', 'method', 'path', 'header', 'first'],
  http_reset: ['when', 'code', 'method', 'path', 'header', 'first'],
};

/** Issue 14's DNS toxics: their own attributes, then the match attributes all share. */
const DNS_TYPES: Record<string, string[]> = {
  dns_error: ['rcode', 'name', 'qtype'],
  dns_delay: ['latency', 'jitter', 'name', 'qtype'],
  dns_drop: ['name', 'qtype'],
  dns_ttl: ['ttl', 'name', 'qtype'],
  dns_answer: ['addresses', 'ttl', 'name', 'qtype'],
  dns_truncate: ['name', 'qtype'],
};

test('GET /toxics: a catalog of every type with attribute units, defaults, descriptions and protocols', () => withServer(async (server) => {
  const res = await server.api('GET', '/toxics');
  assert.is(res.status, 200);
  const catalog = res.json as any[];
  // Exactly the registry, in its order: the 8 Toxiproxy types, the 8 of issue 3, the 3 HTTP
  // ones, the 6 DNS ones.
  assert.equal(catalog.map((c) => c.type), TOXICS.map((d) => d.type));
  assert.equal(catalog.map((c) => c.type).sort(), [...Object.keys(TYPES), ...Object.keys(NEW_TYPES), ...Object.keys(HTTP_TYPES), ...Object.keys(DNS_TYPES)].sort());
  assert.is(catalog.length, 25);
  for (const entry of catalog) {
    const def = TOXICS.find((d) => d.type === entry.type)!;
    assert.equal(Object.keys(entry.attributes), Object.keys(def.attributes), `${entry.type}: the definition's attributes, in order`);
    // Every attribute Toxiproxy (TYPES), issue 3 (NEW_TYPES), issue 13 (HTTP_TYPES) or issue 14
    // (DNS_TYPES) specifies, in that order.
    const specified = TYPES[entry.type] ?? NEW_TYPES[entry.type] ?? HTTP_TYPES[entry.type] ?? DNS_TYPES[entry.type] ?? [];
    assert.equal(Object.keys(entry.attributes).filter((a) => specified.includes(a)), specified, entry.type);
    if (entry.type in HTTP_TYPES) assert.equal(entry.protocols, ['http'], `${entry.type} protocols`);
    else if (entry.type in DNS_TYPES) assert.equal(entry.protocols, ['dns'], `${entry.type} protocols`);
    else assert.ok(Array.isArray(entry.protocols) && entry.protocols.includes('tcp'), `${entry.type} protocols`);
    assert.ok(entry.protocols.every((p: string) => p === 'tcp' || p === 'udp' || p === 'http' || p === 'dns'), `${entry.type} protocols`);
    assert.type(entry.description, 'string');
    assert.ok(entry.description.length > 0, `${entry.type} description`);
    for (const [name, spec] of Object.entries<any>(entry.attributes)) {
      const what = `${entry.type}.${name}`;
      assert.type(spec.description, 'string', `${what}.description`);
      if (spec.kind === 'boolean') {
        assert.type(spec.default, 'boolean', `${what}.default`);
      } else if (spec.kind === 'enum') {
        assert.ok(Array.isArray(spec.values) && spec.values.includes(spec.default), `${what} enum default in values`);
      } else if (spec.kind === 'string') {
        assert.type(spec.default, 'string', `${what}.default`);
        assert.ok(['text', 'glob', 'header', 'methods', 'domain'].includes(spec.format), `${what}.format ${spec.format}`);
        assert.ok(Number.isInteger(spec.maxLength) && spec.maxLength > 0, `${what}.maxLength`);
      } else if (spec.kind === 'list') {
        assert.ok(Array.isArray(spec.default) && spec.format === 'ip' && Number.isInteger(spec.maxItems), `${what} list`);
      } else {
        assert.ok(spec.kind === 'integer' || spec.kind === 'number', `${what}.kind ${spec.kind}`);
        assert.type(spec.unit, 'string', `${what}.unit`);
        assert.ok(spec.unit.length > 0, `${what}.unit`);
        assert.type(spec.default, 'number', `${what}.default`);
      }
    }
  }
  const byType = Object.fromEntries(catalog.map((c) => [c.type, c]));
  assert.is(byType.latency.attributes.latency.unit, 'ms');
  assert.is(byType.latency.attributes.latency.default, 0);
  assert.is(byType.bandwidth.attributes.rate.unit, 'KB/s');
  // An attribute narrower than its toxic says where it applies; the others apply wherever it does.
  assert.equal(byType.bandwidth.protocols, ['tcp', 'udp']);
  assert.equal(byType.bandwidth.attributes.queue.protocols, ['udp']);
  assert.is(byType.bandwidth.attributes.rate.protocols, undefined);
  assert.match(byType.slicer.attributes.delay.unit, /^(µs|us|microseconds)$/);
  assert.is(byType.slow_close.attributes.delay.unit, 'ms');
  assert.is(byType.limit_data.attributes.bytes.unit, 'bytes');
  // The new toxics' attributes and defaults, as the issue specifies them.
  const pl = byType.packet_loss.attributes;
  assert.equal([pl.loss_rate.default, pl.correlation.default, pl.mode.default, pl.rto.default], [0, 0, 'drop', 200]);
  assert.equal([...pl.mode.values].sort(), ['drop', 'retransmit']);
  assert.is(pl.rto.unit, 'ms');
  assert.is(byType.reorder.attributes.gap.default, 1);
  assert.is(byType.reorder.attributes.max_delay.default, 100);
  assert.is(byType.reorder.attributes.max_delay.unit, 'ms');
  assert.is(byType.corrupt.attributes.bits.default, 1);
  assert.equal([byType.partition.attributes.drop.kind, byType.partition.attributes.drop.default], ['boolean', false]);
  assert.is(byType.slow_open.attributes.delay.unit, 'ms');
  assert.is(byType.limit_time.attributes.duration.unit, 'ms');
  assert.equal(byType.half_open.attributes, {});
}));

test.run();
