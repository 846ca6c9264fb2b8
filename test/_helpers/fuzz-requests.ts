// Hostile requests for Toxiproxy's routes (the proxy and toxic API), for the API fuzz suite.
// Every generator returns a request that must be refused: a body with at least one defect the
// API checks before it changes anything, a name that is not in use, or a taken one (409). A
// valid field may ride along with the defect, so a check that ran after a change would show.

import {
  badName, badNumber, bodyFor, bodyRequest, oddSegment, unknownFields, wrongType,
  type FuzzRequest, type JsonKind, type Rng, type Semantic,
} from './fuzz-values.js';

export interface AttributeSpec { kind: string; min?: number; max?: number; values?: string[]; protocols?: string[] }
export interface CatalogEntry { type: string; protocols: string[]; attributes: Record<string, AttributeSpec> }

/** What the generators know of the server: its proxies' names, protocols and toxics, and the
 *  toxic catalog of GET /toxics. Nothing that varies from run to run (no ports), so a seed
 *  makes the same requests every time. */
export interface World {
  proxies: { name: string; protocol: 'tcp' | 'udp'; toxics: { name: string; type: string }[] }[];
  catalog: CatalogEntry[];
  /** Every proxy and toxic name in use. */
  taken: ReadonlySet<string>;
}

const MAX_MS = 2_147_483_647;
const BAD_ADDRESSES = [
  'localhost', 'a:b:c', 'host:99999', 'host:abc', 'host:-1', 'host:', '[::1', '[::1]', '[::1]x', '1.2.3.4:65536',
  'host:1e3', 'host: 80', '::1', ':::', '127.0.0.1', '127.0.0.1:0:0', '[]', ':', 'host:00000080', ' ', '\u0000',
];
const PROXY_FIELDS: Record<string, JsonKind> = {
  name: 'string', listen: 'string', upstream: 'string', enabled: 'boolean', protocol: 'string', idle_timeout: 'number', max_connections: 'number',
};
const TOXIC_FIELDS: Record<string, JsonKind> = { name: 'string', type: 'string', stream: 'string', toxicity: 'number', ttl: 'number' };

export const enc = encodeURIComponent;
const fresh = (rng: Rng, prefix = 'fz') => `${prefix}-${rng.int(1_000_000)}`;
const maybeUnknown = (rng: Rng) => (rng.chance(0.3) ? unknownFields(rng) : {});
const validNumber = (min: number, max: number) => (n: number) => Number.isInteger(n) && n >= min && n <= max;
const badAddress = (rng: Rng) => (rng.chance(0.05) ? 'x'.repeat(200_000 + rng.int(600_000)) : rng.pick(BAD_ADDRESSES));

/** A proxy body with one defect, for a create or an update of a proxy of `protocol`. A create
 *  may instead name a proxy in use, for a 409. */
