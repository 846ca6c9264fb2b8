// The seeded API fuzz suite: at least 1,000 hostile requests across every route (wrong types,
// huge and deep bodies, odd names, unknown fields, browsers, wrong methods), each of which must
// be refused with a 4xx JSON error (the browser guard's plain-text 403 aside) while the proxies
// keep their state, their listeners and a live connection's bytes. The requests are generated
// up front from one seed, so a seed replays a run exactly: FUZZ_SEED=<n> (or `random`) picks
// it, FUZZ_REQUESTS=<n> the count. Failures are collected, grouped by kind, and reported
// together with one request that reproduces each.

import { createHash } from 'node:crypto';
import http from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EXTENSION_GENERATORS } from './_helpers/fuzz-extensions.js';
import { browserRequest, dashboardRequest, requestLine, ROUTE_KEYS, unknownRoute, wrongMethod } from './_helpers/fuzz-guards.js';
import { TOXIPROXY_GENERATORS, type World } from './_helpers/fuzz-requests.js';
import { send, startRig, type Outcome } from './_helpers/fuzz-rig.js';
import { Rng, type FuzzRequest } from './_helpers/fuzz-values.js';

const SEED = process.env.FUZZ_SEED === 'random' ? Math.floor(Math.random() * 2 ** 32)
  : Number(process.env.FUZZ_SEED ?? 20_240_501) >>> 0;
const COUNT = Math.max(1000, Number(process.env.FUZZ_REQUESTS ?? 1200));
const CHECK_EVERY = 50;
const TIMEOUT_MS = 10_000;

const GENERATORS: Record<string, (rng: Rng, world: World) => FuzzRequest> = {
  ...TOXIPROXY_GENERATORS,
  ...EXTENSION_GENERATORS,
  'wrong method': wrongMethod,
  'unknown route': unknownRoute,
  'request line': requestLine,
  dashboard: (rng) => dashboardRequest(rng),
  browser: (rng, world) => browserRequest(rng, world, rng.pick(ROUTE_KEYS)),
};

// Routes that take no input: a browser or a wrong method is all there is to send them.
const NO_INPUT = ['POST /reset', 'GET /proxies', 'GET /version', 'GET /toxics', 'GET /connections', 'GET /routes', 'GET /metrics',
  'GET /scenarios/runs', 'GET /sessions', 'GET /scenarios/files'];

// Shares of the plan; the body-taking routes get the most.
const WEIGHTS: Record<string, number> = {
  'POST /proxies': 10, 'POST /populate': 5, 'POST /proxies/:proxy': 5, 'PATCH /proxies/:proxy': 5,
  'POST /proxies/:proxy/toxics': 11, 'POST /proxies/:proxy/toxics/:toxic': 5, 'PATCH /proxies/:proxy/toxics/:toxic': 5,
  'GET /events': 6, 'POST /scenarios/runs': 6, 'PUT /scenarios/runs/:id': 6, 'POST /sessions': 4,
  'GET /sessions/:id/scenario': 2, 'GET /scenarios/files/:name': 2, 'wrong method': 5, 'unknown route': 3, dashboard: 3, browser: 3,
};

/** The whole run, decided before the first request: every route's browser request, then each
 *  generator's share, shuffled. */
function plan(rng: Rng, world: World, count: number): FuzzRequest[] {
  const out = ROUTE_KEYS.map((key) => browserRequest(rng, world, key));
  const keys = Object.keys(GENERATORS);
  const total = keys.reduce((sum, k) => sum + (WEIGHTS[k] ?? 1), 0);
  const budget = count - out.length;
  for (const key of keys) {
    const n = Math.max(8, Math.ceil((budget * (WEIGHTS[key] ?? 1)) / total));
    for (let i = 0; i < n; i++) out.push(GENERATORS[key]!(rng, world));
  }
  return rng.shuffle(out);
}

/** What is wrong with an answer, or null. `kind` groups failures; `detail` shows this one. */
function judge(r: FuzzRequest, o: Outcome): { kind: string; detail: string } | null {
  if ('error' in o) return { kind: `no answer (${o.error.replace(/\d+/g, 'N')})`, detail: o.error };
  const text = o.body.toString('utf8');
  const shown = `${o.status} ${o.headers['content-type'] ?? '(no type)'} ${text.slice(0, 300)}`;
  const bad = (kind: string) => ({ kind, detail: shown });
  if (o.status >= 500) return bad(`${o.status}`);
  if (r.expect.browser) {
    if (o.status !== 403) return bad(`browser answered ${o.status}, not 403`);
    if (!/^text\/plain/.test(o.headers['content-type'] ?? '') || text !== 'User agent not allowed\n') return bad('browser 403 is not "User agent not allowed" in text/plain');
    return null;
  }
  if (!r.expect.status.includes(o.status)) return bad(`${o.status}, expected ${r.expect.status.join(' or ')}`);
  if (!/^application\/json/.test(o.headers['content-type'] ?? '')) return bad(`${o.status} is not JSON (${o.headers['content-type'] ?? 'no type'})`);
  let json: any;
  try { json = JSON.parse(text); } catch { return bad(`${o.status} body does not parse as JSON`); }
  if (typeof json?.error !== 'string' || json.status !== o.status || typeof json.code !== 'string' || !/^ERR_/.test(json.code)) {
    return bad('error body lacks error (string), status (= HTTP status) or code');
  }
  if (o.status === 405 && !(o.headers.allow ?? '').split(/,\s*/).every((m) => m !== '' && m !== r.method)) return bad('405 without a fitting Allow header');
  if (o.status === 413 && json.code !== 'ERR_BODY_TOO_LARGE') return bad(`413 with code ${json.code}`);
  if (r.expect.depth && !/nest|depth|deep/i.test(json.error)) return bad('deep body refused without naming the nesting limit');
  if (r.expect.issues && (o.status !== 400 || json.code !== 'ERR_INVALID_SCENARIO' || !Array.isArray(json.issues) || json.issues.length === 0)) {
    return bad('invalid scenario refused without its issues');
  }
  return null;
}

