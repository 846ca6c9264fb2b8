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
