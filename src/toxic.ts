// The toxic contract: the only src file a toxic may import.
//
// A toxic is a definition object. The core runs its `pipe` once per direction of each
// connection (or UDP session) on which the toxic was rolled active, handing it a Stage. The
// core owns everything around the body: the toxicity roll, the head of the chain, live
// add/update/remove without losing or reordering a byte, end of stream and half-close, and
// framing. A toxic only turns input chunks into output chunks, in its own time.
//
// HTTP proxies also take request toxics, which decide per exchange instead of transforming
// bytes: their contract is in toxic-request.ts, attributes in toxic-attributes.ts, and both
// are re-exported here, so this stays the one file a toxic imports. DNS proxies take DNS
// toxics, which decide per query (toxic-dns.ts), re-exported here too.

import type { AttributeSpec, Attributes } from './toxic-attributes.js';
import type { RequestToxicDefinition } from './toxic-request.js';
import type { DnsToxicDefinition } from './toxic-dns.js';

export {
  attributeError, compileGlob, compileHeaderMatch, defaultAttributes, linearRegex, parseAttributes,
  type AttributeSpec, type AttributeValue, type Attributes, type HeaderMatch, type StringFormat,
} from './toxic-attributes.js';
export {
  defineDnsToxic, DNS_ERROR_RCODES, DNS_MATCH_ATTRIBUTES, DNS_QTYPES,
  type DnsDecision, type DnsErrorRcode, type DnsMatchAttributes, type DnsQueryContext, type DnsToxicDefinition, type DnsTransport,
} from './toxic-dns.js';
export {
  defineRequestToxic, MATCH_ATTRIBUTES,
  type ExchangeContext, type ExchangeDecision, type MatchAttributes, type Phase, type RequestToxicDefinition, type ResetCode,
} from './toxic-request.js';

/** `http` proxies speak HTTP/1.1 and HTTP/2 over TCP: they take request toxics, and the byte
 *  stream (`tcp`) toxics too, which act on their connections beneath the HTTP layer. `dns`
 *  proxies answer DNS over UDP and TCP at one address and take only DNS toxics. */
export type Protocol = 'tcp' | 'udp' | 'http' | 'dns';
export type Stream = 'upstream' | 'downstream';

/** What a toxic did to the data. One vocabulary for logs, metrics and the event stream. */
export type FaultAction =
  | 'delayed' | 'dropped' | 'duplicated' | 'reordered' | 'corrupted'
  | 'reset' | 'closed' | 'held' | 'released' | 'sliced'
  // An HTTP exchange answered with an error in place of the server.
  | 'aborted'
  // Not a toxic's: a proxy turned a client away (its max_connections, or the descriptor reserve).
  | 'refused'
  // Not a toxic's: an HTTP proxy refused malformed HTTP from the client or the upstream (a DNS
  // proxy, a malformed DNS message).
  | 'rejected'
  // A DNS answer the client got was not the upstream's as sent: other addresses, other TTLs.
  | 'rewritten'
  // A DNS answer over UDP carried the TC bit instead of its records.
  | 'truncated';

export type FaultDetail = Record<string, number | string | boolean>;

/**
 * A unit of data. For TCP it is whatever one socket read returned; for UDP, one datagram.
 * `ts` is when the chunk arrived (ms on the `performance.now()` clock). Delaying toxics
 * measure from it, so time spent queued counts, and advance it after the delay, so chained
 * delays add up.
 */
export interface Chunk {
  data: Buffer;
  ts: number;
}

/** setTimeout's ceiling (about 24.8 days); longer durations would fire at once. */
export const MAX_MS = 2_147_483_647;

export interface RandomSource {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max], inclusive. */
  int(min: number, max: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
}

export const TIMED_OUT: unique symbol = Symbol('timed out');

export interface Stage<A extends Attributes = Attributes, S = undefined> {
  /** The toxic's current attributes, already validated. */
  readonly attributes: A;
  /** Per-link state from `definition.state()`; it survives updates of the toxic. */
  readonly state: S;
  readonly random: RandomSource;
  readonly protocol: Protocol;
  /** True once the input has ended (FIN from the sender), as opposed to an interrupt. */
  readonly ended: boolean;
  /** True once the core asked this run to stop (update, removal, teardown). */
  readonly interrupted: boolean;
  /** When the connection (or UDP session) was established, on the `now()` clock. */
  readonly connectedAt: number;
  /** Bytes waiting in this stage's input, not yet read. */
  readonly queued: number;

