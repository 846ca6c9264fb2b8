import { defineRequestToxic, MAX_MS } from '../src/toxic.js';

type HttpDelayAttributes = { latency: number; jitter: number; when: string };

export const httpDelay = defineRequestToxic<HttpDelayAttributes>({
  type: 'http_delay',
  description: 'Delays a request before it is forwarded (when request), or its response before it goes back (when response), by latency ms plus or minus a random jitter. On HTTP/1.1 later requests on the same connection wait behind it, as they would behind a slow server; on HTTP/2 only its own stream waits.',
  attributes: {
    latency: { kind: 'integer', default: 0, unit: 'ms', max: MAX_MS, description: 'delay added to the exchange' },
    jitter: { kind: 'integer', default: 0, unit: 'ms', max: MAX_MS, description: 'random variation around the delay' },
    when: { kind: 'enum', default: 'request', values: ['request', 'response'], description: 'request: before forwarding; response: before the response goes back' },
  },
  phase: (attributes) => (attributes.when === 'response' ? 'response' : 'request'),
  exchange(ctx) {
    const { latency, jitter } = ctx.attributes;
    const ms = Math.max(0, jitter > 0 ? latency + ctx.random.int(-jitter, jitter) : latency);
    return ms > 0 ? { action: 'delay', ms } : null;
  },
});
