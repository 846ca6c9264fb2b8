import { defineDnsToxic } from '../src/toxic.js';

export const dnsTruncate = defineDnsToxic<Record<never, never>>({
  type: 'dns_truncate',
  description: 'Answers a query over UDP with the TC (truncated) bit set and no records, so the client must ask again over TCP, where the query is forwarded and the real answer served. Queries over TCP pass untouched.',
  attributes: {},
  query(ctx) {
    return ctx.transport === 'udp' ? { action: 'truncate' } : null;
  },
});
