// The scenario parser: the issue's full example into the exact typed Scenario, JSON input,
// durations, step ordering, and every class of error with its exact line, column, key path
// and message (several per file). Pure functions: no sockets.

import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatDuration, parseDuration } from '../src/scenario/duration.js';
import { parseScenario } from '../src/scenario/parse.js';
import { partitionCuts } from '../src/scenario/plan.js';
import type { Scenario } from '../src/scenario/types.js';

const FIXTURES = new URL('../../test/fixtures/scenarios/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8');
const DEFAULT = 'http://127.0.0.1:8474';
const parse = (text: string) => parseScenario(text, { defaultServer: DEFAULT });

/** `line:column path: message` for each issue, in order. */
function issues(text: string): string[] {
  const result = parse(text);
  if (result.issues.length > 0) assert.is(result.scenario, null, 'no scenario when there are issues');
  return result.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
}

// Lines 1-5; the steps each case appends start at line 6.
const BASE = `title: t
proxies:
  - {name: db, upstream: 127.0.0.1:5432, labels: {from: api, to: db}}
  - {name: dns, upstream: 127.0.0.1:53, protocol: udp, labels: {from: api, to: dns}}
timeline:
`;

const tcp = (name: string, address: string, timeoutMs = 1000) => ({ name, kind: 'tcp' as const, address, timeoutMs });

test('the full example parses into the exact Scenario', () => {
  const { scenario, issues: found } = parse(fixture('full.yaml'));
  assert.equal(found, []);
  const expected: Scenario = {
    title: 'Slow database',
    description: 'The database slows down, stops, and is cut off from the API.',
    tags: ['database', 'latency'],
    servers: { default: DEFAULT, edge: 'http://127.0.0.1:18474' },
    proxies: [
      { name: 'db', listen: '127.0.0.1:0', upstream: '127.0.0.1:5432', protocol: 'tcp', labels: { from: 'api', to: 'db' }, server: 'edge' },
      { name: 'cache', listen: '127.0.0.1:0', upstream: '127.0.0.1:6379', protocol: 'tcp', labels: { from: 'api', to: 'cache' }, server: 'default' },
    ],
    steadyState: {
      duringMs: 1000,
      probes: [
        tcp('db-up', '127.0.0.1:5432'),
        { name: 'health', kind: 'http', url: 'http://127.0.0.1:8080/health', status: 200, body: /ok/, maxLatencyMs: 300, timeoutMs: 2000 },
        { name: 'ping', kind: 'exec', command: 'redis-cli -p 6380 ping', exitCode: 0, stdout: /PONG/, timeoutMs: 2000 },
      ],
    },
    haltWhen: [{
      probe: { name: 'api', kind: 'http', url: 'http://127.0.0.1:8080/health', status: 200, body: null, maxLatencyMs: null, timeoutMs: 2000 },
      failingForMs: 5000,
    }],
    timeline: [
      { index: 0, atMs: 0, forMs: 10_000, line: 18, action: { kind: 'toxic', proxy: 'db', name: 'lat', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 200 } } },
      { index: 1, atMs: 5000, forMs: null, line: 19, action: { kind: 'update_toxic', proxy: 'db', toxic: 'lat', attributes: { latency: 400 } } },
      { index: 2, atMs: 8000, forMs: null, line: 20, action: { kind: 'remove_toxic', proxy: 'db', toxic: 'lat' } },
      { index: 3, atMs: 10_000, forMs: 2000, line: 21, action: { kind: 'proxy', name: 'db', enabled: false } },
      { index: 4, atMs: 15_000, forMs: 5000, line: 22, action: { kind: 'partition', groups: [['api'], ['db', 'cache']], oneway: false } },
      { index: 5, atMs: 25_000, forMs: null, line: 23, action: { kind: 'heal', proxy: null } },
      { index: 6, atMs: 26_000, forMs: null, line: 24, action: { kind: 'probe', probe: tcp('after', '127.0.0.1:5432') } },
    ],
    durationMs: 26_000,
  };
  assert.equal(scenario, expected);
  assert.is(String((scenario!.steadyState!.probes[1] as { body: RegExp }).body), '/ok/');
});

