// The h2c upgrade (RFC 7540 3.2): an HTTP/1.1 request asks to continue as HTTP/2, and that
// request becomes stream 1, already half-closed by the client. Node's HTTP/2 server has no
// API for a session that starts with an upgraded stream, so the proxy gives it the stream the
// way a client would have opened it: a HEADERS frame for stream 1 with END_STREAM, placed
// right after the client's connection preface and first SETTINGS frame, with the request's
// body (if it had a small one) as DATA frames after it. The header block is HPACK "literal
// without indexing" fields, which leave both dynamic tables untouched.

/** The largest request body an upgrade carries into stream 1: HTTP/2's initial flow-control
 *  window, which the injected DATA frames must not exceed. Larger ones are not upgraded. */
export const MAX_UPGRADE_BODY = 65_535;

import { headerOf, tokensOf, type Head } from './h1-parse.js';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER = 9;
const MAX_FRAME = 16_384;
const TYPE_DATA = 0x0;
const TYPE_HEADERS = 0x1;
const TYPE_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;

/** Connection-specific fields HTTP/2 forbids (RFC 9113 8.2.2), and Host, which :authority
 *  replaces. */
const DROPPED = new Set(['connection', 'upgrade', 'http2-settings', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'host']);

function hpackInteger(value: number, prefixBits: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [value];
  const out = [max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest & 0x7f) | 0x80);
    rest >>= 7;
  }
  out.push(rest);
  return out;
}

function literal(name: string, value: string): Buffer {
  const n = Buffer.from(name, 'latin1');
  const v = Buffer.from(value, 'latin1');
  return Buffer.concat([Buffer.from([0x00, ...hpackInteger(n.length, 7)]), n, Buffer.from(hpackInteger(v.length, 7)), v]);
}

function frame(type: number, flags: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(FRAME_HEADER);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(1, 5);
  return Buffer.concat([header, payload]);
}

/** An HTTP/1.1 request asking to continue as HTTP/2 (RFC 7540 3.2). */
export function isH2cUpgrade(head: Head): boolean {
  return tokensOf(head, 'upgrade').includes('h2c') && headerOf(head, 'http2-settings') !== undefined &&
    tokensOf(head, 'connection').includes('upgrade');
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
  const fields: Array<[string, string]> = [[':method', head.method], [':scheme', 'http'], ...(host !== undefined ? [[':authority', host] as [string, string]] : []), [':path', path]];
  for (const [name, value] of head.headers) {
    if (DROPPED.has(name) || (name === 'te' && value.toLowerCase() !== 'trailers')) continue;
    fields.push([name, value]);
  }
  const block = Buffer.concat(fields.map(([name, value]) => literal(name, value)));
  const frames: Buffer[] = [];
  for (let at = 0; at < block.length || frames.length === 0; at += MAX_FRAME) {
    const last = at + MAX_FRAME >= block.length;
    const type = frames.length === 0 ? TYPE_HEADERS : TYPE_CONTINUATION;
    const flags = (type === TYPE_HEADERS && body.length === 0 ? FLAG_END_STREAM : 0) | (last ? FLAG_END_HEADERS : 0);
    frames.push(frame(type, flags, block.subarray(at, at + MAX_FRAME)));
  }
  for (let at = 0; at < body.length; at += MAX_FRAME) {
    frames.push(frame(TYPE_DATA, at + MAX_FRAME >= body.length ? FLAG_END_STREAM : 0, body.subarray(at, at + MAX_FRAME)));
  }
  return Buffer.concat(frames);
}

/**
 * Where the client's preface and first frame (its SETTINGS) end in `buf`, so stream 1 can go
 * after them: null until they have arrived; -1 when `buf` does not start with the preface.
 */
export function afterPreface(buf: Buffer): number | null {
  const n = Math.min(buf.length, PREFACE.length);
  if (buf.compare(PREFACE, 0, n, 0, n) !== 0) return -1;
  if (buf.length < PREFACE.length + FRAME_HEADER) return null;
  const end = PREFACE.length + FRAME_HEADER + buf.readUIntBE(PREFACE.length, 3);
  return buf.length < end ? null : end;
}

export const SWITCHING = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n', 'latin1');
