// Bounded parsing: JSON bodies nest at most 64 levels (checked on the bytes before JSON.parse),
// scenarios are at most 128 KiB, 64 levels and 100 aliases (checked before the YAML composer
// runs), probe regexes at most 1,000 characters. Each gets a 4xx naming the limit. Inputs that
// used to end the process (deep YAML posted twice: a V8 fatal error) or answer 500 (deep JSON
// to PUT /scenarios/runs/{id}) are posted twice, and the server must still answer. Every route,
// given hostile parameters and bodies, answers below 500 with a JSON error.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { depthPast, MAX_JSON_DEPTH } from '../src/api/input.js';
import { ROUTES } from '../src/api/routes.js';
import { parseScenario } from '../src/scenario/parse.js';
import { SCENARIO_LIMITS } from '../src/scenario/read-yaml.js';
import { MAX_REGEX_CHARS } from '../src/scenario/validate-node.js';
import { cli } from './_helpers/cli.js';
import { startServer, type ApiResponse } from './_helpers/net.js';
import { tempDir } from './_helpers/persistence.js';

const nestedJson = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
const nestedArrays = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
const depthIssue = (res: ApiResponse) => (res.json?.issues ?? []).some((i: string) => i.endsWith('nested deeper than 64 levels; the limit is 64'));
const JSON_DEPTH = /^bad request body: JSON nested deeper than 64 levels \(at byte \d+\); the limit is 64$/;

/** A scenario with a tcp probe step, `extra` lines inserted before the timeline. */
const scenario = (extra: string[] = [], probe = '{name: p, tcp: {address: "127.0.0.1:9"}}') =>
  ['title: Limits', ...extra, 'timeline:', `  - {at: 0s, probe: ${probe}}`, ''].join('\n');

interface Bad { label: string; method: string; path: string; body: string; status: number; check(res: ApiResponse): boolean }

const issue = (text: string) => (res: ApiResponse) => res.json?.code === 'ERR_INVALID_SCENARIO' && res.json.issues.some((i: string) => i.includes(text));
const posted = (text: string) => JSON.stringify({ scenario: text });

const BAD: Bad[] = [
  { label: 'a scenario nested 1,000 levels deep (8 KB)', method: 'POST', path: '/scenarios/runs', body: posted(nestedJson(1000)), status: 400, check: depthIssue },
  { label: 'a block sequence nested 1,000 levels deep', method: 'POST', path: '/scenarios/runs', body: posted(`${'- '.repeat(1000)}a\n`), status: 400, check: depthIssue },
  { label: 'a run record nested 10,000 levels deep', method: 'PUT', path: '/scenarios/runs/deep', body: nestedJson(10_000), status: 400, check: (r) => JSON_DEPTH.test(r.json?.error) },
  { label: 'a proxy nested 10,000 levels deep', method: 'POST', path: '/proxies', body: nestedArrays(10_000), status: 400, check: (r) => JSON_DEPTH.test(r.json?.error) },
  { label: 'a populate nested 100,000 levels deep', method: 'POST', path: '/populate', body: nestedArrays(100_000), status: 400, check: (r) => JSON_DEPTH.test(r.json?.error) },
  { label: 'a session name nested 65 levels deep', method: 'POST', path: '/sessions', body: `{"name":${nestedArrays(64)}}`, status: 400, check: (r) => JSON_DEPTH.test(r.json?.error) },
  {
    label: 'a scenario over 128 KiB', method: 'POST', path: '/scenarios/runs', body: posted(scenario([`# ${'x'.repeat(SCENARIO_LIMITS.bytes)}`])),
    status: 400, check: (r) => r.json?.issues?.length === 1 && /^1:1: the scenario is \d+ bytes; the limit is 131072 bytes \(128 KiB\)$/.test(r.json.issues[0]),
  },
  {
    label: '101 aliases', method: 'POST', path: '/scenarios/runs', body: posted(scenario([`tags: &t [${Array(101).fill('*t').join(', ')}]`])),
    status: 400, check: issue('more than 100 aliases (*t); the limit is 100'),
  },
  {
    // 10,000 nested groups, compiled when a probe first runs, ended the process.
    label: 'a probe regex of 10,000 nested groups', method: 'POST', path: '/scenarios/runs',
    body: posted(scenario([], `{name: p, http: {url: "http://127.0.0.1:9/", body: "${'(?:a|'.repeat(10_000)}b${')'.repeat(10_000)}"}}`)),
    status: 400, check: issue('the regular expression is 60001 characters; the limit is 1000'),
  },
];