test('JSON is YAML: a JSON file parses, defaults filled in, steps sorted by at (stably)', () => {
  const { scenario, issues: found } = parse(fixture('handoff.json'));
  assert.equal(found, []);
  assert.equal(scenario!.servers, { default: 'http://127.0.0.1:9999' }, 'the file may name its own default server');
  assert.equal(scenario!.proxies, [
    { name: 'svc', listen: '127.0.0.1:0', upstream: '127.0.0.1:7001', protocol: 'tcp', labels: {}, server: 'default' },
  ]);
  assert.equal(scenario!.steadyState, null);
  assert.equal(scenario!.haltWhen, []);
  assert.equal(scenario!.timeline.map((s) => [s.index, s.atMs, s.forMs, s.line]), [
    [1, 0, null, 9], [0, 1500, null, 8], [2, 1500, 3000, 11], [3, 2000, null, 12],
  ]);
  assert.equal(scenario!.timeline[2]!.action, { kind: 'proxy', name: 'svc', upstream: '127.0.0.1:7002' });
  assert.equal(scenario!.timeline[0]!.action, {
    kind: 'toxic', proxy: 'svc', name: 'slicer_upstream', type: 'slicer', stream: 'upstream', toxicity: 0.25, attributes: {},
  });
  assert.is(scenario!.durationMs, 4500);
});

test('durations: ms, s, m, h, decimals; bare numbers and other spellings are refused', () => {
  assert.equal(['500ms', '1.5s', '2m', '1h', '0s', '0.25s'].map((d) => parseDuration(d)),
    [{ ms: 500 }, { ms: 1500 }, { ms: 120_000 }, { ms: 3_600_000 }, { ms: 0 }, { ms: 250 }]);
  assert.equal(parseDuration(10), { error: 'expected a duration like 500ms, 30s or 2m, got 10 (a bare number is ambiguous: add a unit)' });
  for (const bad of ['10 seconds', '10', '-1s', '1S', '1.s', '']) {
    assert.equal(parseDuration(bad), { error: `expected a duration like 500ms, 30s or 2m, got ${JSON.stringify(bad)}` }, bad);
  }
  assert.equal(parseDuration('0.5ms'), { error: 'expected a whole number of milliseconds, got 0.5ms (0.5ms)' });
  assert.equal(parseDuration('597h'), { error: 'expected at most 596h, got 597h' });
  assert.equal([0, 500, 1500, 90_000, 120_000, 7_200_000].map(formatDuration), ['0s', '500ms', '1.5s', '90s', '2m', '2h']);
});

test('unknown keys, bare numbers, missing keys and two actions are reported where they are', () => {
  assert.equal(issues(`${BASE}  - {atx: 0s, heal: all}\n  - {at: 10, heal: all, for: 1}\n  - {at: 1s, toxic: {proxy: db, type: latency}, proxy: {name: db}}\n  - {at: 1s}\n`), [
    "6:5 timeline[0]: missing required key 'at'",
    "6:6 timeline[0].atx: unknown key 'atx'; expected one of at, for, toxic, update_toxic, remove_toxic, proxy, partition, heal, probe",
    '7:10 timeline[1].at: expected a duration like 500ms, 30s or 2m, got 10 (a bare number is ambiguous: add a unit)',
    "7:25 timeline[1].for: 'for' does not apply to a heal step; only toxic, update_toxic, remove_toxic, proxy, partition steps revert",
    '8:49 timeline[2]: a step needs exactly one action, found 2: toxic, proxy',
    '9:5 timeline[3]: a step needs exactly one action (toxic, update_toxic, remove_toxic, proxy, partition, heal, probe), found none',
  ]);
  assert.equal(issues('title: t\ntimeline: []\nextra: 1\n'), [
    '2:11 timeline: expected at least one step, got 0',
    "3:1 extra: unknown key 'extra'; expected one of title, description, tags, servers, proxies, steady_state, halt_when, timeline",
  ]);
  assert.equal(issues('description: d\n'), ["1:1 : missing required key 'title'", "1:1 : missing required key 'timeline'"]);
});

test('YAML syntax errors, duplicate keys and an empty file', () => {
  assert.equal(issues('title: a\ntitle: b\ntimeline: []\n'), ["2:1 : duplicate key 'title'; a key may appear once in a mapping"]);
  assert.equal(issues('title: a\ntimeline: [\n'), [
    '3:1 : invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
  ]);
  assert.equal(issues('# nothing here\n'), ['1:1 : the file is empty; expected a mapping with at least title and timeline']);
  assert.equal(issues('- a\n'), ['1:1 : expected a mapping with keys title, description, tags, servers, proxies, steady_state, halt_when, timeline, got a list']);
});

