// Hostile requests for faultline's own routes (events, game-day runs, scenario files, chaos
// sessions) for the API fuzz suite. As in fuzz-requests.ts, each must be refused: scenario
// texts are all invalid (a valid one would start a run), run records all malformed, sessions
// all unknown or bodies a recording cannot start with.

import type { World } from './fuzz-requests.js';
import { badValue, bodyFor, bodyRequest, oddSegment, unknownFields, wrongType, type FuzzRequest, type Rng, type Semantic } from './fuzz-values.js';

const b64 = (text: string) => Buffer.from(text).toString('base64url');

const EVENT_DEFECTS: readonly (readonly string[])[] = [
  ['foo=1', 'Proxy=alpha', 'limit%00=1', '%ED%A0%80=1', 'proxy%5B%5D=a', '__proto__=1', 'constructor=1', '=', '=1', 'format%20=json'],
  ['proxy=a&proxy=b', 'limit=1&limit=1', 'format=ndjson&format=ndjson', 'since=1&since=1', 'cursor=x&cursor=y'],
  ['proxy=', 'conn=', 'type=', 'action=', 'kind=', 'toxic='],
  ['0', '-1', '10001', '1.5', 'abc', '', '%201', '1e3', '0x10', '9999999', '00000000001', '%2B1', '1%00', '%EF%BC%91'].map((v) => `limit=${v}`),
  ['abc', '2024-01-01T00:00:00', '2024-13-45', '1e3', '-5', '1234567890123456', '', 'now', '2024-1-1', '%ED%A0%80']
    .flatMap((v) => [`since=${v}`, `until=${v}`]),
  ['since=2000&until=1000', 'since=1000&until=1000', 'since=2024-01-02&until=2024-01-01'],
  ['x', '', b64('seq:0'), b64('seq:01'), b64('seq:-1'), b64('seq:1 '), 'c2VxOjE=', b64('seq:12345678901234567'), '%ED%A0%80', 'c2VxOjE%00']
    .map((v) => `cursor=${v}`),
  ['csv', 'NDJSON', '', 'json%20', 'ndjson%00', 'xml', 'application%2Fjson'].map((v) => `format=${v}`),
];
const EVENT_EXTRAS = ['proxy=alpha', 'kind=conn%3Aopened', 'limit=10', 'format=json', 'format=ndjson', 'since=0', 'toxic=lat', 'proxy=%ED%A0%80'];

/** A scenario text that cannot be valid, each for its own reason. */
export function invalidScenario(rng: Rng): { text: string; label: string } {
  const step = '  - at: 0s\n    toxic: {proxy: alpha, type: latency, attributes: {latency: 10}}\n';
  const cases: [string, () => string][] = [
    ['empty timeline', () => 'title: T\ntimeline: []\n'],
    ['unknown key', () => `title: T\ntimeline:\n${step}bogus_${rng.int(100)}: 1\n`],
    ['no title', () => `timeline:\n${step}`],
    ['no timeline', () => 'title: T\n'],
    ['YAML syntax', () => `title: [T\ntimeline:\n${step}`],
    ['tab indent', () => `\ttitle: T\ntimeline:\n${step}`],
    ['duplicate key', () => `title: a\ntitle: b\ntimeline:\n${step}`],
    ['not a mapping', () => rng.pick(['- a\n- b\n', '"just a string"', '42', 'null', '~', '', '   ', '[]', '{}', '\u0000'])],
    ['unknown action', () => 'title: T\ntimeline:\n  - at: 0s\n    explode: true\n'],
    ['JSON without timeline', () => '{"title": "T"}'],
    ['env reference', () => 'title: ${HOME}\ndescription: ${PATH:-x}\ntimeline: []\n'],
    ['exec probe, empty timeline', () => 'title: T\nsteady_state:\n  probes:\n    - name: p\n      exec: ["touch", "/tmp/faultline-fuzz"]\ntimeline: []\n'],
    ['garbage', () => Array.from({ length: 200 }, () => rng.pick(['{', '[', ']', '}', ':', '-', '"', "'", '&', '*', '!', '%', '\n', ' ', '\t', '|', '>', '#', '😀', '\u0000'])).join('')],
    ['nested YAML', () => { const d = rng.pick([100, 1000, 5000]); return `title: T\ntimeline: ${'['.repeat(d)}${']'.repeat(d)}\n`; }],
    ['nested YAML mappings', () => { const d = rng.pick([100, 2000]); return `title: T\ntimeline: ${'{a: '.repeat(d)}1${'}'.repeat(d)}\n`; }],
    ['alias bomb', () => {
      let text = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
      for (let i = 1; i < 9; i++) text += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
      return `${text}title: T\ntimeline:\n  - at: 0s\n    probe: *a8\n`;
    }],
    ['900 KB description', () => `title: T\ndescription: ${'a'.repeat(900_000)}\ntimeline: []\n`],
    ['many keys', () => {
      const n = rng.pick([1000, 5000, 15_000]);
      return `title: T\ntimeline: []\n${Array.from({ length: n }, (_, i) => `k${i}: ${i}\n`).join('')}`;
    }],
  ];
  // The slow ones on an unbounded parser are rare, so a run stays short even before limits.
  const [label, make] = rng.chance(0.9) ? rng.pick(cases.slice(0, 13)) : rng.pick(cases.slice(13));
  return { text: make(), label: `invalid scenario: ${label}` };
}

