// The answers the proxy writes itself: an http_abort's error, in HTTP/1.1 bytes or as HTTP/2
// headers, in gRPC's shape for gRPC requests (HTTP 200 with grpc-status and grpc-message, as a
// server that fails a call answers), and the 400 or 502 for malformed HTTP.

import { STATUS_CODES } from 'node:http';

export interface AbortAnswer {
  status: number;
  body: string;
  grpcStatus: number;
  /** The toxic's name, for the default body. */
  toxic: string;
}

/** The body an abort sends: its own, or a line naming the toxic. */
function bodyOf(a: AbortAnswer): string {
  return a.body !== '' ? a.body : `faultline: request aborted by toxic ${a.toxic}\n`;
}

/** gRPC's percent-encoding for grpc-message: UTF-8, with bytes outside printable ASCII and
 *  `%` itself escaped. */
export function grpcMessage(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** An HTTP/1.1 error response. `close` adds Connection: close (the connection ends after it);
 *  `keepAlive` says keep-alive explicitly, which an HTTP/1.0 client needs to hear. */
export function h1Response(status: number, body: string, options: { close?: boolean; keepAlive?: boolean; grpc?: { contentType: string; status: number } } = {}): Buffer {
  const lines = options.grpc !== undefined
    ? ['HTTP/1.1 200 OK', `Content-Type: ${options.grpc.contentType}`, `grpc-status: ${options.grpc.status}`,
      `grpc-message: ${grpcMessage(body.trim())}`, 'Content-Length: 0']
    : [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`, 'Content-Type: text/plain; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(body)}`];
  if (options.close === true) lines.push('Connection: close');
  else if (options.keepAlive === true) lines.push('Connection: keep-alive');
  const head = `${lines.join('\r\n')}\r\n\r\n`;
  return options.grpc !== undefined ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body, 'utf8')]);
}

/** An abort as HTTP/1.1 bytes; `grpcType` is the request's content-type when it is gRPC. */
export function h1Abort(a: AbortAnswer, grpcType: string | null, close: boolean, keepAlive: boolean): Buffer {
  const body = bodyOf(a);
  const grpc = grpcType === null ? undefined : { contentType: grpcType, status: a.grpcStatus };
  return h1Response(a.status, body, { close, keepAlive, ...(grpc ? { grpc } : {}) });
}

/** An abort as HTTP/2: the headers (with END_STREAM for gRPC's trailers-only answer) and body. */
export function h2Abort(a: AbortAnswer, grpcType: string | null): { headers: Record<string, string | number>; body: Buffer | null } {
  const body = bodyOf(a);
  if (grpcType !== null) {
    return {
      headers: { ':status': 200, 'content-type': grpcType, 'grpc-status': String(a.grpcStatus), 'grpc-message': grpcMessage(body.trim()) },
      body: null,
    };
  }
  const bytes = Buffer.from(body, 'utf8');
  return { headers: { ':status': a.status, 'content-type': 'text/plain; charset=utf-8', 'content-length': bytes.length }, body: bytes };
}
