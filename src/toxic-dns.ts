// The DNS toxic contract, beside the byte-stream one (src/toxic.ts) and the HTTP request one
// (src/toxic-request.ts); src/toxic.ts re-exports it, so that stays the one file a toxic imports.
//
// A DNS toxic decides what happens to one query: delay it, answer it with an error, drop it,
// answer it with other addresses, rewrite the TTLs of its answer, or truncate it. It never sees
// packets. The protocol layer (src/dns) owns everything around the decision: which queries a
// toxic matches (`name`, `qtype`), the toxicity roll per query from the seeded source, live
// add/update/remove between queries, building and rewriting packets, and the events.

import type { AttributeSpec, Attributes } from './toxic-attributes.js';
import type { NoByteStreamMembers, Protocol, RandomSource } from './toxic.js';

/** How the query reached the proxy; the upstream is asked over the same transport. */
export type DnsTransport = 'udp' | 'tcp';

/** The error codes a toxic may answer with. */
export const DNS_ERROR_RCODES = ['NXDOMAIN', 'SERVFAIL', 'REFUSED'] as const;
export type DnsErrorRcode = (typeof DNS_ERROR_RCODES)[number];

/** The query types `qtype` may name; empty matches any. */
export const DNS_QTYPES = ['', 'A', 'AAAA', 'CNAME', 'MX', 'NS', 'PTR', 'SOA', 'SRV', 'TXT', 'CAA', 'SVCB', 'HTTPS', 'ANY'] as const;

/** What the layer knows of the query when a toxic decides. */
export interface DnsQueryContext<A extends Attributes = Attributes> {
  readonly attributes: A;
  /** The question's name in lower case, without the trailing dot. */
  readonly name: string;
  /** The question's type: `A`, `AAAA`, `TXT`... (`TYPE65` style for types without a name). */
  readonly qtype: string;
  readonly transport: DnsTransport;
  /** This toxic's seeded stream on this proxy. */
  readonly random: RandomSource;
}

export type DnsDecision =
  /** Hold the query `ms` before it is answered or forwarded; delays of several toxics add up. */
  | { action: 'delay'; ms: number }
  /** Answer with this rcode instead of the upstream, which never sees the query. */
  | { action: 'error'; rcode: DnsErrorRcode }
  /** No answer at all: the client times out. The upstream never sees the query. */
  | { action: 'drop' }
  /** Answer with these addresses (those of the question's family) and ttl, instead of the
   *  upstream. */
  | { action: 'answer'; addresses: readonly string[]; ttl: number }
  /** Forward the query, and rewrite the TTL of every record in the upstream's answer. */
  | { action: 'ttl'; ttl: number }
  /** Answer over UDP with the TC bit and no records, so the client asks again over TCP. */
  | { action: 'truncate' }
  | null;

/** The attributes every DNS toxic shares; the protocol layer reads and applies them. */
export type DnsMatchAttributes = { name: string; qtype: string };

export const DNS_MATCH_ATTRIBUTES: { readonly [K in keyof DnsMatchAttributes]: AttributeSpec } = {
  name: { kind: 'string', default: '', format: 'domain', maxLength: 255, description: 'only queries for this name (any case, trailing dot optional), or with *.suffix for names below suffix (not suffix itself); empty: any' },
  qtype: { kind: 'enum', default: '', values: DNS_QTYPES, description: 'only queries of this type; empty: any' },
};

export interface DnsToxicDefinition<A extends Attributes = Attributes> extends NoByteStreamMembers {
  readonly kind: 'dns';
  /** The wire name. */
  readonly type: string;
  readonly description: string;
  readonly protocols: readonly Protocol[];
  /** Its own attributes, then the shared match attributes. */
  readonly attributes: { readonly [K in keyof A]: AttributeSpec };
  validate?(attributes: A): void;
  /** Called once per query the toxic matched and was rolled active on. */
  query(ctx: DnsQueryContext<A>): DnsDecision;
}

type OwnDefinition<A extends Attributes> = Omit<DnsToxicDefinition<A & DnsMatchAttributes>, 'kind' | 'protocols' | 'attributes'> & {
  readonly attributes: { readonly [K in keyof A]: AttributeSpec };
};

/** A toxic for DNS proxies, with the shared match attributes after its own. */
export function defineDnsToxic<A extends Attributes>(definition: OwnDefinition<A>): DnsToxicDefinition<A & DnsMatchAttributes> {
  return {
    ...definition,
    kind: 'dns',
    protocols: ['dns'],
    attributes: { ...definition.attributes, ...DNS_MATCH_ATTRIBUTES } as DnsToxicDefinition<A & DnsMatchAttributes>['attributes'],
  };
}
