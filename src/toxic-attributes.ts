// Toxic attributes: how each kind is declared, defaulted and checked, in one place, so the API,
// the catalog (GET /toxics), the CLI, the dashboard's forms and the scenario validator all
// agree on what a toxic accepts. Re-exported by src/toxic.ts, the file toxics import.
//
// String attributes are user input that the data path evaluates on every request, so each
// format is bounded: a length limit, and patterns (path globs, header regexes) compiled for
// V8's linear-time engine, which cannot backtrack catastrophically whatever the pattern.
// Lists (a DNS answer's addresses) are JSON arrays of strings, bounded in length too.

import { isIP } from 'node:net';
import v8 from 'node:v8';
import { invalidAttribute } from './errors.js';
import type { AnyToxicDefinition, Protocol } from './toxic.js';

// Enables the `l` (linear) RegExp flag. It only adds an engine; no other behaviour changes.
v8.setFlagsFromString('--enable-experimental-regexp-engine');

export type AttributeValue = number | string | boolean | readonly string[];
export type Attributes = Record<string, AttributeValue>;

/**
 * What a string attribute holds: free `text` (a response body), a path `glob` (`*` one
 * segment's characters, `**` any characters, `?` one character), a `header` match
 * (`name: regex`, or just `name` for presence), comma-separated HTTP `methods`, or a DNS
 * `domain` pattern (a name, or `*.suffix` for the names below suffix).
 */
export type StringFormat = 'text' | 'glob' | 'header' | 'methods' | 'domain';

/** What each item of a list attribute holds: an IPv4 or IPv6 address. */
export type ListFormat = 'ip';

/** Declares one attribute: validation, the `GET /toxics` catalog and defaults come from it.
 *  `protocols` narrows where the attribute means something below the toxic's own protocols;
 *  on other proxies it is neither stored nor shown, so TCP clients see Toxiproxy's exact JSON. */
export type AttributeSpec = { protocols?: readonly Protocol[] } & (
  | { kind: 'integer'; default: number; unit: string; min?: number; max?: number; description: string }
  | { kind: 'number'; default: number; unit: string; min?: number; max?: number; description: string }
  | { kind: 'boolean'; default: boolean; description: string }
  | { kind: 'enum'; default: string; values: readonly string[]; description: string }
  | { kind: 'string'; default: string; format: StringFormat; maxLength: number; description: string }
  | { kind: 'list'; default: readonly string[]; format: ListFormat; maxItems: number; description: string }
);

export function attributeError(field: string, reason: string): Error {
  return invalidAttribute(field, reason);
}

/** The attributes a toxic has on a proxy of `protocol` (all of them when it is not given). */
function specsFor(definition: AnyToxicDefinition, protocol?: Protocol): [string, AttributeSpec][] {
  const all = Object.entries(definition.attributes) as [string, AttributeSpec][];
  return protocol === undefined ? all : all.filter(([, spec]) => spec.protocols?.includes(protocol) ?? true);
}

export function defaultAttributes(definition: AnyToxicDefinition, protocol?: Protocol): Attributes {
  const out: Attributes = {};
  for (const [name, spec] of specsFor(definition, protocol)) out[name] = spec.default;
  return out;
}

/**
 * Validates API input against a definition, merged over `base` (the defaults on create, the
 * current values on update). Absent and null keys keep `base`; unknown keys are ignored, as
 * Toxiproxy ignores them, and so are attributes that mean nothing on a proxy of `protocol`
 * (bandwidth's `queue` on TCP), which are then neither kept nor shown. Throws an error that
 * names the bad field.
 */
export function parseAttributes(definition: AnyToxicDefinition, input: unknown, base?: Attributes, protocol?: Protocol): Attributes {
  const out: Attributes = { ...(base ?? defaultAttributes(definition, protocol)) };
  if (input !== undefined && input !== null) {
    if (typeof input !== 'object' || Array.isArray(input)) {
      throw attributeError('attributes', 'must be a JSON object');
    }
    const given = input as Record<string, unknown>;
    for (const [name, spec] of specsFor(definition, protocol)) {
      const value = given[name];
      if (value === undefined || value === null) continue;
      out[name] = checkValue(name, spec, value);
    }
  }
  (definition.validate as ((attributes: Attributes) => void) | undefined)?.(out);
  return out;
}