export function proxyDefect(rng: Rng, world: World, mode: 'create' | 'update', protocol: 'tcp' | 'udp' = 'tcp'): Semantic {
  const body: Record<string, unknown> = mode === 'create'
    ? { name: fresh(rng), upstream: '127.0.0.1:9', listen: rng.pick(['127.0.0.1:0', undefined]), enabled: rng.pick([false, undefined]) }
    : rng.pick([{}, { enabled: false }, { upstream: '127.0.0.1:9' }, { listen: '127.0.0.1:0' }, { enabled: true, max_connections: 5 }]);
  const kinds = ['wrong type', 'bad upstream', 'bad listen', 'bad protocol', 'idle_timeout', 'bad max_connections'];
  if (mode === 'create') kinds.push('bad name', 'missing name', 'missing upstream', 'name taken');
  const kind = rng.pick(kinds);
  let status: number[] = [400];
  if (kind === 'wrong type') {
    const field = rng.pick(Object.keys(PROXY_FIELDS));
    body[field] = wrongType(rng, PROXY_FIELDS[field]!);
    return { value: { ...body, ...maybeUnknown(rng) }, label: `wrong type: ${field}` };
  }
  if (kind === 'bad upstream') body.upstream = rng.chance(0.2) ? '' : badAddress(rng);
  if (kind === 'bad listen') body.listen = badAddress(rng);
  if (kind === 'bad protocol') {
    body.protocol = mode === 'update'
      ? rng.pick(protocol === 'tcp' ? ['udp', 'UDP', 'sctp', ''] : ['tcp', 'TCP', 'sctp', ''])
      : rng.pick(['sctp', 'TCP', 'Udp', '', ' tcp', 'tcp\u0000', 'quic', 'x'.repeat(300)]);
  }
  if (kind === 'idle_timeout') {
    if (protocol === 'udp' && mode === 'update') body.idle_timeout = badNumber(rng, validNumber(1, MAX_MS));
    else if (mode === 'create' && rng.chance(0.5)) Object.assign(body, { protocol: 'udp', idle_timeout: badNumber(rng, validNumber(1, MAX_MS)) });
    else body.idle_timeout = rng.pick([1, 1000, 30_000]); // on a TCP proxy, any value is refused
  }
  if (kind === 'bad max_connections') body.max_connections = badNumber(rng, validNumber(0, 1_000_000));
  if (kind === 'bad name') body.name = badName(rng);
  if (kind === 'missing name') body.name = rng.pick([undefined, '']);
  if (kind === 'missing upstream') body.upstream = rng.pick([undefined, '']);
  if (kind === 'name taken') {
    body.name = rng.pick(world.proxies).name;
    status = [409];
  }
  return { value: { ...body, ...maybeUnknown(rng) }, label: kind, status };
}

/** A value that `spec` refuses for an attribute. */
function badAttribute(rng: Rng, spec: AttributeSpec): unknown {
  if (spec.kind === 'boolean') return wrongType(rng, 'boolean');
  if (spec.kind === 'enum') return rng.chance(0.5) ? wrongType(rng, 'string') : rng.pick(['', 'DROP', 'none', 'x'.repeat(1000), `${spec.values?.[0]} `]);
  const integer = spec.kind === 'integer';
  const min = spec.min ?? 0;
  const max = spec.max ?? (integer ? Number.MAX_SAFE_INTEGER : Infinity);
  return rng.chance(0.25) ? wrongType(rng, 'number')
    : badNumber(rng, (n) => Number.isFinite(n) && (!integer || Number.isInteger(n)) && n >= min && n <= max);
}

function applicable(world: World, protocol: string): CatalogEntry[] {
  return world.catalog.filter((t) => t.protocols.includes(protocol));
}

/** The attributes a toxic of `entry`'s type reads on a proxy of `protocol`. */
const attributeNames = (entry: CatalogEntry | undefined, protocol: string): string[] =>
  entry === undefined ? [] : Object.keys(entry.attributes).filter((a) => entry.attributes[a]!.protocols?.includes(protocol) ?? true);

function attributeDefect(rng: Rng, entry: CatalogEntry | undefined, protocol: string): { attributes: Record<string, unknown>; label: string } | null {
  const names = attributeNames(entry, protocol);
  if (entry === undefined || names.length === 0) return null;
  const name = rng.pick(names);
  return { attributes: { [name]: badAttribute(rng, entry.attributes[name]!) }, label: `bad attribute ${entry.type}.${name}` };
}

const toxicityValid = (n: number) => n >= 0 && n <= 1;
const ttlValid = (n: number) => Number.isInteger(n) && n >= 0 && n <= MAX_MS;

