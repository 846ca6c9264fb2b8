import { defineDnsToxic } from '../src/toxic.js';

export const dnsDrop = defineDnsToxic<Record<never, never>>({
  type: 'dns_drop',
  description: 'Drops a query: it is never forwarded and never answered, so the client times out (and retries, if it does). Dropping is this toxic\'s purpose.',
  attributes: {},
  query() {
    return { action: 'drop' };
  },
});