test('known-bad inputs, each posted twice, get a 400 naming the limit, and the server keeps answering', async () => {
  const server = await startServer({ db: false });
  try {
    for (const bad of BAD) {
      for (let i = 0; i < 2; i++) {
        const res = await server.api(bad.method, bad.path, bad.body);
        assert.is(res.status, bad.status, `${bad.label}: ${res.text.slice(0, 300)}`);
        assert.ok(bad.check(res), `${bad.label}: ${res.text.slice(0, 300)}`);
        assert.ok(res.text.endsWith('}\n'), `${bad.label}: a JSON error`);
      }
      assert.is((await server.api('GET', '/version')).status, 200, `the server answers after ${bad.label}`);
    }
    assert.equal((await server.api('GET', '/scenarios/runs')).json.runs, [], 'nothing was started or stored');
  } finally {
    await server.close();
  }
});

test('JSON depth: 64 levels pass, 65 do not, and brackets inside strings do not count', async () => {
  assert.is(MAX_JSON_DEPTH, 64);
  assert.is(depthPast(Buffer.from(nestedArrays(64)), 64), -1);
  assert.is(depthPast(Buffer.from(nestedArrays(65)), 64), 64);
  assert.is(depthPast(Buffer.from(`{"s":"${'['.repeat(100)}\\"${'{'.repeat(100)}"}`), 64), -1);
  const server = await startServer({ db: false });
  try {
    const at64 = await server.api('POST', '/sessions', `{"name":${nestedArrays(63)}}`);
    assert.is(at64.status, 400);
    assert.match(at64.json.error, /^bad request body: name must be/, 'past the depth check, the field is checked');
    const quoted = await server.api('POST', '/sessions', JSON.stringify({ name: `brackets ${'['.repeat(150)}` }));
    assert.is(quoted.status, 201, quoted.text);
  } finally {
    await server.close();
  }
});

test('the scenario limits hold exactly at their bounds', () => {
  const parse = (text: string) => parseScenario(text, { defaultServer: 'http://127.0.0.1:1' }).issues.map((i) => i.message);
  const nest = (n: number) => scenario([`x: ${'['.repeat(n)}1${']'.repeat(n)}`]);
  assert.not.ok(parse(nest(SCENARIO_LIMITS.depth - 1)).some((m) => m.includes('nested deeper')), 'the top mapping plus 63 lists');
  assert.ok(parse(nest(SCENARIO_LIMITS.depth)).some((m) => m.includes('nested deeper')));
  const aliases = (n: number) => scenario([`tags: &t [${Array(n).fill('*t').join(', ')}]`]);
  assert.not.ok(parse(aliases(100)).some((m) => m.includes('aliases')));
  assert.ok(parse(aliases(101)).some((m) => m.includes('aliases')));
  const pad = (total: number) => {
    const base = scenario(['# ']);
    return base.replace('# ', `# ${'x'.repeat(total - Buffer.byteLength(base))}`);
  };
  assert.equal(parse(pad(SCENARIO_LIMITS.bytes)), []);
  assert.equal(parse(pad(SCENARIO_LIMITS.bytes + 1)), ['the scenario is 131073 bytes; the limit is 131072 bytes (128 KiB)']);
  // A '*' inside a scalar is no alias.
  assert.equal(parse(scenario([`description: "${'*a '.repeat(200)}"`])), []);
});