test('servers and proxies: URLs, host:port, protocol, duplicate names, unknown servers', () => {
  const text = `title: t
servers: {edge: ftp://10.0.0.5}
proxies:
  - {name: a, upstream: localhost, listen: "127.0.0.1:70000", protocol: sctp, server: edgy}
  - {name: a, upstream: 127.0.0.1:1, labels: {from: x, too: y}}
timeline: [{at: 0s, heal: all}]
`;
  assert.equal(issues(text), [
    '2:17 servers.edge: expected an http:// or https:// URL like http://10.0.0.5:8474, got "ftp://10.0.0.5"',
    '4:25 proxies[0].upstream: expected host:port like 127.0.0.1:5432 (port 1 to 65535), got "localhost"',
    '4:44 proxies[0].listen: expected host:port like 127.0.0.1:0 (port 0 to 65535), got "127.0.0.1:70000"',
    '4:73 proxies[0].protocol: expected tcp, udp, http or dns, got "sctp"',
    "4:87 proxies[0].server: unknown server 'edgy'; expected one of default, edge (servers are named under servers)",
    "5:12 proxies[1].name: duplicate proxy name 'a'; proxies[0] already uses it",
    "5:56 proxies[1].labels.too: unknown key 'too'; expected one of from, to",
  ]);
});

test('toxic steps: proxies must be listed; type, protocol, stream, toxicity and attributes are checked', () => {
  assert.equal(issues(`${BASE}  - {at: 0s, toxic: {proxy: web, type: latncy, stream: sideways, toxicity: 1.5}}
  - {at: 0s, toxic: {proxy: dns, type: reset_peer}}
  - {at: 0s, toxic: {proxy: db, type: latency, attributes: {latency: -1, jiter: 2, jitter: "x"}}}
  - {at: 0s, toxic: {proxy: db, type: latency, attributes: [1]}}
`), [
    "6:29 timeline[0].toxic.proxy: unknown proxy 'web'; a step may only name a proxy listed under proxies (listed: db, dns)",
    "6:40 timeline[0].toxic.type: unknown toxic type 'latncy'; expected one of latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data, packet_loss, duplicate, reorder, corrupt, half_open, partition, slow_open, limit_time, http_abort, http_delay, http_reset, dns_error, dns_delay, dns_drop, dns_ttl, dns_answer, dns_truncate, noop",
    '6:56 timeline[0].toxic.stream: expected upstream or downstream, got "sideways"',
    '6:76 timeline[0].toxic.toxicity: expected a number from 0 to 1, got 1.5',
    "7:40 timeline[1].toxic.type: toxic type 'reset_peer' does not apply to udp proxy 'dns'; it applies to tcp (udp takes latency, bandwidth, timeout, limit_data, packet_loss, duplicate, reorder, corrupt, partition, noop)",
    '8:70 timeline[2].toxic.attributes.latency: attribute latency must be at least 0, got -1',
    "8:74 timeline[2].toxic.attributes.jiter: unknown attribute 'jiter' for a latency toxic; expected one of latency, jitter",
    '8:92 timeline[2].toxic.attributes.jitter: attribute jitter must be a number, got string "x"',
    '9:60 timeline[3].toxic.attributes: expected a mapping of attributes like {latency: 0}, got a list',
  ]);
});

