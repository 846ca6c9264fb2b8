// HTTP/2 frames as the relay sees them (RFC 9113 4 and 6): cut from a byte stream without
// copying when a frame arrives whole, and built for the few frames the proxy writes itself.

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER = 9;
/** The largest frame payload every peer must accept, and the largest the proxy writes. */
export const MIN_MAX_FRAME = 16_384;
const MAX_MAX_FRAME = 16_777_215;

export const DATA = 0x0;
export const HEADERS = 0x1;
export const PRIORITY = 0x2;
export const RST_STREAM = 0x3;
export const SETTINGS = 0x4;
export const PUSH_PROMISE = 0x5;
export const PING = 0x6;
export const GOAWAY = 0x7;
export const WINDOW_UPDATE = 0x8;
export const CONTINUATION = 0x9;

export const END_STREAM = 0x1;
export const ACK = 0x1;
export const END_HEADERS = 0x4;
export const PADDED = 0x8;
export const PRIORITY_FLAG = 0x20;

export const SETTINGS_HEADER_TABLE_SIZE = 0x1;
export const SETTINGS_MAX_FRAME_SIZE = 0x5;

export const NO_ERROR = 0x0;
export const PROTOCOL_ERROR = 0x1;
export const INTERNAL_ERROR = 0x2;
export const CANCEL = 0x8;
export const REFUSED_STREAM = 0x7;
export const COMPRESSION_ERROR = 0x9;
export const FRAME_SIZE_ERROR = 0x6;
export const ENHANCE_YOUR_CALM = 0xb;

/** One frame; `raw` is its header and payload, a view into the bytes read when it came whole. */
export interface Frame {
  type: number;
  flags: number;
  sid: number;
  raw: Buffer;
}

export class H2ProtocolError extends Error {
  constructor(message: string, readonly code: number = PROTOCOL_ERROR) {
    super(message);
  }
}

export function payloadOf(f: Frame): Buffer {
  return f.raw.subarray(FRAME_HEADER);
}

/** The part of a DATA, HEADERS or PUSH_PROMISE payload after its padding length and before its
 *  padding; `skip` more bytes are dropped from the front (HEADERS' priority, PUSH_PROMISE's id). */
export function unpadded(f: Frame, skip: number): Buffer {
  const p = payloadOf(f);
  if ((f.flags & PADDED) === 0) {
    if (p.length < skip) throw new H2ProtocolError(`frame type ${f.type} too short`, FRAME_SIZE_ERROR);
    return p.subarray(skip);
  }
  if (p.length < 1 + skip || p[0]! > p.length - 1 - skip) throw new H2ProtocolError(`frame type ${f.type} padding exceeds its payload`);
  return p.subarray(1 + skip, p.length - p[0]!);
}

/** Cuts a byte stream into frames; a frame split across reads is gathered into one buffer. */
export class FrameReader {
  /** The payload size the receiving peer has said it accepts; larger frames are refused. */
  maxPayload = MIN_MAX_FRAME;
  private partial: Buffer | null = null;

  push(data: Buffer, each: (f: Frame) => void): void {
    let buf = data;
    if (this.partial !== null) {
      buf = Buffer.concat([this.partial, data]);
      this.partial = null;
    }
    let at = 0;
    while (buf.length - at >= FRAME_HEADER) {
      const length = buf.readUIntBE(at, 3);
      if (length > this.maxPayload) throw new H2ProtocolError(`a ${length}-byte frame, beyond the ${this.maxPayload} bytes allowed`, FRAME_SIZE_ERROR);
      const end = at + FRAME_HEADER + length;
      if (end > buf.length) break;
      each({ type: buf[at + 3]!, flags: buf[at + 4]!, sid: buf.readUInt32BE(at + 5) & 0x7fffffff, raw: buf.subarray(at, end) });
      at = end;
    }
    if (at < buf.length) this.partial = Buffer.from(buf.subarray(at));
  }

  setMax(n: number): void {
    this.maxPayload = Math.min(Math.max(n, MIN_MAX_FRAME, this.maxPayload), MAX_MAX_FRAME);
  }
}

export function frame(type: number, flags: number, sid: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(sid, 5);
  payload.copy(out, FRAME_HEADER);
  return out;
}

/** Rewrites a frame's stream id in place (the relay owns the bytes it read). */
export function setSid(raw: Buffer, sid: number): Buffer {
  raw.writeUInt32BE(sid, 5);
  return raw;
}

export function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

export function rstStream(sid: number, code: number): Buffer {
  return frame(RST_STREAM, 0, sid, u32(code));
}

export function windowUpdate(sid: number, n: number): Buffer {
  return frame(WINDOW_UPDATE, 0, sid, u32(n));
}

export function goaway(lastSid: number, code: number, debug = ''): Buffer {
  return frame(GOAWAY, 0, 0, Buffer.concat([u32(lastSid), u32(code), Buffer.from(debug, 'utf8')]));
}

/** A header block as HEADERS (or PUSH_PROMISE with its promised id) and CONTINUATION frames. */
export function headerFrames(type: number, sid: number, endStream: boolean, block: Buffer, promised?: number): Buffer[] {
  const out: Buffer[] = [];
  const first = promised === undefined ? block : Buffer.concat([u32(promised), block]);
  let at = 0;
  let rest = first;
  do {
    const piece = rest.subarray(0, MIN_MAX_FRAME);
    rest = rest.subarray(piece.length);
    const last = rest.length === 0;
    const t = at === 0 ? type : CONTINUATION;
    const flags = (last ? END_HEADERS : 0) | (at === 0 && endStream ? END_STREAM : 0);
    out.push(frame(t, flags, sid, piece));
    at++;
  } while (rest.length > 0);
  return out;
}

/** The settings a SETTINGS frame carries, as id/value pairs. */
export function settingsOf(f: Frame): Array<[number, number]> {
  const p = payloadOf(f);
  if (p.length % 6 !== 0) throw new H2ProtocolError('a SETTINGS frame whose length is not a multiple of 6', FRAME_SIZE_ERROR);
  const out: Array<[number, number]> = [];
  for (let i = 0; i < p.length; i += 6) out.push([p.readUInt16BE(i), p.readUInt32BE(i + 2)]);
  return out;
}