test('duplicate keys are still reported, at the key, without the quadratic scan', () => {
  const text = ['title: Dup', 'title: Again', 'timeline:', '  - {at: 0s, heal: all, at: 1s}', ''].join('\n');
  const issues = parseScenario(text, { defaultServer: 'http://127.0.0.1:1' }).issues.map((i) => `${i.line}:${i.column} ${i.message}`);
  assert.equal(issues, [
    "2:1 duplicate key 'title'; a key may appear once in a mapping",
    "4:25 duplicate key 'at'; a key may appear once in a mapping",
  ]);
  const many = `title: x\nextra:\n${Array.from({ length: 10_000 }, (_, i) => `  k${i % 5000}: 1`).join('\n')}\ntimeline: []\n`;
  const found = parseScenario(many, { defaultServer: 'http://127.0.0.1:1' }).issues;
  assert.is(found.length, 101, 'at most 100 YAML errors, then one line saying how many more');
  assert.is(found[100]!.message, '4900 more YAML errors from here on are not listed');
});

test('the most deeply nested regexes allowed compile and run', () => {
  const alternations = Math.floor((MAX_REGEX_CHARS - 1) / 6);
  const groups = Math.floor((MAX_REGEX_CHARS - 1) / 2);
  for (const source of [
    `${'(?:a|'.repeat(alternations)}b${')'.repeat(alternations)}`,
    `${'('.repeat(groups)}a${')'.repeat(groups)}`,
  ]) {
    assert.ok(source.length <= MAX_REGEX_CHARS && source.length > MAX_REGEX_CHARS - 7, `${source.length} characters`);
    const text = scenario([], `{name: p, http: {url: "http://127.0.0.1:9/", body: ${JSON.stringify(source)}}}`);
    const parsed = parseScenario(text, { defaultServer: 'http://127.0.0.1:1' });
    assert.equal(parsed.issues, []);
    const probe = (parsed.scenario!.timeline[0]!.action as { probe: { body: RegExp } }).probe;
    for (let i = 0; i < 3; i++) probe.body.test(`aaaa${i}`);
  }
});

test('faultline validate and run refuse a deep or oversized file with exit 3, naming the limit', async () => {
  const t = await tempDir();
  try {
    const deep = join(t.dir, 'deep.yaml');
    const big = join(t.dir, 'big.yaml');
    await writeFile(deep, nestedJson(1000));
    await writeFile(big, `# ${'x'.repeat(300_000)}\n`);
    for (const command of ['validate', 'run']) {
      const d = await cli([command, deep]);
      assert.equal([d.code, d.stderr], [3, `${deep}:1:321: nested deeper than 64 levels; the limit is 64\n${deep}: 1 error\n`]);
      const b = await cli([command, big]);
      assert.equal([b.code, b.stderr], [3, `${big}:1:1: the scenario is 300003 bytes; the limit is 131072 bytes (128 KiB)\n${big}: 1 error\n`]);
    }
  } finally {
    await t.remove();
  }
});

test('every route, given hostile parameters and bodies, answers below 500 with a JSON error', async () => {
  const server = await startServer({ db: false });
  const params = ['nope', '%E0%A4%A', '__proto__', 'x'.repeat(2000)];
  const bodies = ['', '{', 'null', '[]', '"x"', nestedArrays(65), '{"name":{"a":[1,{"b":null}]},"scenario":{"x":1},"attributes":[]}'];
  try {
    for (const route of ROUTES) {
      for (const param of params) {
        const path = route.path.replace(/:(\w+)/g, param);
        for (const body of route.method === 'GET' || route.method === 'DELETE' ? [undefined] : bodies) {
          const res = await server.api(route.method, path, body);
          const what = `${route.method} ${path.slice(0, 80)} ${String(body).slice(0, 40)}`;
          assert.ok(res.status < 500, `${what}: ${res.status} ${res.text.slice(0, 200)}`);
          if (res.status >= 400) assert.ok(res.json?.error !== undefined && res.text.endsWith('}\n'), `${what}: ${res.text.slice(0, 200)}`);
        }
      }
    }
    assert.is((await server.api('GET', '/version')).status, 200);
  } finally {
    await server.close();
  }
});

test.run();
