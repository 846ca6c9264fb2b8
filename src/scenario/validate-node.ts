// Reading YAML nodes with positions: every reader either returns a typed value or records an
// issue at the offending node (1-based line and column, key path, what was expected) and
// returns undefined, so validation goes on and a file gets all its errors at once.

import { isAlias, isMap, isScalar, isSeq, Scalar, type Document, type LineCounter } from 'yaml';
import type { ScenarioIssue } from './types.js';
import { describeValue, parseDuration } from './duration.js';

/** A parsed YAML node (Scalar, YAMLMap, YAMLSeq, Alias) or null where nothing was written. */
export type YamlNode = unknown;

export interface Field {
  key: YamlNode;
  value: YamlNode;
}

/** A mapping's entries by key, in file order, plus the mapping node itself. */
export interface Fields {
  node: YamlNode;
  entries: Map<string, Field>;
}

export class Checker {
  /** Every issue reported, including hidden ones (see `visibleIssues`), so that counting
   *  issues tells a reader whether what it read is sound. */
  readonly issues: ScenarioIssue[] = [];
  /** Substituted values (interpolate.ts): the text as written, and the number or boolean it
   *  reads as where one is expected. */
  private readonly sources = new WeakMap<object, { source: string; typed: number | boolean | undefined }>();
  /** Values whose substitution failed: that failure is their one visible issue. */
  private readonly failed = new WeakSet<object>();
  private readonly hidden = new WeakSet<ScenarioIssue>();

  constructor(private readonly doc: Document, private readonly lines: LineCounter) {}

  substituted(node: Scalar, source: string, typed: number | boolean | undefined): void {
    this.sources.set(node, { source, typed });
  }

  unresolved(node: Scalar): void {
    this.failed.add(node);
  }

  /** A scalar's value where a number or boolean is expected: a substituted string that reads
   *  as one counts as one (`"${LAT:-200}"` is 200 there). */
  typed(node: YamlNode): unknown {
    if (!isScalar(node)) return undefined;
    return this.sources.get(node)?.typed ?? node.value;
  }

  /** The issues to show: an unsubstituted value's own checks are noise after its failure. */
  visibleIssues(): ScenarioIssue[] {
    return this.issues.filter((issue) => !this.hidden.has(issue));
  }

  /** Follows an alias to the node it names. */
  resolve(node: YamlNode): YamlNode {
    return isAlias(node) ? (node.resolve(this.doc) ?? null) : node;
  }

  /** Where a node starts; where `fallback` starts when the node has no position. */
  position(node: YamlNode, fallback?: YamlNode): { line: number; column: number } {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    if (range) {
      const { line, col } = this.lines.linePos(range[0]);
      return { line, column: col };
    }
    if (fallback !== undefined) return this.position(fallback);
    return { line: 1, column: 1 };
  }

  lineOf(node: YamlNode): number {
    return this.position(node).line;
  }

  report(node: YamlNode, path: string, message: string, fallback?: YamlNode): void {
    const key = isScalar(node) ? node : null;
    const from = key === null ? undefined : this.sources.get(key)?.source;
    const issue = { ...this.position(node, fallback), path, message: from === undefined ? message : `${message} (substituted from ${JSON.stringify(from)})` };
    this.issues.push(issue);
    if (key !== null && this.failed.has(key)) this.hidden.add(issue);
  }

  reportAt(offset: number, path: string, message: string): void {
    const { line, col } = this.lines.linePos(offset);
    this.issues.push({ line, column: col, path, message });
  }
}

export const child = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);
export const item = (path: string, index: number): string => `${path}[${index}]`;

/** A JS value of a node, for free-form attributes (where a substituted number counts as one). */
export function plain(c: Checker, node: YamlNode): unknown {
  const target = c.resolve(node);
  if (target === null || target === undefined) return null;
  if (isScalar(target)) return c.typed(target);
  return (target as { toJSON(): unknown }).toJSON();
}

