import { defineDnsToxic, MAX_MS } from '../src/toxic.js';

type DnsDelayAttributes = { latency: number; jitter: number };

export const dnsDelay = defineDnsToxic<DnsDelayAttributes>({
  type: 'dns_delay',
  description: 'Delays a query by latency ms plus or minus a random jitter before it is forwarded (or answered by another toxic). Each query waits on its own: later queries overtake a delayed one.',
  attributes: {
    latency: { kind: 'integer', default: 0, unit: 'ms', max: MAX_MS, description: 'delay added to the query' },
    jitter: { kind: 'integer', default: 0, unit: 'ms', max: MAX_MS, description: 'random variation around the delay' },
  },
  query(ctx) {
    const { latency, jitter } = ctx.attributes;
    const ms = Math.max(0, jitter > 0 ? latency + ctx.random.int(-jitter, jitter) : latency);
    return ms > 0 ? { action: 'delay', ms } : null;
  },
});