  /** The next chunk, or null at end of stream or on interrupt. */
  read(): Chunk | null | Promise<Chunk | null>;
  /** Like read, but gives TIMED_OUT if nothing arrives within `ms`. */
  readWithin(ms: number): Promise<Chunk | null | typeof TIMED_OUT>;
  /** Puts a chunk back at the front of the input, to be read again first (by this run or the
   *  next one after an update). A toxic that holds data it must not release uses this when
   *  interrupted; on removal the core flushes it onward in order. */
  unread(chunk: Chunk): void;
  /** Passes a chunk on. Honours back-pressure: await it. Never blocks once interrupted. */
  write(chunk: Chunk): void | Promise<void>;
  /** Waits `ms`. Resolves false early if interrupted; true if the time passed. */
  sleep(ms: number): Promise<boolean>;
  /** Milliseconds on the same clock as `Chunk.ts`. */
  now(): number;
  /** Reports an injected fault. Counted always; streamed under a rate limit. */
  emit(action: FaultAction, detail?: FaultDetail): void;
  /** Ends the whole connection with FIN in both directions, as Toxiproxy's close does. */
  close(): void;
  /** Aborts the whole connection with RST, so peers see ECONNRESET. */
  reset(): void;
  /**
   * The peer on the far side of this stream vanishes without a FIN or RST reaching the near
   * side: on `downstream` the server is gone (its socket is closed) while the client's socket
   * stays open, reading and discarding, never sending anything; `upstream` is the mirror.
   * The orphaned socket is reset when the toxic is removed.
   */
  vanish(): void;
}

export interface ToxicDefinition<A extends Attributes = Attributes, S = undefined> {
  /** A byte-stream toxic; request toxics say `request`. */
  readonly kind?: 'stream';
  /** The wire name, spelled as Toxiproxy spells it. */
  readonly type: string;
  readonly description: string;
  readonly protocols: readonly Protocol[];
  readonly attributes: { readonly [K in keyof A]: AttributeSpec };
  /** Cross-field checks beyond each attribute's own spec; throw via `attributeError`. */
  validate?(attributes: A): void;
  /** Bytes the stage's input may queue before the writer waits. Defaults to 256 KiB. */
  readonly buffer?: number;
  /** Removing this toxic ends the connection: `close` with FIN (Toxiproxy's timeout toxic
   *  does this), `reset` with RST. Only where the toxic was active. */
  readonly onRemove?: 'close' | 'reset';
  /** Milliseconds to wait before dialling the upstream for a new connection on which this
   *  toxic is active; connection set-up is slow. */
  connectDelay?(attributes: A): number;
  /** Milliseconds after the connection opened at which the core closes it (FIN both ways)
   *  while this toxic is active on it, whether or not data flows, even after its own stream
   *  has ended. The core emits the `closed` event. */
  lifetime?(attributes: A): number;
  /** While toxics with this flag sit on both streams (a full partition), new connections are
   *  accepted but not forwarded: the upstream is dialled only once they are gone. */
  readonly holdsNewConnections?: boolean;
  /** Fresh per-link state, kept across updates of the toxic. */
  state?(): S;
  /** The body. Return when `read()` gives null; anything still held must be written first. */
  pipe(stage: Stage<A, S>): Promise<void>;
}

/** Erases a definition's attribute types for registries that hold many toxics. */
export type AnyToxicDefinition = ToxicDefinition<any, any> | RequestToxicDefinition<any> | DnsToxicDefinition<any>;
export type StreamToxicDefinition = ToxicDefinition<any, any>;

export function defineToxic<A extends Attributes, S = undefined>(
  definition: ToxicDefinition<A, S>,
): ToxicDefinition<A, S> {
  return definition;
}

export function isRequestToxic(definition: AnyToxicDefinition): definition is RequestToxicDefinition<any> {
  return definition.kind === 'request';
}

export function isDnsToxic(definition: AnyToxicDefinition): definition is DnsToxicDefinition<any> {
  return definition.kind === 'dns';
}

/** Whether a toxic may be added to a proxy of `protocol`: an http proxy's connections are
 *  TCP byte streams too, so it takes the toxics that declare tcp besides its own. */
export function toxicApplies(definition: AnyToxicDefinition, protocol: Protocol): boolean {
  return definition.protocols.includes(protocol) || (protocol === 'http' && definition.protocols.includes('tcp'));
}

/** The protocol whose attributes a toxic has on a proxy of `protocol`: a byte-stream toxic on
 *  an http proxy has its TCP attributes. */
export function attributeProtocol(definition: AnyToxicDefinition, protocol: Protocol): Protocol {
  return protocol === 'http' && !isRequestToxic(definition) ? 'tcp' : protocol;
}

/** What a toxic that decides per request or per query lacks: every byte-stream member. Both
 *  such contracts extend it, so the registry's union narrows on `pipe`. */
export interface NoByteStreamMembers {
  readonly pipe?: never;
  readonly buffer?: never;
  readonly onRemove?: never;
  readonly connectDelay?: never;
  readonly lifetime?: never;
  readonly holdsNewConnections?: never;
  readonly state?: never;
}
