// The client's toxic vocabulary, derived from the registry (toxics/index.ts) both as types and
// at run time: a toxic added there gets a typed camelCase method on every proxy handle, with
// its attribute types, and nothing here changes.

import { TOXICS_BY_TYPE } from '../../toxics/index.js';
import type { DnsToxicDefinition, RequestToxicDefinition, Stream, ToxicDefinition } from '../toxic.js';

type Registry = typeof TOXICS_BY_TYPE;

/** A toxic's wire name: `latency`, `slow_close`, `reset_peer`, ... */
export type ToxicType = keyof Registry & string;

/** `slow_close` -> `slowClose`. */
export type CamelCase<S extends string> =
  S extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : S;

/** The name of the proxy handle's method for each toxic: `latency`, `slowClose`, `resetPeer`, ... */
export type ToxicMethodName = CamelCase<ToxicType>;

/** A toxic's attributes as its definition types them, wire names kept (`average_size`); a
 *  keyless toxic (`half_open`, `noop`) has none. */
export type ToxicAttributes<T extends ToxicType> =
  Registry[T] extends ToxicDefinition<infer A, any> ? (string extends keyof A ? Record<never, never> : A)
    : Registry[T] extends RequestToxicDefinition<infer A> ? A
      : Registry[T] extends DnsToxicDefinition<infer A> ? A : never;

/** What every toxic takes besides its attributes. */
export interface ToxicCommon {
  /** Default `<type>_<stream>`, so a second toxic of one type on one stream needs a name. */
  name?: string;
  /** `downstream` (server to client, the default) or `upstream` (client to server). */
  stream?: Stream;
  /** The chance, 0 to 1, that the toxic applies to a connection (to a request or a query, for
   *  http and dns toxics). Default 1. */
  toxicity?: number;
  /** Milliseconds after which the toxic removes itself. */
  ttl?: number;
}

/** A toxic method's argument: attributes (each optional, the server fills in the defaults) and
 *  the common fields, flat: `latency({ latency: 100, jitter: 10, stream: 'upstream' })`. An
 *  attribute that shares its name with a common field (the DNS toxics' `name` and `ttl`) goes in
 *  `attributes`, which any toxic may use:
 *  `dnsAnswer({ addresses: ['10.0.0.2'], attributes: { name: 'svc.test', ttl: 300 } })`. */
export type ToxicOptions<T extends ToxicType> = Partial<Omit<ToxicAttributes<T>, keyof ToxicCommon>> & ToxicCommon
  & { attributes?: Partial<ToxicAttributes<T>> };

/** A toxic named by its type, for `addToxic` and `withToxic`: `{ type: 'latency', latency: 100 }`. */
export type ToxicSpec<T extends ToxicType = ToxicType> = { [K in T]: { type: K } & ToxicOptions<K> }[T];

/** What `update` may change: attributes (merged into the current ones), toxicity and ttl
 *  (null or 0 clears it). */
export type ToxicChanges<T extends ToxicType> = Partial<Omit<ToxicAttributes<T>, 'toxicity' | 'ttl'>>
  & { toxicity?: number; ttl?: number | null; attributes?: Partial<ToxicAttributes<T>> };

export function camelCase(type: string): string {
  return type.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Every toxic type, in the registry's order. */
export const TOXIC_TYPES = Object.keys(TOXICS_BY_TYPE) as ToxicType[];

/** The method name of each toxic type, in the registry's order. */
export const TOXIC_METHODS: ReadonlyMap<ToxicType, string> = new Map(TOXIC_TYPES.map((t) => [t, camelCase(t)]));

const COMMON = ['name', 'stream', 'toxicity', 'ttl'];
const CHANGEABLE = ['toxicity', 'ttl'];

export function isToxicType(type: unknown): type is ToxicType {
  return typeof type === 'string' && Object.hasOwn(TOXICS_BY_TYPE, type);
}

/**
 * Splits a flat spec into the wire body `{name, type, stream, toxicity, ttl, attributes}`. A key
 * that is neither a common field nor one of the toxic's attributes is refused here: the server
 * ignores unknown attributes, as Toxiproxy does, so a misspelt one would silently do nothing.
 */
export function toxicBody(type: ToxicType, options: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = { type };
  const attributes = splitAttributes(type, options, COMMON, 'add', body);
  return { ...body, attributes };
}

/** The wire body of an update: attributes nested, toxicity and ttl beside them. */
export function changesBody(type: ToxicType, changes: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const attributes = splitAttributes(type, changes, CHANGEABLE, 'update', body);
  return Object.keys(attributes).length > 0 ? { ...body, attributes } : body;
}

function splitAttributes(
  type: ToxicType, given: Record<string, unknown>, common: readonly string[], verb: string, body: Record<string, unknown>,
): Record<string, unknown> {
  // A type this copy of the registry does not know (a newer server's) is passed on unchecked.
  const known = isToxicType(type) ? Object.keys(TOXICS_BY_TYPE[type].attributes) : null;
  const attributes: Record<string, unknown> = {};
  const nested = given.attributes;
  if (nested !== undefined && (nested === null || typeof nested !== 'object' || Array.isArray(nested))) {
    throw new TypeError(`${type} toxic: attributes must be an object`);
  }
  // [key, value, given inside `attributes`]: there a key is always an attribute.
  const entries: Array<[string, unknown, boolean]> = [
    ...Object.entries(given).filter(([key]) => key !== 'attributes').map(([k, v]): [string, unknown, boolean] => [k, v, false]),
    ...Object.entries((nested ?? {}) as Record<string, unknown>).map(([k, v]): [string, unknown, boolean] => [k, v, true]),
  ];
  for (const [key, value, inner] of entries) {
    if ((!inner && key === 'type') || value === undefined) continue;
    if (!inner && common.includes(key)) body[key] = value;
    else if (known === null || known.includes(key)) attributes[key] = value;
    else {
      const has = known.length > 0 ? `its attributes are ${known.join(', ')}` : 'it has no attributes';
      throw new TypeError(`${type} toxic: cannot ${verb} "${key}": ${has}, besides ${common.join(', ')}`);
    }
  }
  return attributes;
}