/** The ids PUT accepts (run-record-input.ts): an oddity in the path must not be one of them. */
const RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;

const RUN_FIELDS: Record<string, (v: unknown) => boolean> = {
  title: (v) => typeof v === 'string',
  scenario: (v) => typeof v === 'string',
  status: (v) => typeof v === 'string' && ['held', 'deviated', 'halted', 'error', 'aborted', 'not_started'].includes(v),
  exit_code: (v) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 255,
  reason: (v) => typeof v === 'string',
  started_at: (v) => Number.isSafeInteger(v) && (v as number) >= 0,
  ended_at: (v) => Number.isSafeInteger(v) && (v as number) >= 1,
  duration_ms: (v) => Number.isSafeInteger(v) && (v as number) >= 0,
  steps: (v) => Array.isArray(v) && v.length === 0,
  probes: (v) => Array.isArray(v) && v.length === 0,
  rollback: (v) => v === null,
  windows: (v) => Array.isArray(v) && v.length === 0,
  event_counts: (v) => Array.isArray(v) && v.length === 0,
  origin: (v) => v === 'cli',
  observed: (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0,
};

/** A finished run's record as `faultline run` sends it; valid as it stands. */
function runRecord(id: string): Record<string, unknown> {
  return {
    id, title: 't', scenario: 'title: t', status: 'held', exit_code: 0, reason: '', started_at: 1, ended_at: 2, duration_ms: 1,
    steps: [{ index: 0, kind: 'toxic', atMs: 0, firedAtMs: 0, lateMs: 0, ok: true }],
    probes: [{ probe: 'p', ok: true, latencyMs: 1, ts: 1, phase: 'steady', value: 1 }],
    rollback: { ok: true, errors: [] },
    windows: [{ proxy: 'a', toxic: 't', type: 'latency', stream: 'downstream', from_ms: 0, to_ms: 1 }],
    event_counts: [{ step: 0, counts: { a: 1 } }],
  };
}

function recordDefect(rng: Rng, id: string): Semantic {
  const record = runRecord(id);
  const kind = rng.pick(['field', 'missing field', 'unknown key', 'id mismatch', 'nested', 'ended before started', 'huge title']);
  switch (kind) {
    case 'field': {
      const field = rng.pick(Object.keys(RUN_FIELDS));
      record[field] = badValue(rng, RUN_FIELDS[field]!);
      return { value: record, label: `run record: bad ${field}` };
    }
    case 'missing field': {
      const field = rng.pick(['id', ...Object.keys(RUN_FIELDS).filter((f) => f !== 'origin' && f !== 'observed')]);
      delete record[field];
      return { value: record, label: `run record: no ${field}` };
    }
    case 'unknown key': return { value: { ...record, ...unknownFields(rng), zz: 1 }, label: 'run record: unknown key' };
    case 'id mismatch': record.id = rng.pick([`${id}x`, id.toUpperCase() + '_', '', 5, null]); return { value: record, label: kind };
    case 'nested': {
      const r = record as any;
      const [path, apply] = rng.pick<[string, () => void]>([
        ['steps[0].index', () => { r.steps[0].index = -1; }],
        ['probes[0].ok', () => { r.probes[0].ok = 'yes'; }],
        ['windows[0].from_ms', () => { r.windows[0].from_ms = 'x'; }],
        ['event_counts[0].counts.a', () => { r.event_counts[0].counts.a = -1; }],
        ['rollback.errors', () => { r.rollback.errors = [1]; }],
        ['probes[0].value', () => { r.probes[0].value = [1]; }],
      ]);
      apply();
      return { value: record, label: `run record: bad ${path}` };
    }
    case 'ended before started': Object.assign(record, { started_at: 5, ended_at: 4 }); return { value: record, label: kind };
    default: Object.assign(record, { title: 't'.repeat(900_000), status: 'running' }); return { value: record, label: 'run record: 900 KB title, bad status' };
  }
}

/** A request without a body. */
const bare = (route: string, label: string, path: string, status: readonly number[]): FuzzRequest =>
  ({ route, label, method: route.split(' ')[0]!, path, headers: {}, expect: { status } });
/** A run or session id that names nothing: odd, or well-formed and unused. */
const missingId = (rng: Rng, world: World) => (rng.chance(0.5) ? oddSegment(rng, world.taken) : rng.pick(['fz-none', 'V1StGXR8_Z5jdHi6B-myT', 'a'.repeat(64), '0']));

export const EXTENSION_GENERATORS: Record<string, (rng: Rng, world: World) => FuzzRequest> = {
  'GET /events': (rng) => {
    const parts = [rng.pick(rng.pick(EVENT_DEFECTS))];
    for (let i = rng.int(3); i > 0; i--) parts.splice(rng.int(parts.length + 1), 0, rng.pick(EVENT_EXTRAS));
    return bare('GET /events', 'bad query', `/events?${parts.join('&')}`, [400]);
  },
  'POST /scenarios/runs': (rng) => {
    const b = bodyFor(rng, (): Semantic => {
      if (rng.chance(0.25)) {
        const value = rng.pick([{}, { scenario: wrongType(rng, 'string') }, { Scenario: 'title: T' }, { text: 'title: T' }]);
        return { value, label: 'no scenario text' };
      }
      const s = invalidScenario(rng);
      return { value: { scenario: s.text, ...(rng.chance(0.2) ? unknownFields(rng) : {}) }, label: s.label, issues: true };
    });
    return bodyRequest('POST /scenarios/runs', '/scenarios/runs', b);
  },
  'GET /scenarios/runs/:id': (rng, world) => bare('GET /scenarios/runs/:id', 'run not found', `/scenarios/runs/${missingId(rng, world)}`, [404]),
  'GET /scenarios/runs/:id/report': (rng, world) => bare('GET /scenarios/runs/:id/report', 'run not found', `/scenarios/runs/${missingId(rng, world)}/report`, [404]),
  'DELETE /scenarios/runs/:id': (rng, world) => bare('DELETE /scenarios/runs/:id', 'run not found', `/scenarios/runs/${missingId(rng, world)}`, [404]),
  'PUT /scenarios/runs/:id': (rng, world) => {
    if (rng.chance(0.15)) {
      // The id in the path is what is wrong; the record would otherwise be stored.
      let id: string;
      let decoded: string | null;
      do {
        id = rng.pick(['a'.repeat(65), 'a.b', 'a%2Fb', '..', '%E2%98%83', 'a%20b', 'a%00', oddSegment(rng, world.taken)]);
        try { decoded = decodeURIComponent(id); } catch { decoded = null; } // undecodable: 404, no route
      } while (decoded !== null && RUN_ID.test(decoded));
      const b = Buffer.from(JSON.stringify(runRecord(decoded ?? 'x')));
      const expect = { status: decoded === null ? [404] : [400] };
      return { route: 'PUT /scenarios/runs/:id', label: 'bad run id', method: 'PUT', path: `/scenarios/runs/${id}`, headers: {}, body: b, expect };
    }
    const id = rng.pick(['fz-run', 'r1', 'V1StGXR8_Z5jdHi6B-myT']);
    return bodyRequest('PUT /scenarios/runs/:id', `/scenarios/runs/${id}`, bodyFor(rng, () => recordDefect(rng, id)));
  },
  'GET /scenarios/files/:name': (rng, world) => {
    const name = rng.chance(0.6)
      ? rng.pick(['..%2Fsecret.yaml', '%2e%2e%2fsecret.yaml', 'link.yaml', '.hidden.yaml', 'ok.yaml%00', 'ok.yaml%00.yaml', 'OK.YAML',
        'notes.txt', 'dir.yaml', 'big.yaml', 'missing.yaml', '%ED%A0%80.yaml', `${'a'.repeat(300)}.yaml`, 'ok.yaml%2F', '..', '.',
        'ok.yaml%5C..%5Csecret.yaml', '..%5Csecret.yaml', 'ok.yml.', '%2Fetc%2Fpasswd', 'ok.yaml%20'])
      : oddSegment(rng, world.taken);
    return bare('GET /scenarios/files/:name', 'file not served', `/scenarios/files/${name}`, [404]);
  },
  'POST /sessions': (rng) => bodyRequest('POST /sessions', '/sessions', bodyFor(rng, (): Semantic => {
    const kind = rng.pick(['name type', 'bad name', 'unknown field', 'name and unknown field']);
    if (kind === 'name type') return { value: { name: wrongType(rng, 'string') }, label: 'session: wrong type name' };
    if (kind === 'bad name') return { value: { name: rng.pick(['', '   ', '\t\n', 'n'.repeat(201), '☃'.repeat(201), 'x'.repeat(900_000)]) }, label: 'session: bad name' };
    const extra = unknownFields(rng);
    return { value: kind === 'unknown field' ? extra : { name: 'fz', ...extra }, label: `session: ${kind}` };
  }, { emptyReads: true, shapes: ['[]', '"x"', '1', 'true', 'null', '[{"name":"x"}]', '-0'] })),
  'GET /sessions/:id': (rng, world) => bare('GET /sessions/:id', 'session not found', `/sessions/${missingId(rng, world)}`, [404]),
  'POST /sessions/:id/stop': (rng, world) => bare('POST /sessions/:id/stop', 'session not found', `/sessions/${missingId(rng, world)}/stop`, [404]),
  'DELETE /sessions/:id': (rng, world) => bare('DELETE /sessions/:id', 'session not found', `/sessions/${missingId(rng, world)}`, [404]),
  'GET /sessions/:id/scenario': (rng, world) => {
    if (rng.chance(0.3)) return bare('GET /sessions/:id/scenario', 'session not found', `/sessions/${missingId(rng, world)}/scenario?format=json`, [404]);
    const query = rng.pick(['format=xml', 'format=', 'format=YAML', 'format=json&format=json', 'format=yaml&format=json', 'x=1', 'format=json&x=1',
      '%ED%A0%80=1', '=', 'format=json%00', 'Format=json']);
    // The query is checked before the id is looked up, but after the path is decoded.
    const id = rng.pick(['fz-none', 'V1StGXR8_Z5jdHi6B-myT', '%E2%98%83', 'a%2Fb']);
    return bare('GET /sessions/:id/scenario', 'bad query', `/sessions/${id}/scenario?${query}`, [400]);
  },
};