/** A toxic body with one defect: for a new toxic on `proxy`, or an update of `toxic` on it. */
export function toxicDefect(rng: Rng, world: World, proxy: World['proxies'][number], toxic?: { name: string; type: string }): Semantic {
  const types = applicable(world, proxy.protocol);
  const type = toxic?.type ?? rng.pick(types).type;
  const body: Record<string, unknown> = toxic !== undefined
    ? rng.pick([{}, { toxicity: 0.5 }, { attributes: {} }])
    : { name: fresh(rng, 'fzt'), type, stream: rng.pick(['upstream', 'downstream', 'UpStream', undefined]), toxicity: rng.pick([undefined, 0, 1]) };
  const kinds = ['bad toxicity', 'bad attributes', 'bad attribute', 'bad ttl', 'wrong type'];
  if (toxic === undefined) kinds.push('bad stream', 'unknown type', 'missing type', 'bad name', 'name taken', 'protocol');
  let kind = rng.pick(kinds);
  if (kind === 'protocol' && proxy.protocol === 'tcp') kind = 'bad stream';
  if (kind === 'name taken' && proxy.toxics.length === 0) kind = 'unknown type';
  let label = kind;
  let status: number[] = [400];
  switch (kind) {
    case 'bad toxicity': body.toxicity = badNumber(rng, toxicityValid); break;
    case 'bad attributes': body.attributes = rng.pick(['x', 5, [], true, [{}], '{}']); break;
    case 'bad attribute': {
      // A new toxic takes a type that has attributes on this protocol; an update has its own.
      const entry = toxic !== undefined ? world.catalog.find((t) => t.type === type)
        : rng.pick(types.filter((t) => attributeNames(t, proxy.protocol).length > 0));
      const defect = attributeDefect(rng, entry, proxy.protocol);
      if (defect === null) { body.toxicity = badNumber(rng, toxicityValid); label = 'bad toxicity'; break; }
      if (toxic === undefined) body.type = entry!.type;
      body.attributes = defect.attributes;
      label = defect.label;
      break;
    }
    case 'bad ttl': body.ttl = rng.chance(0.2) ? wrongType(rng, 'number') : badNumber(rng, ttlValid); break;
    case 'wrong type': {
      const field = rng.pick(Object.keys(TOXIC_FIELDS));
      body[field] = wrongType(rng, TOXIC_FIELDS[field]!);
      label = `wrong type: ${field}`;
      break;
    }
    case 'bad stream':
      body.stream = rng.pick(['up', 'both', '', ' upstream', 'upstream\u0000', 'downstreams', 'up\u017ftream', 'upstr\u0435am', 'x'.repeat(5000)]);
      break;
    case 'unknown type':
      body.type = rng.pick(['Latency', 'LATENCY', 'latency ', 'lat', '__proto__', 'constructor', 'toString', '', 'latency\u0000', 'http_abort', 'x'.repeat(800_000)]);
      break;
    case 'missing type': delete body.type; break;
    case 'bad name': body.name = badName(rng); break;
    case 'name taken': body.name = rng.pick(proxy.toxics).name; status = [409]; break;
    case 'protocol': body.type = rng.pick(world.catalog.filter((t) => !t.protocols.includes('udp'))).type; break;
  }
  return { value: { ...body, ...maybeUnknown(rng) }, label, status };
}

/** A path naming no proxy, or naming a proxy and no toxic. */
function missingPath(rng: Rng, world: World, toxics: boolean, toxicSegment: boolean): string {
  const proxy = world.proxies[rng.int(world.proxies.length)]!;
  if (!toxicSegment) return `/proxies/${oddSegment(rng, world.taken)}${toxics ? '/toxics' : ''}`;
  return rng.chance(0.3)
    ? `/proxies/${oddSegment(rng, world.taken)}/toxics/${enc(proxy.toxics[0]?.name ?? 'x')}`
    : `/proxies/${enc(proxy.name)}/toxics/${oddSegment(rng, world.taken)}`;
}

const notFound = (route: string, path: string, body?: string): FuzzRequest => ({
  route, label: 'name not in use', method: route.split(' ')[0]!, path, headers: {}, expect: { status: [404] },
  ...(body !== undefined ? { body: Buffer.from(body) } : {}),
});

