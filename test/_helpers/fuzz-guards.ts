// Hostile requests that every route shares, for the API fuzz suite: browsers (Toxiproxy's
// guard answers them in plain text, even for a request that would be a valid change), wrong
// methods, paths that name no route, and the dashboard's static pages (odd file names, wrong
// methods, a Host a rebinding site would send).

import { ROUTES } from '../../src/api/routes.js';
import { enc, type World } from './fuzz-requests.js';
import { deepJson, oddSegment, type FuzzRequest, type Rng } from './fuzz-values.js';

const COMPILED = ROUTES.map((r) => ({
  key: `${r.method} ${r.path}`, method: r.method, path: r.path,
  pattern: new RegExp(`^${r.path.replace(/:(\w+)/g, '([^/]+)')}$`),
}));

/** Every route of the table, as `METHOD /path/:param`. */
export const ROUTE_KEYS: readonly string[] = COMPILED.map((c) => c.key);

/** The methods the table serves at `path` (query excluded), as http.ts matches them. */
export function methodsAt(path: string): Set<string> {
  const bare = path.split('?')[0]!;
  return new Set(COMPILED.filter((c) => c.pattern.test(bare)).map((c) => c.method));
}

const isDashboard = (path: string) => path === '/' || path === '/dashboard' || path.startsWith('/dashboard/');

/** A concrete path for a route's pattern, naming a proxy and toxic in use where it has them. */
function fill(rng: Rng, world: World, pattern: string): string {
  const proxy = rng.pick(world.proxies.filter((p) => p.toxics.length > 0));
  return pattern
    .replace(':proxy', enc(proxy.name))
    .replace(':toxic', enc(rng.pick(proxy.toxics).name))
    .replace(':id', 'fz-none')
    .replace(':name', 'ok.yaml');
}

// What a page would send: changes the API would make for any other client.
const BROWSER_BODIES: Record<string, string> = {
  'POST /proxies': '{"name":"fz-browser","upstream":"127.0.0.1:9","listen":"127.0.0.1:0"}',
  'POST /populate': '[{"name":"fz-browser","upstream":"127.0.0.1:9","listen":"127.0.0.1:0"}]',
  'POST /proxies/:proxy': '{"enabled":false}',
  'PATCH /proxies/:proxy': '{"enabled":false}',
  'POST /proxies/:proxy/toxics': '{"type":"latency","name":"fz-browser"}',
  'POST /proxies/:proxy/toxics/:toxic': '{"toxicity":0}',
  'PATCH /proxies/:proxy/toxics/:toxic': '{"toxicity":0}',
  'POST /scenarios/runs': JSON.stringify({ scenario: 'title: T\ntimeline: []\n' }),
  'PUT /scenarios/runs/:id': '{"id":"fz-none"}',
};

