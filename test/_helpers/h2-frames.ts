// HTTP/2 frames at the byte level (RFC 9113 4.1), for tests that watch what a real HTTP/2
// implementation puts on the wire: a reader that splits a captured byte stream into frames and
// joins each header block (HEADERS or PUSH_PROMISE, then CONTINUATIONs) into one buffer.

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const TYPE = {
  DATA: 0x0, HEADERS: 0x1, PRIORITY: 0x2, RST_STREAM: 0x3, SETTINGS: 0x4, PUSH_PROMISE: 0x5, PING: 0x6, GOAWAY: 0x7, WINDOW_UPDATE: 0x8, CONTINUATION: 0x9,
} as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

export interface HeaderBlock {
  stream: number;
  /** The flags of the HEADERS frame that opened the block (END_STREAM tells trailers apart). */
  flags: number;
  /** How many frames carried it: 1 for HEADERS alone, more with CONTINUATION. */
  frames: number;
  block: Buffer;
}

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/** Splits bytes into frames as they arrive; `onBlock` sees each complete header block in order. */
export class FrameReader {
  readonly frames: Frame[] = [];
  readonly blocks: HeaderBlock[] = [];
  private pending = Buffer.alloc(0);
  private open: { stream: number; flags: number; parts: Buffer[] } | null = null;

  constructor(private readonly onFrame: (f: Frame) => void = () => {}) {}

  push(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 9) {
      const length = this.pending.readUIntBE(0, 3);
      if (this.pending.length < 9 + length) break;
      const f: Frame = {
        type: this.pending[3]!,
        flags: this.pending[4]!,
        stream: this.pending.readUInt32BE(5) & 0x7fffffff,
        payload: this.pending.subarray(9, 9 + length),
      };
      this.pending = this.pending.subarray(9 + length);
      this.frames.push(f);
      this.collect(f);
      this.onFrame(f);
    }
  }

  private collect(f: Frame): void {
    if (f.type === TYPE.HEADERS || f.type === TYPE.PUSH_PROMISE) {
      if (this.open) throw new Error(`frame type ${f.type} on stream ${f.stream} inside an unfinished header block`);
      this.open = { stream: f.stream, flags: f.flags, parts: [fragmentOf(f)] };
    } else if (f.type === TYPE.CONTINUATION) {
      if (!this.open || this.open.stream !== f.stream) throw new Error(`CONTINUATION on stream ${f.stream} with no open block`);
      this.open.parts.push(f.payload);
    } else {
      if (this.open) throw new Error(`frame type ${f.type} inside an unfinished header block`);
      return;
    }
    if (f.flags & FLAG.END_HEADERS) {
      const { stream, flags, parts } = this.open;
      this.blocks.push({ stream, flags, frames: parts.length, block: Buffer.concat(parts) });
      this.open = null;
    }
  }
}

/** The header block fragment of a HEADERS or PUSH_PROMISE frame: padding, the priority fields
 *  and the promised stream id stripped. */
function fragmentOf(f: Frame): Buffer {
  let start = 0;
  let end = f.payload.length;
  if (f.flags & FLAG.PADDED) {
    start = 1;
    end -= f.payload[0]!;
  }
  if (f.type === TYPE.HEADERS && f.flags & FLAG.PRIORITY) start += 5;
  if (f.type === TYPE.PUSH_PROMISE) start += 4;
  if (end < start) throw new Error(`padding longer than the frame on stream ${f.stream}`);
  return f.payload.subarray(start, end);
}
