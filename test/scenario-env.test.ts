// Environment references in scenario files: `${NAME}`, `${NAME:-default}` and `$$`, substituted
// in values (never keys) before they are checked, with precise issues for unset variables and
// malformed references, numbers where numbers are expected, and no implicit process.env.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { substitute } from '../src/scenario/interpolate.js';
import { parseScenario } from '../src/scenario/parse.js';
import { planLines } from '../src/scenario/plan.js';
import type { Action, Scenario } from '../src/scenario/types.js';

const DEFAULT = 'http://127.0.0.1:8474';
type Env = Record<string, string | undefined>;
const parse = (text: string, env?: Env) => parseScenario(text, { defaultServer: DEFAULT, ...(env ? { env } : {}) });

function ok(text: string, env?: Env): Scenario {
  const { scenario, issues } = parse(text, env);
  assert.equal(issues, []);
  return scenario!;
}

/** `line:column path: message` for each issue. */
function issues(text: string, env?: Env): string[] {
  const result = parse(text, env);
  assert.ok(result.issues.length > 0, 'expected issues');
  assert.is(result.scenario, null);
  return result.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
}

const value = (text: string, env: Env = {}) => substitute(text, env).value;

// Lines 1-4; the steps each case appends start at line 5.
const BASE = `title: t
proxies:
  - {name: db, upstream: 127.0.0.1:5432}
timeline:
`;
const firstAction = (s: Scenario): Action => s.timeline[0]!.action;

test('substitute: set values, defaults, empty values, $$ and every other $ left alone', () => {
  const env = { HOST: 'db.internal', PORT: '6543', EMPTY: '' };
  assert.is(value('${HOST}:${PORT}', env), 'db.internal:6543');
  assert.is(value('${HOST:-localhost}', env), 'db.internal', 'a set value wins over the default');
  assert.is(value('${MISSING:-127.0.0.1:5432}', env), '127.0.0.1:5432');
  assert.is(value('[${EMPTY:-fallback}]', env), '[fallback]', ':- also covers an empty value');
  assert.is(value('[${EMPTY}]', env), '[]', 'an empty value is set');
  assert.is(value('x${MISSING:-}y', env), 'xy', 'an empty default');
  assert.is(value('cost $$5, $${HOST}', env), 'cost $5, ${HOST}');
  assert.is(value('^ok$'), '^ok$');
  assert.is(value('a$b $HOME $1 $ $(x) $'), 'a$b $HOME $1 $ $(x) $');
  assert.is(value('${A_1:-x:-y}'), 'x:-y', 'the default runs to the first }');
  assert.equal(substitute('plain text $', {}), { value: 'plain text $', changed: false, errors: [] });
  assert.equal(substitute('$$', {}), { value: '$', changed: true, errors: [] });
});

test('substitute: unset names, malformed and unclosed references; only own properties count', () => {
  assert.equal(substitute('${DB_ADDR}', {}).errors,
    ['environment variable DB_ADDR is not set; write ${DB_ADDR:-value} to give a default']);
  assert.equal(substitute('${constructor}', {}).errors,
    ['environment variable constructor is not set; write ${constructor:-value} to give a default']);
  assert.is(value('${toString:-d}'), 'd');
  const malformed = (body: string) => `malformed reference "\${${body}}": expected \${NAME} or \${NAME:-default}, where NAME is letters, ` +
    'digits and _ and does not start with a digit, and the default is plain text (write $$ for a literal $)';
  assert.equal(substitute('${1X} ${} ${A-b} ${A:-${B}}', {}).errors, [malformed('1X'), malformed(''), malformed('A-b'), malformed('A:-${B')]);
  assert.equal(substitute('http://${HOST:-x/path', {}).errors,
    ['unclosed reference "${HOST:-x/path": expected } after the variable name (write $$ for a literal $)']);
  assert.equal(substitute('${A} ${B}', { B: 'b' }).errors.length, 1);
});

