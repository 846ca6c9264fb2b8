import { defineDnsToxic } from '../src/toxic.js';

type DnsTtlAttributes = { ttl: number };

/** RFC 2181 8: a TTL is at most 2^31 - 1 seconds. */
const MAX_TTL = 2_147_483_647;

export const dnsTtl = defineDnsToxic<DnsTtlAttributes>({
  type: 'dns_ttl',
  description: 'Forwards a query and rewrites the TTL of every record in the upstream\'s answer (answers, authority and additional records; not the EDNS OPT record), so clients cache it for that long: 0 keeps them asking, a long one keeps them on an address after it moved.',
  attributes: {
    ttl: { kind: 'integer', default: 0, unit: 's', max: MAX_TTL, description: 'the TTL every record of the answer gets' },
  },
  query(ctx) {
    return { action: 'ttl', ttl: ctx.attributes.ttl };
  },
});