/** The value as written (after substitution), for messages. */
function describeNode(c: Checker, node: YamlNode): string {
  const target = c.resolve(node);
  return describeValue(isScalar(target) ? target.value : plain(c, target));
}

/**
 * A mapping with fixed keys (`allowed`, in the order messages list them): unknown keys are
 * reported at the key, missing `required` keys at the mapping.
 */
export function fields(
  c: Checker, node: YamlNode, path: string, allowed: readonly string[], required: readonly string[] = [],
): Fields | undefined {
  const target = c.resolve(node);
  if (!isMap(target)) {
    c.report(target, path, `expected a mapping with keys ${allowed.join(', ')}, got ${describeNode(c, target)}`);
    return undefined;
  }
  const entries = new Map<string, Field>();
  for (const pair of target.items) {
    const key = c.resolve(pair.key);
    const name = isScalar(key) ? String(key.value) : null;
    if (name === null) {
      c.report(key, path, `expected a key name, got ${describeNode(c, key)}`, target);
    } else if (!allowed.includes(name)) {
      c.report(key, child(path, name), `unknown key '${name}'; expected one of ${allowed.join(', ')}`, target);
    } else {
      entries.set(name, { key, value: pair.value ?? nothingAfter(key) });
    }
  }
  for (const name of required) {
    if (!entries.has(name)) c.report(target, path, `missing required key '${name}'`);
  }
  return { node: target, entries };
}

/** Stands for a value that was not written at all (`{title}`), placed right after its key. */
function nothingAfter(key: YamlNode): Scalar {
  const empty = new Scalar(null);
  const end = (key as { range?: [number, number, number] }).range?.[1];
  if (end !== undefined) empty.range = [end, end, end];
  return empty;
}

/** The value node of `key` in a mapping node, without reporting anything. */
export function lookup(c: Checker, node: YamlNode, key: string): YamlNode | undefined {
  const target = c.resolve(node);
  if (!isMap(target)) return undefined;
  const pair = target.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
  return pair ? (pair.value ?? nothingAfter(pair.key)) : undefined;
}

/** The value node of a key, or undefined when the key is absent. */
export function get(f: Fields, key: string): YamlNode | undefined {
  return f.entries.get(key)?.value;
}

export function text(c: Checker, node: YamlNode, path: string, what = 'a non-empty string'): string | undefined {
  const target = c.resolve(node);
  if (isScalar(target) && typeof target.value === 'string' && target.value !== '') return target.value;
  c.report(target, path, `expected ${what}, got ${describeNode(c, target)}`);
  return undefined;
}

export function bool(c: Checker, node: YamlNode, path: string): boolean | undefined {
  const target = c.resolve(node);
  const value = c.typed(target);
  if (typeof value === 'boolean') return value;
  c.report(target, path, `expected true or false, got ${describeNode(c, target)}`);
  return undefined;
}

export function integer(c: Checker, node: YamlNode, path: string, min: number, max: number): number | undefined {
  const target = c.resolve(node);
  const value = c.typed(target);
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
  c.report(target, path, `expected an integer from ${min} to ${max}, got ${describeNode(c, target)}`);
  return undefined;
}

/** A probability: a number from 0 to 1. */
export function fraction(c: Checker, node: YamlNode, path: string): number | undefined {
  const target = c.resolve(node);
  const value = c.typed(target);
  if (typeof value === 'number' && value >= 0 && value <= 1) return value;
  c.report(target, path, `expected a number from 0 to 1, got ${describeNode(c, target)}`);
  return undefined;
}

export function oneOf<T extends string>(c: Checker, node: YamlNode, path: string, values: readonly T[]): T | undefined {
  const target = c.resolve(node);
  const value = isScalar(target) ? target.value : undefined;
  if (typeof value === 'string' && (values as readonly string[]).includes(value)) return value as T;
  const expected = values.length > 2 ? `${values.slice(0, -1).join(', ')} or ${values.at(-1)}` : values.join(' or ');
  c.report(target, path, `expected ${expected}, got ${describeNode(c, target)}`);
  return undefined;
}