/** A body that would be a valid change, sent where the name in the path is not in use. */
const HARMLESS = '{"enabled":false,"toxicity":0,"attributes":{"latency":1}}';

export const TOXIPROXY_GENERATORS: Record<string, (rng: Rng, world: World) => FuzzRequest> = {
  'POST /proxies': (rng, world) => bodyRequest('POST /proxies', '/proxies', bodyFor(rng, () => proxyDefect(rng, world, 'create'))),
  'POST /populate': (rng, world) => bodyRequest('POST /populate', '/populate', bodyFor(rng, () => {
    const entries: unknown[] = [];
    const n = rng.chance(0.05) ? 2000 : rng.int(4);
    for (let i = 0; i < n; i++) {
      // New names, or names in use, which a populate that went ahead would replace.
      entries.push({ name: rng.chance(0.5) ? fresh(rng) : rng.pick(world.proxies).name, upstream: '127.0.0.1:9', listen: '127.0.0.1:0' });
    }
    let bad = proxyDefect(rng, world, 'create');
    while (bad.status?.includes(409)) bad = proxyDefect(rng, world, 'create');
    entries.splice(rng.int(entries.length + 1), 0, rng.chance(0.1) ? rng.pick([1, 'x', null, [], true]) : bad.value);
    return { value: entries, label: `populate item: ${bad.label}` };
  }, { shapes: ['{}', '{"name":"fz","upstream":"127.0.0.1:9"}', '"x"', '1', 'true', 'null'] })),
  'GET /proxies/:proxy': (rng, world) => notFound('GET /proxies/:proxy', missingPath(rng, world, false, false)),
  'DELETE /proxies/:proxy': (rng, world) => notFound('DELETE /proxies/:proxy', missingPath(rng, world, false, false)),
  'GET /proxies/:proxy/toxics': (rng, world) => notFound('GET /proxies/:proxy/toxics', missingPath(rng, world, true, false)),
  'GET /proxies/:proxy/toxics/:toxic': (rng, world) => notFound('GET /proxies/:proxy/toxics/:toxic', missingPath(rng, world, true, true)),
  'DELETE /proxies/:proxy/toxics/:toxic': (rng, world) => notFound('DELETE /proxies/:proxy/toxics/:toxic', missingPath(rng, world, true, true)),
  ...Object.fromEntries(['POST', 'PATCH'].flatMap((method) => [
    [`${method} /proxies/:proxy`, (rng: Rng, world: World): FuzzRequest => {
      const route = `${method} /proxies/:proxy`;
      if (rng.chance(0.2)) return notFound(route, missingPath(rng, world, false, false), HARMLESS);
      const proxy = rng.pick(world.proxies);
      return bodyRequest(route, `/proxies/${enc(proxy.name)}`, bodyFor(rng, () => proxyDefect(rng, world, 'update', proxy.protocol)));
    }],
    [`${method} /proxies/:proxy/toxics/:toxic`, (rng: Rng, world: World): FuzzRequest => {
      const route = `${method} /proxies/:proxy/toxics/:toxic`;
      if (rng.chance(0.2)) return notFound(route, missingPath(rng, world, true, true), HARMLESS);
      const proxy = rng.pick(world.proxies.filter((p) => p.toxics.length > 0));
      const toxic = rng.pick(proxy.toxics);
      return bodyRequest(route, `/proxies/${enc(proxy.name)}/toxics/${enc(toxic.name)}`, bodyFor(rng, () => toxicDefect(rng, world, proxy, toxic)));
    }],
  ])),
  'POST /proxies/:proxy/toxics': (rng, world) => {
    if (rng.chance(0.15)) return notFound('POST /proxies/:proxy/toxics', missingPath(rng, world, true, false), '{"type":"latency"}');
    const proxy = rng.pick(world.proxies);
    return bodyRequest('POST /proxies/:proxy/toxics', `/proxies/${enc(proxy.name)}/toxics`, bodyFor(rng, () => toxicDefect(rng, world, proxy)));
  },
};