const BROWSER_HEADERS: readonly Record<string, string>[] = [
  { 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0' },
  { 'User-Agent': 'Mozilla/4.0' },
  { 'User-Agent': 'Mozilla/' },
  { Origin: 'http://evil.example' },
  { Origin: 'null', 'User-Agent': 'curl/8.0' },
  { 'User-Agent': 'Mozilla/5.0', Origin: 'http://127.0.0.1', 'X-Faultline-Token': 'not-the-token' },
];

/** A browser's request to `key`'s route: refused by the guard before anything else. */
export function browserRequest(rng: Rng, world: World, key: string): FuzzRequest {
  const [method, pattern] = key.split(' ') as [string, string];
  const body = BROWSER_BODIES[key];
  return {
    route: key, label: 'browser', method, path: fill(rng, world, pattern), headers: { ...rng.pick(BROWSER_HEADERS) },
    ...(body !== undefined ? { body: Buffer.from(body) } : {}), expect: { status: [403], browser: true },
  };
}

const PATTERNS = [...new Set(ROUTES.map((r) => r.path))];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'];

export function wrongMethod(rng: Rng, world: World): FuzzRequest {
  const pattern = rng.pick(PATTERNS);
  const path = fill(rng, world, pattern);
  const method = rng.pick(METHODS.filter((m) => !methodsAt(path).has(m)));
  const body = method === 'GET' || method === 'TRACE' || rng.chance(0.6) ? undefined
    : Buffer.from(rng.chance(0.5) ? deepJson(rng, 10_000) : '{"name":"fz","upstream":"127.0.0.1:9"}');
  return { route: 'wrong method', label: `${method} ${pattern}`, method, path, headers: {}, ...(body ? { body } : {}), expect: { status: [405] } };
}

const NO_ROUTE = [
  '/proxies/', '/proxies//toxics', '/PROXIES', '/Proxies/alpha', '/proxies/alpha/toxics/lat/extra', '/v2/proxies', '/events/',
  '/sessions/x/stop/now', '/%2e%2e/proxies', '/proxies%2Falpha', '/toxics/latency', '/version/', '/reset/', '/populate/x',
  '/dashboardx', '/metrics/', '/scenarios', '/scenarios/runs/a/b', '/sessions/', '//', '/%00', '/.env', '/..',
  '/proxies/alpha/toxics/', '/proxies/alpha/', '/proxies/%2F/toxics/x/y', '/proxies/alpha/toxics/lat/../..',
];

export function unknownRoute(rng: Rng, world: World): FuzzRequest {
  for (;;) {
    const path = rng.chance(0.6) ? rng.pick(NO_ROUTE) : `/${oddSegment(rng, world.taken)}${rng.pick(['', '/', '/x', '?a=1'])}`;
    if (methodsAt(path).size > 0 || isDashboard(path.split('?')[0]!)) continue;
    const method = rng.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH']);
    return { route: 'unknown route', label: 'no such route', method, path, headers: {}, expect: { status: [404] } };
  }
}

// Never the names of files the folder holds (index.html, README.md, tsconfig.json, js/...).
const NOT_A_PAGE = [
  '..', '%2e%2e', '..%2f..%2fpackage.json', '%2e%2e%2f%2e%2e%2fpackage.json', '.env', '.git%2Fconfig', 'index.html%00',
  'index.html/', 'js/..%2F..%2Fpackage.json', 'vendor/..%2F..%2F..%2Fpackage.json', '....//....//package.json', '/index.html',
  '%ED%A0%80', 'a'.repeat(300), 'index.html%20', 'INDEX.HTML', 'index.htm', 'vendor/uplot.js%00', 'vendor%2Fuplot.js',
  'js%2F..%2F..%2Fsrc%2Fserver.ts', '..\\..\\package.json', 'js', 'js/', 'vendor/', 'vendor/../../package.json', '%',
];
const BAD_HOSTS = ['evil.example', 'evil.example:80', 'attacker.test:1234', '127.0.0.1.evil.example', 'localhost.evil', '[::1', 'user@127.0.0.1', '127.0.0.1/x', ''];

export function dashboardRequest(rng: Rng): FuzzRequest {
  const kind = rng.pick(['file', 'file', 'method', 'host']);
  if (kind === 'file') {
    const name = rng.chance(0.8) ? rng.pick(NOT_A_PAGE) : `nx-${rng.int(1000)}.js`;
    return { route: 'dashboard', label: 'not a page', method: 'GET', path: `/dashboard/${name}`, headers: {}, expect: { status: [404] } };
  }
  if (kind === 'method') {
    const method = rng.pick(['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
    const path = rng.pick(['/', '/dashboard', '/dashboard/', '/dashboard/index.html', '/dashboard/nx.js']);
    return { route: 'dashboard', label: 'method', method, path, headers: {}, ...(rng.chance(0.5) ? { body: Buffer.from('{"a":1}') } : {}), expect: { status: [405] } };
  }
  const path = rng.pick(['/dashboard/', '/dashboard/index.html', '/']);
  return { route: 'dashboard', label: 'host not allowed', method: 'GET', path, headers: { Host: rng.pick(BAD_HOSTS) }, expect: { status: [403] } };
}

/** What Node's HTTP parser refuses before any route runs: a byte past ASCII in the request line,
 *  a URL or a header past its 16 KiB limit. The API's contract holds for these too. */
export function requestLine(rng: Rng, world: World): FuzzRequest {
  const proxy = enc(rng.pick(world.proxies).name);
  const [label, path, headers] = rng.pick<[string, string, Record<string, string>]>([
    ['byte past ASCII in the path', rng.pick(['/proxies/caf\u00e9', `/proxies/${proxy}/toxics/\u00ff`, '/sessions/\u00e9t\u00e9', '/\u00e9']), {}],
    ['byte past ASCII in the query', '/events?proxy=caf\u00e9', {}],
    ['URL past 16 KiB', rng.pick([`/proxies/${'a'.repeat(20_000)}`, `/events?proxy=${'a'.repeat(20_000)}`]), {}],
    ['header past 16 KiB', `/proxies/${proxy}`, { 'X-Fuzz': 'h'.repeat(20_000) }],
  ]);
  return { route: 'request line', label, method: 'GET', path, headers, expect: { status: [400, 404, 414, 431] } };
}
