// Checks the JSON shapes the API accepts. Wrong types get Toxiproxy's `bad request body:` prefix
// and name the field; values are checked further down (the collection, the toxic definitions).

import { badBody } from '../errors.js';
import type { ProxyInput, ToxicInput } from '../core/collection.js';

type Json = Record<string, unknown>;

/** Nesting of arrays and objects in a body. The deepest body a client sends is a run record
 *  from `faultline run` (PUT /scenarios/runs/{id}), at 4 levels; deep nesting only ever served
 *  to overflow the stack of whatever walks the value next (checks, JSON.stringify, storage). */
export const MAX_JSON_DEPTH = 64;

/** Parses a request body. Empty and malformed bodies read as Toxiproxy's do (`EOF`). The depth
 *  is checked on the bytes first, so nothing recursive ever sees a deeper value. */
export function parseJson(raw: Buffer): unknown {
  const tooDeep = depthPast(raw, MAX_JSON_DEPTH);
  if (tooDeep >= 0) throw badBody(`JSON nested deeper than ${MAX_JSON_DEPTH} levels (at byte ${tooDeep}); the limit is ${MAX_JSON_DEPTH}`);
  const text = raw.toString('utf8');
  if (text.trim() === '') throw badBody('EOF');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badBody((err as Error).message);
  }
}

/** The offset of the bracket that opens level `limit + 1`, or -1. Brackets inside strings do
 *  not count; malformed JSON may be miscounted, but JSON.parse refuses it anyway. */
export function depthPast(raw: Uint8Array, limit: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (inString) {
      if (b === 0x5c) i++; // a backslash escapes the next byte, a quote included
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) {
      inString = true;
    } else if (b === 0x5b || b === 0x7b) {
      if (++depth > limit) return i;
    } else if (b === 0x5d || b === 0x7d) {
      depth--;
    }
  }
  return -1;
}

export function objectBody(body: unknown, what: string): Json {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badBody(`${what} must be a JSON object, got ${kind(body)}`);
  }
  return body as Json;
}

export function proxyInput(body: unknown, what = 'proxy'): ProxyInput {
  const json = objectBody(body, what);
  return {
    name: optional(json, 'name', 'string'),
    listen: optional(json, 'listen', 'string'),
    upstream: optional(json, 'upstream', 'string'),
    enabled: optional(json, 'enabled', 'boolean'),
    protocol: optional(json, 'protocol', 'string'),
    idle_timeout: optional(json, 'idle_timeout', 'number'),
    max_connections: optional(json, 'max_connections', 'number'),
  };
}

export function populateInput(body: unknown): ProxyInput[] {
  if (!Array.isArray(body)) throw badBody(`populate expects a JSON array of proxies, got ${kind(body)}`);
  return body.map((item, i) => proxyInput(item, `proxy ${i + 1}`));
}

export function toxicInput(body: unknown): ToxicInput {
  const json = objectBody(body, 'toxic');
  return {
    name: optional(json, 'name', 'string'),
    type: optional(json, 'type', 'string'),
    // null is absent, as for the other fields: Toxiproxy's decoder leaves the stream downstream.
    stream: optional(json, 'stream', 'string'),
    toxicity: optional(json, 'toxicity', 'number'),
    attributes: json.attributes,
    // null is kept (not folded into "absent"): on update it clears the ttl.
    ttl: json.ttl === null ? null : optional(json, 'ttl', 'number'),
  };
}

function optional<T extends 'string' | 'boolean' | 'number'>(
  json: Json, field: string, type: T,
): (T extends 'string' ? string : T extends 'boolean' ? boolean : number) | undefined {
  const value = json[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== type) throw badBody(`field ${field} must be a ${type}, got ${kind(value)}`);
  return value as never;
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
