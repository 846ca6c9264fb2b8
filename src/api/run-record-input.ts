// The body of PUT /scenarios/runs/{id}: a finished run's record, as `faultline run` builds it.
// It is stored as sent and served back to reports, which read every field below, so each is
// checked for its type (and a wrong one named by its path) before anything is stored. Unknown
// top-level keys are refused, like a misspelt key in a scenario file; the elements of the
// lists may carry more than what is checked (a step's `detail`, a probe's `reason`).

import { badBody } from '../errors.js';

export const RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;
const FINISHED = ['held', 'deviated', 'halted', 'error', 'aborted', 'not_started'] as const;
const KEYS = [
  'id', 'origin', 'title', 'scenario', 'status', 'exit_code', 'reason', 'started_at', 'ended_at', 'duration_ms',
  'steps', 'probes', 'rollback', 'windows', 'event_counts', 'observed',
];

type Check = (value: unknown, path: string) => void;

const shown = (value: unknown) => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
};
const fail = (path: string, expected: string, value: unknown): never => {
  throw badBody(`${path}: expected ${expected}, got ${value === undefined ? 'nothing' : shown(value)}`);
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const string: Check = (v, path) => { if (typeof v !== 'string') fail(path, 'a string', v); };
const boolean: Check = (v, path) => { if (typeof v !== 'boolean') fail(path, 'true or false', v); };
const number: Check = (v, path) => { if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, 'a number', v); };
const count: Check = (v, path) => { if (!Number.isSafeInteger(v) || (v as number) < 0) fail(path, 'a whole number, 0 or more', v); };
const optional = (check: Check): Check => (v, path) => { if (v !== undefined) check(v, path); };
const oneOf = (values: readonly string[]): Check => (v, path) => {
  if (typeof v !== 'string' || !values.includes(v)) fail(path, `one of ${values.join(', ')}`, v);
};

function shape(fields: Record<string, Check>): Check {
  return (v, path) => {
    if (!isObject(v)) return fail(path, 'an object', v);
    for (const [key, check] of Object.entries(fields)) check(v[key], `${path}.${key}`);
  };
}

function list(item: Check): Check {
  return (v, path) => {
    if (!Array.isArray(v)) return fail(path, 'an array', v);
    v.forEach((e, i) => item(e, `${path}[${i}]`));
  };
}

function record(value: Check): Check {
  return (v, path) => {
    if (!isObject(v)) return fail(path, 'an object', v);
    for (const [key, e] of Object.entries(v)) value(e, `${path}.${key}`);
  };
}

const FIELDS: Record<string, Check> = {
  origin: optional(oneOf(['cli'])),
  title: string,
  scenario: string,
  status: oneOf(FINISHED),
  exit_code: (v, path) => { if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 255) fail(path, 'an exit code from 0 to 255', v); },
  reason: string,
  started_at: count,
  ended_at: count,
  duration_ms: count,
  steps: list(shape({
    index: count, kind: string, atMs: number, firedAtMs: number, lateMs: number, ok: boolean,
    detail: optional(string), error: optional(string),
  })),
  probes: list(shape({
    probe: string, ok: boolean, latencyMs: number, ts: number, phase: string, reason: optional(string), output: optional(string),
    value: (v, path) => { if (typeof v !== 'string') number(v, path); },
  })),
  rollback: (v, path) => { if (v !== null) shape({ ok: boolean, errors: list(string) })(v, path); },
  windows: list(shape({ proxy: string, toxic: string, type: string, stream: string, from_ms: number, to_ms: number })),
  event_counts: list(shape({ step: count, counts: record(count) })),
  observed: optional(record(shape({
    source: oneOf(['events', 'steps']), events_url: optional(string), events: optional(count),
    truncated: optional(boolean), note: optional(string),
  }))),
};

/** The checked record for PUT /scenarios/runs/{id} (`id` from the path); throws a 400 naming the
 *  first bad field. */
export function runRecordInput(body: unknown, id: string): Record<string, unknown> & { id: string } {
  if (!RUN_ID.test(id)) throw badBody(`a run id is 1 to 64 letters, digits, _ or -, got ${shown(id)}`);
  if (!isObject(body)) return fail('the body', 'a run record (an object)', body);
  const unknown = Object.keys(body).filter((key) => !KEYS.includes(key));
  if (unknown.length > 0) throw badBody(`unknown key '${unknown[0]}'; expected ${KEYS.join(', ')}`);
  if (body.id !== id) fail('id', `the id in the path, ${shown(id)}`, body.id);
  for (const [key, check] of Object.entries(FIELDS)) check(body[key], key);
  if ((body.ended_at as number) < (body.started_at as number)) fail('ended_at', `a time at or after started_at (${body.started_at})`, body.ended_at);
  return { ...body, id, origin: 'cli' };
}
