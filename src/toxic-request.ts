// The request toxic contract, beside the byte-stream one in src/toxic.ts (which re-exports it).
//
// A request toxic decides what happens to one HTTP exchange: forward it untouched, delay it,
// answer instead of the server, or reset it. It never sees bytes. The protocol layer (src/http)
// owns everything around the decision: which requests a toxic matches (`method`, `path`,
// `header`), the `first` counter, the toxicity roll per request from the seeded source, live
// add/update/remove between requests, carrying the decision out on HTTP/1.1 or HTTP/2, and the
// events. A toxic file holds only its one behaviour.

import type { AttributeSpec, Attributes } from './toxic-attributes.js';
import type { NoByteStreamMembers, Protocol, RandomSource } from './toxic.js';

/** Where in an exchange a toxic acts: as the request arrives, or as the response does. */
export type Phase = 'request' | 'response';

/** RST_STREAM codes a reset may carry on HTTP/2 (HTTP/1.1 has only the TCP RST). */
export type ResetCode = 'INTERNAL_ERROR' | 'CANCEL' | 'REFUSED_STREAM';

/** What the layer knows of the request when a toxic decides. */
export interface ExchangeContext<A extends Attributes = Attributes> {
  readonly attributes: A;
  readonly phase: Phase;
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  /** `content-type: application/grpc*`: errors become grpc-status, not HTTP statuses. */
  readonly grpc: boolean;
  readonly http: '1.1' | '2';
  /** A request header's value (fields of the same name joined with ", "), or undefined. */
  header(name: string): string | undefined;
  /** This toxic's seeded stream on this connection. */
  readonly random: RandomSource;
}

export type ExchangeDecision =
  /** Hold the exchange `ms` at the toxic's phase, then carry on. */
  | { action: 'delay'; ms: number }
  /** Answer with this error instead of the server (at the response phase, in place of the
   *  server's answer, which is read and discarded). For gRPC: HTTP 200 with grpc-status. */
  | { action: 'abort'; status: number; body: string; grpcStatus: number }
  /** TCP RST on HTTP/1.1; RST_STREAM with `code` on HTTP/2, the connection's other streams
   *  untouched. */
  | { action: 'reset'; code: ResetCode }
  | null;

/** The attributes every request toxic shares; the protocol layer reads and applies them. */
export type MatchAttributes = { method: string; path: string; header: string; first: number };

export const MATCH_ATTRIBUTES: { readonly [K in keyof MatchAttributes]: AttributeSpec } = {
  method: { kind: 'string', default: '', format: 'methods', maxLength: 128, description: 'only requests with one of these methods (GET,POST); empty: any' },
  path: { kind: 'string', default: '', format: 'glob', maxLength: 1024, description: 'only requests whose path (without the query) matches this glob: * within a segment, ** across segments, ? one character; empty: any' },
  header: { kind: 'string', default: '', format: 'header', maxLength: 1024, description: 'only requests with this header, as "name: regex" (unanchored, case-sensitive) or "name" for presence; empty: any' },
  first: { kind: 'integer', default: 0, unit: 'requests', max: 1_000_000_000, description: 'only the first N matching requests (counted over the toxic\'s life, across updates); 0: all' },
};

export interface RequestToxicDefinition<A extends Attributes = Attributes> extends NoByteStreamMembers {
  readonly kind: 'request';
  /** The wire name. */
  readonly type: string;
  readonly description: string;
  readonly protocols: readonly Protocol[];
  /** Its own attributes, then the shared match attributes. */
  readonly attributes: { readonly [K in keyof A]: AttributeSpec };
  validate?(attributes: A): void;
  /** The phase at which the layer asks this toxic to decide. */
  phase(attributes: A): Phase;
  /** Called once per exchange the toxic matched and was rolled active on, at its phase. */
  exchange(ctx: ExchangeContext<A>): ExchangeDecision;
}

type OwnDefinition<A extends Attributes> = Omit<RequestToxicDefinition<A & MatchAttributes>, 'kind' | 'protocols' | 'attributes'> & {
  readonly attributes: { readonly [K in keyof A]: AttributeSpec };
};

/** A request toxic for HTTP proxies, with the shared match attributes after its own. */
export function defineRequestToxic<A extends Attributes>(definition: OwnDefinition<A>): RequestToxicDefinition<A & MatchAttributes> {
  return {
    ...definition,
    kind: 'request',
    protocols: ['http'],
    attributes: { ...definition.attributes, ...MATCH_ATTRIBUTES } as RequestToxicDefinition<A & MatchAttributes>['attributes'],
  };
}