test('update_toxic and remove_toxic need a toxic an earlier at added and that is still there', () => {
  assert.equal(issues(`${BASE}  - {at: 5s, update_toxic: {proxy: db, toxic: lat, toxicity: 0.5}}
  - {at: 2s, toxic: {proxy: db, name: lat, type: latency}, for: 4s}
  - {at: 2s, remove_toxic: {proxy: db, toxic: lat}}
  - {at: 6s, remove_toxic: {proxy: db, toxic: lat}}
  - {at: 3s, toxic: {proxy: db, name: lat, type: bandwidth}}
  - {at: 1s, update_toxic: {proxy: db, toxic: latency_downstream, attributes: {latency: 5}}}
  - {at: 4s, update_toxic: {proxy: db, toxic: lat, attributes: {latency: "5"}}}
  - {at: 4s, update_toxic: {proxy: db, toxic: lat}}
  - {at: 1s, remove_toxic: {proxy: db, toxic: lat}}
  - {at: 5s, heal: {proxy: db}}
  - {at: 5.5s, remove_toxic: {proxy: db, toxic: lat}}
`), [
    "8:47 timeline[2].remove_toxic.toxic: toxic 'lat' on proxy 'db' is added at the same time (timeline[1] at 2s); an update or removal needs a later 'at'",
    "9:47 timeline[3].remove_toxic.toxic: toxic 'lat' on proxy 'db' is gone by 6s: timeline[9] at 5s healed it",
    "10:39 timeline[4].toxic: toxic 'lat' is already on proxy 'db' at 3s (added by timeline[1] at 2s); remove it first, or give this one another name",
    "11:47 timeline[5].update_toxic.toxic: no toxic 'latency_downstream' on proxy 'db': no toxic step with an earlier 'at' adds it (a toxic's name defaults to <type>_<stream>)",
    '12:74 timeline[6].update_toxic.attributes.latency: attribute latency must be a number, got string "5"',
    '13:28 timeline[7].update_toxic: an update_toxic step needs toxicity or attributes (or both)',
    "14:47 timeline[8].remove_toxic.toxic: toxic 'lat' on proxy 'db' is only added later, by timeline[1] at 2s; steps run in order of 'at'",
    "16:49 timeline[10].remove_toxic.toxic: toxic 'lat' on proxy 'db' is gone by 5.5s: timeline[9] at 5s healed it",
  ]);
  // A `for` ends the toxic: reverts come before steps at the same instant.
  assert.equal(issues(`${BASE}  - {at: 0s, toxic: {proxy: db, type: latency}, for: 1s}\n  - {at: 1s, remove_toxic: {proxy: db, toxic: latency_downstream}}\n`), [
    "7:47 timeline[1].remove_toxic.toxic: toxic 'latency_downstream' on proxy 'db' is gone by 1s: its 'for' ended at 1s",
  ]);
});

test('partitions: groups name labelled services, once each, and must cut a proxy', () => {
  assert.equal(issues(`${BASE}  - {at: 0s, partition: {groups: [[api]]}}
  - {at: 0s, partition: {groups: [[api], [dbb], []]}}
  - {at: 0s, partition: {groups: [[api], [db, api]]}}
  - {at: 0s, partition: {groups: [[db], [dns], [api]], oneway: true}}
  - {at: 0s, partition: {groups: [[db], [dns]]}}
`), [
    '6:34 timeline[0].partition.groups: expected at least 2 groups, got 1',
    "7:43 timeline[1].partition.groups[1][0]: unknown service 'dbb'; services named in proxy labels: api, db, dns",
    '7:49 timeline[1].partition.groups[2]: expected at least one service name, got 0',
    "8:47 timeline[2].partition.groups[1][1]: service 'api' is already in timeline[2].partition.groups[0]; a service belongs to one group",
    '9:64 timeline[3].partition.oneway: oneway needs exactly 2 groups (it cuts traffic from the first to the second), got 3',
    '10:25 timeline[4].partition: this partition cuts no proxy: no proxy runs from a service in one group to a service in another (labelled proxies: db api->db, dns api->dns)',
  ]);
  assert.equal(issues(`${BASE}  - {at: 0s, partition: {groups: [[api], [db]]}}\n  - {at: 1s, partition: {groups: [[api], [db, dns]]}}\n`), [
    "7:25 timeline[1].partition: this partition cuts db (upstream), which the partition of timeline[0] at 0s still cuts; heal it first or give that one a 'for'",
  ]);
});

test('partitionCuts: both streams, or oneway from the first group to the second', () => {
  const text = `title: p
proxies:
  - {name: a-b, upstream: 127.0.0.1:1, labels: {from: a, to: b}}
  - {name: b-a, upstream: 127.0.0.1:2, labels: {from: b, to: a}}
  - {name: a-a, upstream: 127.0.0.1:3, labels: {from: a, to: a2}}
  - {name: half, upstream: 127.0.0.1:4, labels: {to: b}}
timeline:
  - {at: 0s, partition: {groups: [[a], [b]], oneway: true}, for: 1s}
  - {at: 1s, partition: {groups: [[a, a2], [b]]}}
`;
  const { scenario, issues: found } = parse(text);
  assert.equal(found, []);
  const [oneway, both] = scenario!.timeline.map((s) => s.action) as Extract<Scenario['timeline'][number]['action'], { kind: 'partition' }>[];
  assert.equal(partitionCuts(scenario!, oneway!), [{ proxy: 'a-b', stream: 'upstream' }, { proxy: 'b-a', stream: 'downstream' }]);
  assert.equal(partitionCuts(scenario!, both!), [
    { proxy: 'a-b', stream: 'upstream' }, { proxy: 'a-b', stream: 'downstream' },
    { proxy: 'b-a', stream: 'upstream' }, { proxy: 'b-a', stream: 'downstream' },
  ]);
});

