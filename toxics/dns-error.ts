import { defineDnsToxic, DNS_ERROR_RCODES, type DnsErrorRcode } from '../src/toxic.js';

type DnsErrorAttributes = { rcode: string };

export const dnsError = defineDnsToxic<DnsErrorAttributes>({
  type: 'dns_error',
  description: 'Answers a query with an error instead of the upstream, which never sees it: NXDOMAIN (the name does not exist), SERVFAIL (the resolver failed) or REFUSED (the resolver will not answer). The answer carries the question and no records, so no SOA: resolvers do not cache it.',
  attributes: {
    rcode: { kind: 'enum', default: 'SERVFAIL', values: DNS_ERROR_RCODES, description: 'the response code of the answer' },
  },
  query(ctx) {
    return { action: 'error', rcode: ctx.attributes.rcode as DnsErrorRcode };
  },
});