function checkValue(name: string, spec: AttributeSpec, value: unknown): AttributeValue {
  switch (spec.kind) {
    case 'boolean':
      if (typeof value !== 'boolean') throw attributeError(name, `must be a boolean, got ${describe(value)}`);
      return value;
    case 'enum':
      if (typeof value !== 'string' || !spec.values.includes(value)) {
        throw attributeError(name, `must be one of ${spec.values.join(', ')}, got ${describe(value)}`);
      }
      return value;
    case 'string':
      if (typeof value !== 'string') throw attributeError(name, `must be a string, got ${describe(value)}`);
      if (Buffer.byteLength(value) > spec.maxLength) {
        throw attributeError(name, `must be at most ${spec.maxLength} bytes of UTF-8, got ${Buffer.byteLength(value)}`);
      }
      checkFormat(name, spec.format, value);
      return value;
    case 'list':
      return checkList(name, spec.maxItems, value);
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw attributeError(name, `must be a number, got ${describe(value)}`);
      }
      if (spec.kind === 'integer' && !Number.isInteger(value)) {
        throw attributeError(name, `must be an integer, got ${value}`);
      }
      const min = spec.min ?? 0;
      const max = spec.max ?? (spec.kind === 'integer' ? Number.MAX_SAFE_INTEGER : Infinity);
      if (value < min) throw attributeError(name, `must be at least ${min}, got ${value}`);
      if (value > max) throw attributeError(name, `must be at most ${max}, got ${value}`);
      return value;
    }
  }
}

/** A token as HTTP defines it (RFC 9110 5.6.2): header names and methods. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function checkFormat(name: string, format: StringFormat, value: string): void {
  if (format === 'text') return;
  if (/[\u0000-\u001f\u007f]/.test(value)) throw attributeError(name, 'holds a control character');
  if (format === 'methods') {
    if (value === '') return;
    const bad = value.split(',').map((m) => m.trim()).find((m) => !TOKEN.test(m));
    if (bad !== undefined) throw attributeError(name, `must be HTTP methods separated by commas (GET,POST), got ${describe(bad)}`);
  } else if (format === 'domain') {
    const problem = domainPatternProblem(value);
    if (problem !== null) throw attributeError(name, problem);
  } else if (format === 'glob') {
    compileGlob(value);
  } else {
    try {
      compileHeaderMatch(value);
    } catch (err) {
      throw attributeError(name, (err as Error).message);
    }
  }
}

/** A JSON array of at most `max` IP addresses (a list's only format so far), each written as
 *  Node parses it, so what is stored is what the data path will send. */
function checkList(name: string, max: number, value: unknown): readonly string[] {
  if (!Array.isArray(value)) throw attributeError(name, `must be a JSON array of IP addresses, got ${describe(value)}`);
  if (value.length > max) throw attributeError(name, `must hold at most ${max} addresses, got ${value.length}`);
  value.forEach((item: unknown, i) => {
    if (typeof item !== 'string' || isIP(item) === 0) {
      throw attributeError(name, `must hold IPv4 or IPv6 addresses, got ${describe(item)} at index ${i}`);
    }
  });
  return [...value] as string[];
}

/** Why a DNS name pattern is not one ('' and `*.suffix` are), or null. Labels are letters,
 *  digits, `-` and `_` (as in `_sip._tcp`), 1 to 63 of them, the name at most 253 long. */
export function domainPatternProblem(pattern: string): string | null {
  if (pattern === '') return null;
  const name = pattern.endsWith('.') ? pattern.slice(0, -1) : pattern;
  const labels = name.split('.');
  const wild = labels[0] === '*';
  if (wild && labels.length === 1) return 'must be a name or *.suffix; leave it empty to match any name';
  if (name.length > 253) return `must be a DNS name of at most 253 characters, got ${name.length}`;
  const bad = labels.slice(wild ? 1 : 0).find((l) => !/^[A-Za-z0-9_-]{1,63}$/.test(l));
  if (bad !== undefined) {
    return `must be a DNS name (labels of letters, digits, - and _ joined by dots), or *.suffix; got ${describe(pattern)} (bad label ${JSON.stringify(bad)})`;
  }
  return null;
}

/** `name: regex` (or `name` alone: the header is present), for the data path to evaluate. */
export interface HeaderMatch {
  /** Lower case. */
  name: string;
  regex: RegExp | null;
}

/** Parses a header match; throws with the reason when it is not one. '' means none. */
export function compileHeaderMatch(value: string): HeaderMatch | null {
  if (value.trim() === '') return null;
  const colon = value.indexOf(':');
  const headerName = (colon < 0 ? value : value.slice(0, colon)).trim();
  if (!TOKEN.test(headerName)) {
    throw new Error(`must be "name: regex" with a header name before the colon, got ${describe(headerName)}`);
  }
  const pattern = colon < 0 ? '' : value.slice(colon + 1).trim();
  return { name: headerName.toLowerCase(), regex: pattern === '' ? null : linearRegex(pattern) };
}

/** A regex for V8's linear-time engine: no backreferences, lookaround or case-insensitive
 *  flag, which need backtracking; the reason says so. */
export function linearRegex(pattern: string): RegExp {
  try {
    return new RegExp(pattern, 'l');
  } catch (err) {
    const reason = (err as Error).message.replace(/^Invalid regular expression: /, '');
    throw new Error(`is not a regular expression the linear-time engine runs (no backreferences or lookaround): ${reason}`);
  }
}

/** A path glob as an anchored linear-time regex; '' matches every path. */
export function compileGlob(glob: string): RegExp | null {
  if (glob === '') return null;
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 'l');
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (Array.isArray(value)) return 'array';
  return typeof value === 'object' ? 'object' : `${typeof value} ${String(value)}`;
}
