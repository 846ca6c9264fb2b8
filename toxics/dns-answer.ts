import { defineDnsToxic } from '../src/toxic.js';

type DnsAnswerAttributes = { addresses: readonly string[]; ttl: number };

export const dnsAnswer = defineDnsToxic<DnsAnswerAttributes>({
  type: 'dns_answer',
  description: 'Answers A and AAAA queries with these addresses instead of the upstream, which never sees them: the service "moved". An A query gets the IPv4 ones, an AAAA query the IPv6 ones; none of its family is an empty answer (NOERROR, no records). Queries of other types pass untouched.',
  attributes: {
    addresses: { kind: 'list', default: [], format: 'ip', maxItems: 32, description: 'the addresses to answer with, as a JSON array: ["10.0.0.2", "2001:db8::2"]' },
    ttl: { kind: 'integer', default: 0, unit: 's', max: 2_147_483_647, description: 'the TTL of the records in the answer' },
  },
  query(ctx) {
    if (ctx.qtype !== 'A' && ctx.qtype !== 'AAAA') return null;
    return { action: 'answer', addresses: ctx.attributes.addresses, ttl: ctx.attributes.ttl };
  },
});