test('parse: values are substituted before they are checked, in proxies, probes and steps', () => {
  const text = `title: \${TITLE:-Game day}
servers: {edge: "\${EDGE:-http://127.0.0.1:18474}"}
proxies:
  - name: db
    listen: \${LISTEN:-127.0.0.1:0}
    upstream: \${DB_ADDR:-127.0.0.1:5432}
    server: edge
steady_state:
  during: \${EVERY:-1s}
  probes:
    - {name: web, http: {url: "http://127.0.0.1:\${WEB_PORT:-8080}/health", body: "ok$", max_latency: "\${MAX:-300ms}"}}
    - {name: amp, exec: {command: "measure --target \${TARGET:-db} | tail -1 # $$HOME", stdout: "^amp"}}
timeline:
  - {at: "\${T:-2s}", toxic: {proxy: db, name: lat, type: latency, attributes: {latency: 200}}, for: "\${FOR:-5s}"}
`;
  const s = ok(text, { DB_ADDR: '10.0.0.9:6000', WEB_PORT: '9090', T: '', FOR: '3s' });
  assert.is(s.title, 'Game day');
  assert.equal(s.servers, { default: DEFAULT, edge: 'http://127.0.0.1:18474' });
  assert.equal(s.proxies[0], { name: 'db', listen: '127.0.0.1:0', upstream: '10.0.0.9:6000', protocol: 'tcp', labels: {}, server: 'edge' });
  assert.is(s.steadyState!.duringMs, 1000);
  const [web, amp] = s.steadyState!.probes;
  assert.equal(web, { name: 'web', kind: 'http', url: 'http://127.0.0.1:9090/health', status: 200, body: /ok$/, maxLatencyMs: 300, timeoutMs: 2000 });
  assert.equal(amp, { name: 'amp', kind: 'exec', command: 'measure --target db | tail -1 # $HOME', exitCode: 0, stdout: /^amp/, timeoutMs: 5000 });
  assert.equal([s.timeline[0]!.atMs, s.timeline[0]!.forMs], [2000, 3000]);
  // The dry-run plan shows what will happen, with the values substituted.
  const plan = planLines(s).join('\n');
  assert.match(plan, '  db@edge  tcp  127.0.0.1:0 -> 10.0.0.9:6000');
  assert.match(plan, 'http://127.0.0.1:9090/health');
  assert.not.match(plan, '${');
});

test('numbers and booleans: a substituted value counts as one where one is expected, quoted or not', () => {
  const text = `${BASE}  - at: 0s
    toxic:
      proxy: db
      name: lat
      type: latency
      toxicity: \${TOX:-0.5}
      attributes:
        latency: "\${LAT:-200}"
        jitter: \${JIT:-10}
  - {at: 1s, proxy: {name: db, enabled: "\${ENABLED:-false}"}}
  - {at: 2s, probe: {name: p, http: {url: "http://127.0.0.1:1/", status: "\${STATUS:-204}"}}}
  - {at: 3s, probe: {name: e, exec: {command: "\${CMD:-true}", exit_code: "\${CODE:-3}"}}}
`;
  const s = ok(text, { LAT: '350' });
  assert.equal(firstAction(s), { kind: 'toxic', proxy: 'db', name: 'lat', type: 'latency', stream: 'downstream', toxicity: 0.5, attributes: { latency: 350, jitter: 10 } });
  assert.equal(s.timeline[1]!.action, { kind: 'proxy', name: 'db', enabled: false });
  assert.is((s.timeline[2]!.action as { probe: { status: number } }).probe.status, 204);
  const exec = (s.timeline[3]!.action as { probe: { command: string; exitCode: number } }).probe;
  assert.equal([exec.command, exec.exitCode], ['true', 3], 'a string stays a string where a string is expected');
  // Strings everywhere else: a title that looks like a number is still a title.
  assert.is(ok(`title: \${T:-42}\ntimeline:\n  - {at: 0s, heal: all}\n`).title, '42');
  // A substituted value that is not a number is reported with what the file says.
  assert.equal(issues(`${BASE}  - {at: 0s, toxic: {proxy: db, type: latency, attributes: {latency: "\${LAT:-slow}"}}}\n`), [
    '5:70 timeline[0].toxic.attributes.latency: attribute latency must be a number, got string "slow" (substituted from "${LAT:-slow}")',
  ]);
  // Without a reference, a quoted number is still a string, as before.
  assert.equal(issues(`${BASE}  - {at: 0s, toxic: {proxy: db, type: latency, toxicity: "1"}}\n`), [
    '5:58 timeline[0].toxic.toxicity: expected a number from 0 to 1, got "1"',
  ]);
});

