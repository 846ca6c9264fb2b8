// One direction of an HTTP/2 relay: the frames one peer sends, cut and gathered into header
// blocks, the HPACK decoder that mirrors the receiving peer's, and the frames queued for the
// receiving peer in the current turn.

import {
  CONTINUATION, END_HEADERS, ENHANCE_YOUR_CALM, FrameReader, H2ProtocolError, COMPRESSION_ERROR, HEADERS, PRIORITY_FLAG,
  PUSH_PROMISE, payloadOf, unpadded, type Frame,
} from './h2-frame.js';
import { HpackDecoder, type Field } from './hpack.js';

/** The most a header block's frames may add up to while it is gathered. The decoder refuses a
 *  list past 256 KiB only once the block is whole; no encoding of such a list reaches 4 times that
 *  (a Huffman code is at most 30 bits an octet), and a peer that keeps a block open with
 *  CONTINUATION frames would otherwise be buffered without end. */
const MAX_BLOCK = 1024 * 1024;

/** A whole header block: its frames as they came, and its fields decoded. */
export interface Block {
  type: number;
  sid: number;
  /** The first frame's flags (END_STREAM is there). */
  flags: number;
  frames: Buffer[];
  fields: Field[];
  /** PUSH_PROMISE: the stream it promises. */
  promised?: number;
}

/** Frames for one peer, written once per turn; views of one read that lie end to end are
 *  written as the single view they came from. */
export class Out {
  private parts: Buffer[] = [];

  constructor(private readonly write: (data: Buffer) => void | Promise<void>) {}

  push(b: Buffer): void {
    const last = this.parts[this.parts.length - 1];
    if (last !== undefined && last.buffer === b.buffer && last.byteOffset + last.length === b.byteOffset) {
      this.parts[this.parts.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + b.length);
    } else {
      this.parts.push(b);
    }
  }

  flush(): void | Promise<void> {
    const parts = this.parts;
    if (parts.length === 0) return;
    this.parts = [];
    return this.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
  }
}

export class Side {
  readonly reader = new FrameReader();
  readonly decoder = new HpackDecoder();
  /** Header blocks pass as the sender encoded them while every earlier one did, in order;
   *  once one is held, dropped or answered, the receiver's table no longer matches the
   *  sender's, and every later block is encoded afresh without the dynamic table. */
  raw = true;
  /** Connection window the sender will give back for bytes the proxy put in its place, which
   *  the receiver must not see. */
  owed = 0;
  /** Each SETTINGS the receiver sent that the sender has yet to acknowledge: the HPACK table
   *  size it set, if it set one. */
  readonly unacked: Array<number | null> = [];
  private open: Block | null = null;
  private fragments: Buffer[] = [];
  private gathered = 0;

  constructor(readonly out: Out) {}

  /** Gathers HEADERS/PUSH_PROMISE and CONTINUATION frames; the whole block once it is in. */
  gather(f: Frame): Block | null {
    const open = this.open;
    if (open !== null) {
      if (f.type !== CONTINUATION || f.sid !== open.sid) throw new H2ProtocolError('a header block interrupted before its END_HEADERS');
      open.frames.push(f.raw);
      this.fragments.push(payloadOf(f));
    } else if (f.type === CONTINUATION) {
      throw new H2ProtocolError('a CONTINUATION frame with no header block open');
    } else {
      const block: Block = { type: f.type, sid: f.sid, flags: f.flags, frames: [f.raw], fields: [] };
      if (f.type === HEADERS) {
        this.fragments.push(unpadded(f, (f.flags & PRIORITY_FLAG) !== 0 ? 5 : 0));
      } else if (f.type === PUSH_PROMISE) {
        const p = unpadded(f, 0);
        if (p.length < 4) throw new H2ProtocolError('a PUSH_PROMISE frame too short');
        block.promised = p.readUInt32BE(0) & 0x7fffffff;
        this.fragments.push(p.subarray(4));
      }
      this.open = block;
      this.gathered = 0;
    }
    this.gathered += f.raw.length;
    if (this.gathered > MAX_BLOCK) throw new H2ProtocolError(`a header block past ${MAX_BLOCK} bytes`, ENHANCE_YOUR_CALM);
    if ((f.flags & END_HEADERS) === 0) return null;
    const block = this.open!;
    this.open = null;
    const fragments = this.fragments;
    this.fragments = [];
    try {
      block.fields = this.decoder.decode(fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments));
    } catch (err) {
      throw new H2ProtocolError(`HPACK: ${(err as Error).message}`, COMPRESSION_ERROR);
    }
    return block;
  }

  /** True while a header block waits for its CONTINUATION frames. */
  get midBlock(): boolean {
    return this.open !== null;
  }

  /** The sender acknowledged the receiver's oldest SETTINGS still open; the side whose frames
   *  carry the ACK calls this on the other side. */
  ackedBy(): void {
    const table = this.unacked.shift();
    if (table !== undefined && table !== null) this.decoder.setMaxTableSize(table);
  }

  /** Takes what of a WINDOW_UPDATE increment on the connection the proxy is owed. */
  takeOwed(n: number): number {
    const taken = Math.min(n, this.owed);
    this.owed -= taken;
    return n - taken;
  }
}
