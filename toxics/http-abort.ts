import { defineRequestToxic } from '../src/toxic.js';

type HttpAbortAttributes = { status: number; body: string; when: string; grpc_status: number };

export const httpAbort = defineRequestToxic<HttpAbortAttributes>({
  type: 'http_abort',
  description: 'Answers a request with an error status instead of the server: before forwarding it (when request), or after the server has handled it, its answer read and discarded (when response: the work was done, the answer lost). A gRPC request gets HTTP 200 with grpc-status and grpc-message instead.',
  attributes: {
    status: { kind: 'integer', default: 503, unit: 'HTTP status', min: 200, max: 599, description: 'the status of the error response' },
    body: { kind: 'string', default: '', format: 'text', maxLength: 8192, description: 'the error response body (the grpc-message for gRPC); empty: a short text naming the toxic' },
    when: { kind: 'enum', default: 'request', values: ['request', 'response'], description: 'request: the server never sees it; response: the server handles it and its answer is lost' },
    grpc_status: { kind: 'integer', default: 14, unit: 'gRPC status code', max: 16, description: 'the grpc-status for gRPC requests (14: UNAVAILABLE)' },
  },
  phase: (attributes) => (attributes.when === 'response' ? 'response' : 'request'),
  exchange(ctx) {
    const { status, body, grpc_status: grpcStatus } = ctx.attributes;
    return { action: 'abort', status, body, grpcStatus };
  },
});