function describe(r: FuzzRequest): string {
  const body = r.body === undefined ? 'no body'
    : `${r.body.length} bytes${r.chunked ? ', chunked' : ''}: ${JSON.stringify(r.body.subarray(0, 160).toString('utf8'))}${r.body.length > 160 ? '...' : ''}`;
  const short = Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.length > 80 ? `${v.slice(0, 80)}... (${v.length} chars)` : v]));
  const headers = Object.keys(short).length > 0 ? ` ${JSON.stringify(short)}` : '';
  const path = r.path.length > 200 ? `${r.path.slice(0, 200)}... (${r.path.length} chars)` : r.path;
  return `${r.method} ${path}${headers} [${r.label}], ${body}`;
}

const tally = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

test(`API fuzz: ${COUNT}+ hostile requests from seed ${SEED} are refused and change nothing`, async () => {
  console.log(`api fuzz: seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
  const rig = await startRig();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const failures = new Map<string, { count: number; first: string }>();
  const fail = (kind: string, first: string) => {
    const f = failures.get(kind);
    if (f === undefined) failures.set(kind, { count: 1, first });
    else f.count++;
  };
  const byRoute = new Map<string, number>();
  const byStatus = new Map<string, number>();
  const slowest: { ms: number; what: string }[] = [];
  const started = performance.now();
  let requests: FuzzRequest[] = [];
  try {
    const missing = ROUTE_KEYS.filter((k) => GENERATORS[k] === undefined && !NO_INPUT.includes(k));
    assert.equal(missing, [], 'every route that takes input has a generator');
    requests = plan(new Rng(SEED), rig.world, COUNT);
    const hash = createHash('sha1');
    for (const r of requests) hash.update(`${r.method} ${r.path} ${JSON.stringify(r.headers)} ${r.chunked ?? false}\n`).update(r.body ?? '');
    console.log(`api fuzz: ${requests.length} requests planned, plan sha1 ${hash.digest('hex').slice(0, 12)}`);
    let base = await rig.snapshot();
    let since = 0;
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i]!;
      const o = await send(rig.server.url, agent, r, TIMEOUT_MS);
      tally(byRoute, r.route);
      slowest.push({ ms: o.ms, what: `#${i} ${r.route} [${r.label}]` });
      slowest.sort((a, b) => b.ms - a.ms).splice(3);
      tally(byStatus, 'error' in o ? 'no answer' : String(o.status));
      const problem = judge(r, o);
      if (problem !== null) fail(`${r.route} [${r.label.replace(/\d+/g, 'N')}]: ${problem.kind}`, `#${i} ${describe(r)} -> ${problem.detail}`);
      if ((i + 1) % CHECK_EVERY === 0 || i === requests.length - 1) {
        const problems = await rig.check(base, i);
        for (const p of problems) fail(`state check: ${p.split(':')[0]}`, `after requests #${since}..#${i}: ${p}`);
        if (problems.length > 0) base = await rig.snapshot(); // later changes are then told apart
        if (problems.some((p) => p.startsWith('GET /version'))) break; // the server is gone
        since = i + 1;
      }
    }
  } finally {
    agent.destroy();
    await rig.close();
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const obj = (m: Map<string, number>) => JSON.stringify(Object.fromEntries([...m].sort((a, b) => (a[0] < b[0] ? -1 : 1))));
  console.log(`api fuzz: seed ${SEED}, ${requests.length} requests in ${seconds} s; by route ${obj(byRoute)}; by status ${obj(byStatus)}; ` +
    `slowest ${slowest.map((s) => `${s.what} ${s.ms.toFixed(0)} ms`).join(', ')}; ` +
    `${[...failures.values()].reduce((s, f) => s + f.count, 0)} failures in ${failures.size} classes`);
  assert.ok(requests.length >= 1000, `${requests.length} requests`);
  for (const key of [...ROUTE_KEYS, 'wrong method', 'unknown route', 'request line', 'dashboard']) assert.ok(byRoute.has(key), `no request went to ${key}`);
  // uvu shows an assertion's message twice over; the list goes out once, before it.
  if (failures.size > 0) {
    console.log(`api fuzz: seed ${SEED}, failures by kind, each with the first request that showed it:\n` +
      [...failures].map(([kind, f]) => `- ${kind} (x${f.count})\n    ${f.first}`).join('\n'));
  }
  assert.is(failures.size, 0, `seed ${SEED}: ${failures.size} kinds of failure, listed above`);
});

test.run();
