// The hostile values the API fuzz suite (test/api-fuzz.test.ts) builds its requests from: a
// seeded PRNG, JSON written token by token (so `-0`, `1e400` and NaN reach the server as
// written), wrong JSON types, numbers picked to break a given rule, names the API must refuse,
// malformed, deep and oversized bodies, and the request shape with what its answer must be.
// Each builder returns only values that break the rule it is asked about, so every request the
// suite sends must be refused.

/** mulberry32: small, fast and the same on every platform, so a seed replays a run exactly. */
export class Rng {
  private state: number;
  constructor(seed: number) { this.state = seed >>> 0; }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)]!;
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}

/** A JSON token written exactly as given (`-0`, `1e400`, `NaN`). */
export class Raw {
  constructor(readonly text: string) {}
}

/** JSON text of `value`, with Raw tokens in place; undefined members are left out. */
export function toJson(value: unknown): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : toJson(v))).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const members = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{${members.map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** What JSON.parse makes of a value, to check it against a rule. */
export const parsed = (value: unknown): unknown => JSON.parse(toJson(value));

export type JsonKind = 'string' | 'number' | 'boolean' | 'array' | 'object' | 'null';

const SAMPLES: Record<JsonKind, readonly unknown[]> = {
  string: ['', 'x', '1', 'true', 'null', '[]', '{}', ' ', '1e3', '\u0000'],
  number: [0, 1, -1, 1.5, new Raw('-0'), new Raw('1e308'), new Raw('1e400'), 9007199254740993],
  boolean: [true, false],
  array: [[], [1], ['x'], [null], [[]], [{}]],
  object: [{}, { a: 1 }, { name: 'x' }, JSON.parse('{"__proto__":{"polluted":1},"constructor":1}')],
  null: [null],
};

export function kindOf(value: unknown): JsonKind {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value as JsonKind;
}

/** A value of any JSON kind but `expected` (null too, when the field does not read null as absent). */
export function wrongType(rng: Rng, expected: JsonKind, nullIsAbsent = true): unknown {
  const kinds = (Object.keys(SAMPLES) as JsonKind[]).filter((k) => k !== expected && !(nullIsAbsent && k === 'null'));
  return rng.pick(SAMPLES[rng.pick(kinds)]);
}

/** Any sample value at all, for rules more particular than a JSON kind. */
export const anyValue = (rng: Rng): unknown => rng.pick(SAMPLES[rng.pick(Object.keys(SAMPLES) as JsonKind[])]);

/** Numbers as JSON text: edges of integer ranges, fractions, -0, overflow to Infinity. */
const NUMBERS = [
  '-1e308', '-1e400', '-9007199254740992', '-2147483649', '-1', '-0.5', '-5e-324', '-0', '0', '0.5', '1', '1.5', '2',
  '100', '60001', '65536', '1000001', '2147483647', '2147483648', '2147483647001', '9007199254740992',
  '9007199254740993', '1e21', '1e308', '1e400', '5e-324', '1.0000001', '0.9999999', '123456789012345678901234567890',
];

/** A number, as written, that `valid` refuses (after JSON.parse, as the server reads it). */
export function badNumber(rng: Rng, valid: (n: number) => boolean): Raw {
  const bad = NUMBERS.filter((text) => !valid(JSON.parse(text) as number));
  return new Raw(rng.pick(bad));
}

/** A value breaking `valid`: a bad number or a value of another kind. */
export function badValue(rng: Rng, valid: (v: unknown) => boolean): unknown {
  for (let i = 0; i < 50; i++) {
    const candidate = rng.chance(0.5) ? new Raw(rng.pick(NUMBERS)) : anyValue(rng);
    if (!valid(parsed(candidate))) return candidate;
  }
  throw new Error('no invalid value found');
}

/** Strings of `bytes` UTF-8 bytes or a little more, some of them multi-byte. */
export function longString(rng: Rng, bytes: number): string {
  const unit = rng.pick(['a', 'é', '☃', '😀', 'ab/', '%2F']);
  return unit.repeat(Math.ceil(bytes / Buffer.byteLength(unit)));
}

/** A proxy or toxic name the API refuses in a body (well-formed Unicode, no controls, not `.`
 *  or `..`, at most 256 bytes of UTF-8). */
export function badName(rng: Rng): string {
  return rng.pick([
    () => '\ud800', () => 'a\udfffb', () => 'x\ud83d', () => '\u0000', () => 'tab\there', () => 'line\nbreak',
    () => '\u001f', () => '\u007f', () => 'esc\u001b[31m', () => '.', () => '..',
    () => longString(rng, 257 + rng.int(300)), () => longString(rng, 4096), () => longString(rng, 900_000),
  ])();
}

/** A path segment naming nothing: percent-encoded slashes and dots, lone surrogates, control
 *  characters, bytes that are not UTF-8, long and Unicode names. `taken` are the names in use,
 *  which a segment must not decode to. */
export function oddSegment(rng: Rng, taken: ReadonlySet<string>): string {
  for (;;) {
    const segment = rng.pick([
      () => '%2F', () => 'alpha%2Ftoxics', () => '%2e%2e', () => '..', () => '.', () => '%2E', () => '...',
      () => '%ED%A0%80', () => 'a%ED%BF%BFb', () => '%', () => '%zz', () => '%E2%98', () => '%C0%AF',
      () => '%00', () => '%0A', () => '%0D%0A', () => '%1F', () => '%7F', () => 'x%09y', () => '%E2%98%83',
      () => '%F0%9F%92%A5', () => 'caf%C3%A9', () => '%20', () => 'alpha%20', () => '%20alpha', () => 'ALPHA',
      () => 'alpha.', () => '__proto__', () => 'constructor', () => 'toString', () => '%3Cscript%3E',
      () => "'%3B%20DROP%20TABLE%20proxies%3B--", () => '%22', () => '%5C', () => '*', () => '~', () => '%25',
      () => 'a'.repeat(300 + rng.int(3000)), () => '%E2%98%83'.repeat(100 + rng.int(200)),
    ])();
    let decoded: string | null = null;
    try { decoded = decodeURIComponent(segment); } catch { /* undecodable: names nothing */ }
    if (decoded === null || !taken.has(decoded)) return segment;
  }
}

/** JSON text made invalid: truncated, trailing garbage, NaN and friends, comments, quotes. The
 *  result always has a non-blank character, so no route can read it as an empty body. */
export function malformed(rng: Rng, json: string): string {
  const broken = rng.pick([
    () => json.slice(0, 1 + rng.int(Math.max(1, json.length - 1))),
    () => json + rng.pick([' x', '}', ',', '{}', '\u0000', ' 1', '"', ']']),
    () => `{"x":${rng.pick(['NaN', 'Infinity', '-Infinity', 'undefined', '0x1F', '01', '+1', '.5', '1.', '1e', '-', 'tru', 'nul'])},${json.slice(1)}`,
    () => `{/* comment */${json.slice(1)}`,
    () => `{// comment\n${json.slice(1)}`,
    () => `{'x':'single'}`,
    () => `{x:1}`,
    () => `{"a":1,}`,
    () => `["a",]`,
    () => `{"s":"unterminated}`,
    () => `{"s":"raw\u0001control"}`,
    () => `{"s":"bad \\x escape"}`,
    () => `{"a" 1}`,
    () => `{"a":1}{"b":2}`,
  ])();
  try {
    JSON.parse(broken);
  } catch {
    return broken;
  }
  return `${broken},`;
}

/** A body nested `depth` levels (arrays, objects or both), optionally inside a field. */
export function deepJson(rng: Rng, depth: number): string {
  const shape = rng.pick(['array', 'object', 'mixed'] as const);
  const open = shape === 'array' ? '['.repeat(depth) : shape === 'object' ? '{"a":'.repeat(depth) : '[{"a":'.repeat(Math.ceil(depth / 2));
  const close = shape === 'array' ? ']'.repeat(depth) : shape === 'object' ? '}'.repeat(depth) : '}]'.repeat(Math.ceil(depth / 2));
  const core = `${open}${shape === 'array' ? '' : '1'}${close}`;
  return rng.chance(0.5) ? core : `{"name":"deep","attributes":${core},"scenario":${core}}`;
}

export const MIB = 1024 * 1024;

/** A body past 1 MiB, mostly just past it: JSON that would otherwise be fine, or bytes that
 *  are not JSON. A few run to 4 MiB, which a client writing its whole body is still sending
 *  when the limit is reached. */
export function overLimit(rng: Rng): Buffer {
  const size = MIB + rng.pick([1, 100, 4096, 65_536, 3 * MIB]);
  if (rng.chance(0.3)) return Buffer.alloc(size, rng.pick([0x00, 0x7b, 0xff, 0x20]));
  const head = '{"name":"';
  return Buffer.from(head + 'a'.repeat(size - head.length - 2) + '"}');
}

/** Unknown fields, added to a body that is refused for another reason. */
export function unknownFields(rng: Rng): Record<string, unknown> {
  // No prototype, so `__proto__` becomes a key like any other.
  const out: Record<string, unknown> = Object.create(null);
  const n = 1 + rng.int(3);
  for (let i = 0; i < n; i++) {
    const key = rng.pick(['__proto__', 'constructor', 'Name', 'NAME', 'Logger', 'toxics', 'extra', '', '\u0000', '☃', `f${rng.int(1000)}`]);
    out[key] = rng.chance(0.1) ? 'z'.repeat(200_000) : anyValue(rng);
  }
  return out;
}

export interface Expect {
  /** The statuses allowed; every one a 4xx. */
  status: readonly number[];
  /** The browser guard's text answer instead of a JSON error. */
  browser?: true;
  /** The error must name the nesting limit. */
  depth?: true;
  /** An invalid scenario: the error carries a non-empty `issues` list. */
  issues?: true;
}

export interface FuzzRequest {
  /** The route table entry (`POST /proxies/:proxy/toxics`), or `dashboard`, `unknown route`. */
  route: string;
  /** What is hostile about it, for the report. */
  label: string;
  method: string;
  /** Sent as written: raw `..`, percent-encoding and all. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Sent with Transfer-Encoding: chunked instead of a Content-Length. */
  chunked?: boolean;
  expect: Expect;
}

/** A route's own defect: the body's value, what is wrong, the statuses it may get, and for a
 *  posted scenario, whether the 400 lists the scenario's issues. */
export type Semantic = { value: unknown; label: string; status?: readonly number[]; issues?: true };

export interface BodyPlan { body: Buffer; label: string; expect: Expect; chunked?: true }

/** A refused body for a route that reads JSON: mostly the route's own defect (`semantic`),
 *  otherwise broken JSON, the wrong shape, an empty, deep or oversized body. `emptyReads`: the
 *  route takes an empty body as valid (POST /sessions starts a recording with one). */
export function bodyFor(rng: Rng, semantic: () => Semantic, options: { emptyReads?: boolean; shapes?: readonly string[] } = {}): BodyPlan {
  const roll = rng.next();
  const shapes = options.shapes ?? ['[]', '"x"', '1', 'true', 'null', '[{}]', '-0'];
  let text: string;
  let label: string;
  let expect: Expect;
  if (roll < 0.62) {
    const s = semantic();
    const bom = rng.chance(0.04);
    text = (bom ? '\ufeff' : '') + toJson(s.value);
    label = s.label + (bom ? ' + BOM' : '');
    // A BOM is not JSON: the body fails before the route looks at it.
    expect = bom ? { status: [400, ...(s.status ?? [])] } : { status: s.status ?? [400], ...(s.issues ? { issues: true as const } : {}) };
  } else if (roll < 0.75) {
    text = (rng.chance(0.1) ? '\ufeff' : '') + malformed(rng, toJson(semantic().value));
    label = 'malformed JSON';
    expect = { status: [400] };
  } else if (roll < 0.82) {
    text = rng.pick(shapes);
    label = `wrong shape ${text}`;
    expect = { status: [400] };
  } else if (roll < 0.85 && options.emptyReads !== true) {
    text = rng.pick(['', ' ', '\r\n\t']);
    label = 'empty body';
    expect = { status: [400] };
  } else if (roll < 0.92) {
    const depth = rng.pick([1000, 10_000, 100_000]);
    text = deepJson(rng, depth);
    label = `nested ${depth} levels`;
    expect = { status: [400], depth: true };
  } else if (roll < 0.96) {
    return { body: overLimit(rng), label: 'body over 1 MiB', expect: { status: [413] }, ...(rng.chance(0.5) ? { chunked: true as const } : {}) };
  } else {
    const s = semantic();
    const base = s.value !== null && typeof s.value === 'object' && !Array.isArray(s.value) ? s.value : { value: s.value };
    text = toJson({ ...base, pad: 'p'.repeat(900_000 - Math.min(toJson(base).length, 900_000)) });
    label = `${s.label} + 900 KB unknown field`;
    expect = { status: [400, ...(s.status ?? [])], ...(s.issues ? { issues: true as const } : {}) };
  }
  const body = Buffer.from(text);
  // Whatever the defect, past 1 MiB the size is what gets refused.
  if (body.length > MIB) return { body, label: `${label} (over 1 MiB)`, expect: { status: [413] } };
  return { body, label, expect, ...(rng.chance(0.08) ? { chunked: true as const } : {}) };
}

/** A request to `route` (`METHOD /pattern`) at `path`, carrying a planned body. */
export function bodyRequest(route: string, path: string, b: BodyPlan): FuzzRequest {
  return {
    route, label: b.label, method: route.split(' ')[0]!, path, headers: {}, body: b.body, expect: b.expect, ...(b.chunked ? { chunked: true } : {}),
  };
}
