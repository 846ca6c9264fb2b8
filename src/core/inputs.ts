// What the API (and a store, on restore) hands the collection, and the checks on it that do
// not depend on the collection's state. Wrong values become 400s naming the field.

import { badBody } from '../errors.js';
import { MAX_MS } from '../toxic.js';
import { parseHostPort } from './address.js';

export interface ProxyInput {
  name?: string;
  listen?: string;
  upstream?: string;
  enabled?: boolean | null;
  /** `tcp` (the default) or `udp`. */
  protocol?: string;
  /** UDP only: milliseconds without traffic after which a session ends. */
  idle_timeout?: number;
  /** Live connections (UDP: sessions) allowed at once; 0 or absent means no limit. */
  max_connections?: number;
}

export interface ToxicInput {
  name?: string;
  type?: string;
  stream?: string;
  toxicity?: number;
  attributes?: unknown;
  /** Milliseconds until the toxic removes itself. On update, null or 0 clears it. */
  ttl?: number | null;
  /** An absolute expiry (epoch ms), used instead of ttl when state is restored. */
  expiresAt?: number | null;
}

/** A proxy and its toxics as a store kept them, to be brought back after a restart. */
export interface RestoredProxy extends ProxyInput {
  toxics: ToxicInput[];
}

export function checkUpstream(upstream: string): void {
  try {
    if (upstream === '') throw new Error('address : missing port in address');
    parseHostPort(upstream);
  } catch (err) {
    throw badBody(`upstream ${(err as Error).message}`);
  }
}

/** Names travel as one URL path segment: at most this many bytes of UTF-8. */
export const MAX_NAME_BYTES = 256;

/**
 * A proxy or toxic name that a client can always address again: well-formed Unicode (a lone
 * surrogate has no UTF-8, so no URL reaches it), no control characters, not `.` or `..`
 * (URL parsers resolve those as path steps), and short enough for a request line. Anything
 * else, `/` included, round-trips through encodeURIComponent.
 */
export function checkName(name: string, what: 'name' | 'toxic name' = 'name'): string {
  const problem = /[\uD800-\uDFFF]/u.test(name) ? 'is not well-formed Unicode (it holds a lone surrogate)'
    : Buffer.byteLength(name) > MAX_NAME_BYTES ? `is longer than ${MAX_NAME_BYTES} bytes of UTF-8 (${Buffer.byteLength(name)})`
      : /[\u0000-\u001f\u007f]/.test(name) ? 'holds a control character'
        : name === '.' || name === '..' ? `cannot be ${JSON.stringify(name)}, which URLs treat as a path step`
          : null;
  if (problem !== null) throw badBody(`${what} ${problem}`);
  return name;
}

/** A listen address that cannot even be parsed is bad input; one that parses but cannot be
 *  bound (in use, not local, unknown host) is Toxiproxy's 500, found when binding. */
export function checkListen(listen: string): void {
  let host: string;
  try {
    ({ host } = parseHostPort(listen));
  } catch (err) {
    throw badBody(`listen ${(err as Error).message}`);
  }
  // No host name or address holds a space or a control character: no lookup could ever succeed.
  if (/[\u0000-\u0020\u007f]/.test(host)) throw badBody(`listen address ${JSON.stringify(listen)}: invalid host`);
}

export function checkMaxConnections(value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 0 || value > 1_000_000) {
    throw badBody(`max_connections must be a whole number from 0 (no limit) to 1000000, got ${value}`);
  }
  return value;
}

export function checkIdleTimeout(protocol: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (protocol !== 'udp') throw badBody('idle_timeout applies only to udp proxies');
  if (!Number.isInteger(value) || value < 1 || value > MAX_MS) {
    throw badBody(`idle_timeout must be a whole number of milliseconds from 1 to ${MAX_MS}, got ${value}`);
  }
  return value;
}

/** A ttl in ms becomes an absolute expiry; null and 0 mean none. */
export function expiryOf(ttl: number | null | undefined): number | undefined {
  if (ttl === undefined || ttl === null || ttl === 0) return undefined;
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > MAX_MS) {
    throw badBody(`ttl must be a whole number of milliseconds from 0 to ${MAX_MS}, got ${ttl}`);
  }
  return Date.now() + ttl;
}

export function checkToxicity(value: number): number {
  if (!(value >= 0 && value <= 1)) throw badBody(`toxicity must be between 0 and 1, got ${value}`);
  return value;
}