test('probes: exactly one kind, fixed keys, regexes compiled, unique names; heal and proxy steps', () => {
  assert.equal(issues(`${BASE}  - {at: 0s, heal: everything}
  - {at: 0s, proxy: {name: db}}
  - {at: 0s, probe: {name: p}}
  - {at: 0s, probe: {name: p, tcp: {address: "127.0.0.1:0"}, exec: {command: ls}}}
steady_state:
  during: 0s
  probes:
    - {name: h, http: {url: "localhost:80", body: "(", status: 99, max_latency: 1}}
    - {name: h, exec: {command: ls, exit_code: 256, stdout: "[", timeout: 5}}
    - {name: h2, tcp: {address: 127.0.0.1:1, timeout: 1s}}
    - {name: h2, tcp: {address: 127.0.0.1:2}}
halt_when:
  - {probe: {name: x, tcp: {address: 127.0.0.1:1}}}
`), [
    '6:20 timeline[0].heal: expected \'all\' or {proxy: NAME}, got "everything"',
    '7:21 timeline[1].proxy: a proxy step needs at least one of enabled, upstream, listen',
    '8:21 timeline[2].probe: a probe needs exactly one of tcp, http, exec, found none',
    '9:62 timeline[3].probe: a probe needs exactly one of tcp, http, exec, found 2: tcp, exec',
    '11:11 steady_state.during: expected a duration longer than 0, like 500ms, 30s or 2m',
    '13:29 steady_state.probes[0].http.url: expected an http:// or https:// URL like http://127.0.0.1:8080/health, got "localhost:80"',
    '13:51 steady_state.probes[0].http.body: invalid regular expression: /(/: Unterminated group',
    '13:64 steady_state.probes[0].http.status: expected an integer from 100 to 599, got 99',
    '13:81 steady_state.probes[0].http.max_latency: expected a duration like 500ms, 30s or 2m, got 1 (a bare number is ambiguous: add a unit)',
    '14:48 steady_state.probes[1].exec.exit_code: expected an integer from 0 to 255, got 256',
    '14:61 steady_state.probes[1].exec.stdout: invalid regular expression: /[/: Unterminated character class',
    '14:75 steady_state.probes[1].exec.timeout: expected a duration like 500ms, 30s or 2m, got 5 (a bare number is ambiguous: add a unit)',
    "16:14 steady_state.probes[3].name: duplicate probe name 'h2'; steady_state.probes[2] already uses it",
    "18:5 halt_when[0]: missing required key 'failing_for'",
  ]);
});

test('one file with many mistakes gets all of them, in order', () => {
  const found = issues(fixture('invalid.yaml'));
  assert.equal(found, [
    '4:15 proxies[0].upstream: expected host:port like 127.0.0.1:5432 (port 1 to 65535), got "127.0.0.1"',
    '7:61 steady_state.probes[0].tcp.timeout: expected a duration like 500ms, 30s or 2m, got "1 second"',
    "9:5 timeline[0].atx: unknown key 'atx'; expected one of at, for, toxic, update_toxic, remove_toxic, proxy, partition, heal, probe",
    "9:5 timeline[0]: missing required key 'at'",
    '11:9 timeline[1].at: expected a duration like 500ms, 30s or 2m, got "10 seconds"',
    "12:30 timeline[1].toxic.type: unknown toxic type 'latncy'; expected one of latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data, packet_loss, duplicate, reorder, corrupt, half_open, partition, slow_open, limit_time, http_abort, http_delay, http_reset, dns_error, dns_delay, dns_drop, dns_ttl, dns_answer, dns_truncate, noop",
    '12:46 timeline[1].toxic.stream: expected upstream or downstream, got "sideways"',
    '15:5 timeline[2]: a step needs exactly one action, found 2: heal, probe',
  ]);
});

test.run();
