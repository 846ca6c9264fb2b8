import { defineRequestToxic, type ResetCode } from '../src/toxic.js';

type HttpResetAttributes = { when: string; code: string };

export const httpReset = defineRequestToxic<HttpResetAttributes>({
  type: 'http_reset',
  description: 'Resets an exchange midway: as the request arrives, before it is forwarded (when request), or as the server\'s response arrives, before any of it goes back (when response). HTTP/1.1 resets the connection (TCP RST); HTTP/2 resets only the stream (RST_STREAM with code), leaving the connection\'s other streams alive.',
  attributes: {
    when: { kind: 'enum', default: 'request', values: ['request', 'response'], description: 'request: the server never sees it; response: the server handles it and the client sees a reset' },
    code: { kind: 'enum', default: 'INTERNAL_ERROR', values: ['INTERNAL_ERROR', 'CANCEL', 'REFUSED_STREAM'], description: 'the RST_STREAM error code on HTTP/2 (REFUSED_STREAM tells a client it may retry)' },
  },
  phase: (attributes) => (attributes.when === 'response' ? 'response' : 'request'),
  exchange(ctx) {
    return { action: 'reset', code: ctx.attributes.code as ResetCode };
  },
});
