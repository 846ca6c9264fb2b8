// The h2c upgrade (RFC 7540 3.2): an HTTP/1.1 request asks to continue as HTTP/2, and that
// request becomes stream 1, already half-closed by the client. The proxy writes stream 1 to the
// upstream itself: a HEADERS frame with the request's fields as HPACK literals without
// indexing (which leave both dynamic tables untouched, so the client's own blocks can follow
// as they are), then the request's body as DATA frames.

import { headerOf, tokensOf, type Head } from './h1-parse.js';
import { DATA, END_STREAM, HEADERS, MIN_MAX_FRAME, frame, headerFrames } from './h2-frame.js';
import { encodeLiterals, type Field } from './hpack.js';

/** The largest request body an upgrade carries into stream 1: HTTP/2's initial flow-control
 *  window, which the DATA frames must not exceed. Larger ones are not upgraded. */
export const MAX_UPGRADE_BODY = 65_535;

/** Connection-specific fields HTTP/2 forbids (RFC 9113 8.2.2), and Host, which :authority
 *  replaces. */
const DROPPED = new Set(['connection', 'upgrade', 'http2-settings', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'host']);

export const SWITCHING = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n', 'latin1');

/** An HTTP/1.1 request asking to continue as HTTP/2 (RFC 7540 3.2). */
export function isH2cUpgrade(head: Head): boolean {
  return tokensOf(head, 'upgrade').includes('h2c') && headerOf(head, 'http2-settings') !== undefined &&
    tokensOf(head, 'connection').includes('upgrade');
}

/** The settings the client sent in HTTP2-Settings (base64url of a SETTINGS payload); none when
 *  they do not decode to whole settings. */
export function upgradeSettings(head: Head): Buffer {
  const bytes = Buffer.from(headerOf(head, 'http2-settings') ?? '', 'base64url');
  return bytes.length % 6 === 0 ? bytes : Buffer.alloc(0);
}

/** Stream 1's HEADERS (and CONTINUATION) frames for the upgraded request, then its body. */
export function upgradeFrames(head: Head, body: Buffer): Buffer {
  const host = head.headers.find(([name]) => name === 'host')?.[1];
  let path = head.target;
  const scheme = path.indexOf('://');
  if (!path.startsWith('/') && scheme > 0) {
    const slash = path.indexOf('/', scheme + 3);
    path = slash < 0 ? '/' : path.slice(slash);
  }
  const fields: Field[] = [field(':method', head.method), field(':scheme', 'http')];
  if (host !== undefined) fields.push(field(':authority', host));
  fields.push(field(':path', path));
  for (const [name, value] of head.headers) {
    if (DROPPED.has(name) || (name === 'te' && value.toLowerCase() !== 'trailers')) continue;
    fields.push(field(name, value));
  }
  const frames = headerFrames(HEADERS, 1, body.length === 0, encodeLiterals(fields, false));
  for (let at = 0; at < body.length; at += MIN_MAX_FRAME) {
    frames.push(frame(DATA, at + MIN_MAX_FRAME >= body.length ? END_STREAM : 0, 1, body.subarray(at, at + MIN_MAX_FRAME)));
  }
  return Buffer.concat(frames);
}

function field(name: string, value: string): Field {
  return { name, value, sensitive: false };
}