test('an unset variable is one issue at its value, with line, column and key path', () => {
  const text = `title: t
proxies:
  - name: db
    listen: \${LISTEN}
    upstream: "\${DB_ADDR}"
timeline:
  - {at: 0s, toxic: {proxy: db, type: latency}, for: "\${FOR}"}
  - {at: 1s, probe: {name: p, tcp: {address: "\${HOST:-127.0.0.1}:\${PORT}"}}}
`;
  assert.equal(issues(text, { FOR: '2s' }), [
    '4:13 proxies[0].listen: environment variable LISTEN is not set; write ${LISTEN:-value} to give a default',
    '5:15 proxies[0].upstream: environment variable DB_ADDR is not set; write ${DB_ADDR:-value} to give a default',
    '8:46 timeline[1].probe.tcp.address: environment variable PORT is not set; write ${PORT:-value} to give a default',
  ]);
  // A substituted value is checked like a written one, at the same place.
  assert.equal(issues(text, { LISTEN: 'nowhere', DB_ADDR: '127.0.0.1:5432', FOR: '2', PORT: '7' }), [
    '4:13 proxies[0].listen: expected host:port like 127.0.0.1:0 (port 0 to 65535), got "nowhere" (substituted from "${LISTEN}")',
    '7:54 timeline[0].for: expected a duration like 500ms, 30s or 2m, got "2" (substituted from "${FOR}")',
  ]);
});

test('malformed references are issues too, and other checks still run', () => {
  const text = `title: t
proxies:
  - {name: db, upstream: "\${1DB}", listen: "127.0.0.1:\${PORT"}
timeline:
  - {at: 0s, toxic: {proxy: db, type: latency, stream: sideways}}
`;
  const found = issues(text);
  assert.is(found.length, 3);
  assert.match(found[0]!, /^3:26 proxies\[0\]\.upstream: malformed reference "\$\{1DB\}": expected/);
  assert.is(found[1], '3:44 proxies[0].listen: unclosed reference "${PORT": expected } after the variable name (write $$ for a literal $)');
  assert.is(found[2], '5:56 timeline[0].toxic.stream: expected upstream or downstream, got "sideways"');
});

test('an unquoted reference inside { } is a YAML error, and the first one on its line says why', () => {
  const found = issues('title: t\ntimeline:\n  - {at: ${T:-1s}, heal: all}\n');
  assert.is(found[0], '3:11 : invalid YAML: Unexpected flow-map-start at node end; inside { } or [ ], a value with ${...} must be quoted, like "${NAME:-default}"');
  assert.is(found.filter((f) => f.includes('must be quoted')).length, 1);
  assert.equal(issues('title: t\ntimeline:\n  - {at: "${T:-1s}", heal: all}}\n'), ['3:32 : invalid YAML: Unexpected flow-map-end token in YAML stream: "}"']);
});

test('keys are never substituted; anchors are substituted once for every alias', () => {
  assert.equal(issues('title: t\n${EXTRA:-description}: x\ntimeline:\n  - {at: 0s, heal: all}\n'), [
    "2:1 ${EXTRA:-description}: unknown key '${EXTRA:-description}'; expected one of title, description, tags, servers, proxies, steady_state, halt_when, timeline",
  ]);
  const text = `${BASE}  - {at: 0s, toxic: {proxy: db, type: latency, attributes: {latency: &lat "\${LAT:-100}"}}, for: 1s}
  - {at: 2s, toxic: {proxy: db, type: latency, attributes: {latency: *lat}}}
`;
  const s = ok(text, { LAT: '250' });
  assert.equal(s.timeline.map((t) => (t.action as { attributes: unknown }).attributes), [{ latency: 250 }, { latency: 250 }]);
});

test('without env only defaults apply: the process environment is never read', () => {
  process.env.FAULTLINE_ENV_TEST_SECRET = 's3cret';
  try {
    const text = `title: "\${FAULTLINE_ENV_TEST_SECRET:-public}"\ntimeline:\n  - {at: 0s, heal: all}\n`;
    assert.is(ok(text).title, 'public');
    assert.is(ok(text, { FAULTLINE_ENV_TEST_SECRET: 'given' }).title, 'given');
    assert.equal(issues('title: ${FAULTLINE_ENV_TEST_SECRET}\ntimeline:\n  - {at: 0s, heal: all}\n'), [
      '1:8 title: environment variable FAULTLINE_ENV_TEST_SECRET is not set; write ${FAULTLINE_ENV_TEST_SECRET:-value} to give a default',
    ]);
  } finally {
    delete process.env.FAULTLINE_ENV_TEST_SECRET;
  }
});

test('JSON files: references in strings, numbers where numbers are expected', () => {
  const json = JSON.stringify({
    title: 'json',
    proxies: [{ name: 'svc', upstream: '${SVC:-127.0.0.1:7001}' }],
    timeline: [{ at: '0s', toxic: { proxy: 'svc', type: 'latency', attributes: { latency: '${LAT:-75}' } } }],
  }, null, 2);
  const s = ok(json, { SVC: '127.0.0.1:7002' });
  assert.is(s.proxies[0]!.upstream, '127.0.0.1:7002');
  assert.equal((firstAction(s) as { attributes: unknown }).attributes, { latency: 75 });
});

test.run();