/** Milliseconds; `positive` refuses 0. */
export function duration(c: Checker, node: YamlNode, path: string, positive = false): number | undefined {
  const target = c.resolve(node);
  const parsed = parseDuration(isScalar(target) ? target.value : plain(c, target));
  if ('error' in parsed) {
    c.report(target, path, parsed.error);
    return undefined;
  }
  if (positive && parsed.ms === 0) {
    c.report(target, path, 'expected a duration longer than 0, like 500ms, 30s or 2m');
    return undefined;
  }
  return parsed.ms;
}

/** `host:port`, IPv6 hosts in brackets; port 0 only where `allowZero` (a listen address). */
export function hostPort(c: Checker, node: YamlNode, path: string, allowZero: boolean): string | undefined {
  const target = c.resolve(node);
  const value = isScalar(target) ? target.value : undefined;
  const match = typeof value === 'string' ? /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(value) : null;
  const port = match ? Number(match[2]) : -1;
  if (match && port <= 65535 && (port > 0 || allowZero)) return value as string;
  const example = allowZero ? '127.0.0.1:0' : '127.0.0.1:5432';
  const range = allowZero ? '0 to 65535' : '1 to 65535';
  c.report(target, path, `expected host:port like ${example} (port ${range}), got ${describeNode(c, target)}`);
  return undefined;
}

/** An absolute http:// or https:// URL. */
export function httpUrl(c: Checker, node: YamlNode, path: string, example: string): string | undefined {
  const target = c.resolve(node);
  const value = isScalar(target) ? target.value : undefined;
  if (typeof value === 'string' && URL.canParse(value)) {
    const protocol = new URL(value).protocol;
    if (protocol === 'http:' || protocol === 'https:') return value;
  }
  c.report(target, path, `expected an http:// or https:// URL like ${example}, got ${describeNode(c, target)}`);
  return undefined;
}

/** A probe's regex is compiled by V8 when it first runs, and a pattern of some thousands of
 *  nested groups (60 KB) ends the process there, out of memory in the regex compiler. Probe
 *  patterns are a few dozen characters; 1,000 allows at most a few hundred groups, which
 *  compile. */
export const MAX_REGEX_CHARS = 1000;

/** A regular expression, compiled; its syntax error is reported at the node. */
export function regex(c: Checker, node: YamlNode, path: string): RegExp | undefined {
  const target = c.resolve(node);
  const value = isScalar(target) ? target.value : undefined;
  if (typeof value !== 'string') {
    c.report(target, path, `expected a regular expression as a string, got ${describeNode(c, target)}`);
    return undefined;
  }
  if (value.length > MAX_REGEX_CHARS) {
    c.report(target, path, `the regular expression is ${value.length} characters; the limit is ${MAX_REGEX_CHARS}`);
    return undefined;
  }
  try {
    return new RegExp(value);
  } catch (err) {
    const reason = (err as Error).message.replace(/^Invalid regular expression: /, '');
    c.report(target, path, `invalid regular expression: ${reason}`);
    return undefined;
  }
}

/** A sequence's item nodes; `min` items at least. */
export function list(c: Checker, node: YamlNode, path: string, what: string, min = 0): YamlNode[] | undefined {
  const target = c.resolve(node);
  if (!isSeq(target)) {
    c.report(target, path, `expected a list of ${what}, got ${describeNode(c, target)}`);
    return undefined;
  }
  if (target.items.length < min) {
    const count = min === 1 ? `one ${what.replace(/s$/, '')}` : `${min} ${what}`;
    c.report(target, path, `expected at least ${count}, got ${target.items.length}`);
    return undefined;
  }
  return target.items.map((entry) => entry ?? null);
}

