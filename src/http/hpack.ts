// HPACK (RFC 7541) for a relay that forwards HTTP/2 frames as they are: it decodes every header
// block in each direction, keeping a dynamic table in step with the real receiver's, and it
// emits blocks of its own only as literals that touch neither side's table.
//
// A decoder is one direction of one connection. Any malformed input throws HpackError, after
// which the table may be half-updated and the decoder refuses further blocks: a COMPRESSION_ERROR
// ends the connection anyway (RFC 9113 4.3).

import { huffmanDecode, HpackError } from './hpack-huffman.js';
import { STATIC, STATIC_COUNT, STATIC_NAME_INDEX, type Field } from './hpack-static.js';

export { HpackError } from './hpack-huffman.js';
export type { Field } from './hpack-static.js';

/** Every entry costs its octets plus 32 (RFC 7541 4.1); the list limit counts fields alike. */
const ENTRY_OVERHEAD = 32;
/** Integers above this are refused: no index, length or table size in HTTP/2 comes near it. */
const MAX_INTEGER = 2 ** 32 - 1;
const EMPTY = Buffer.alloc(0);

export interface HpackDecoderOptions {
  /** The most a block may decode to, counting name + value + 32 per field: a small block can
   *  otherwise name one large dynamic entry thousands of times. Default 256 KiB. */
  maxListSize?: number;
}

export class HpackDecoder {
  private readonly maxListSize: number;
  /** SETTINGS_HEADER_TABLE_SIZE as the receiver advertised it: the most a size update may ask. */
  private limit: number;
  /** The table's current maximum size: the last size update, or the limit if it came lower. */
  private capacity: number;
  /** After the limit dropped below the capacity, the next block must open with a size update
   *  no larger than the smallest limit seen since (RFC 7541 4.2); -1 when none is due. */
  private updateDue = -1;
  /** The dynamic table as a ring: `newest` is HPACK index 62; older entries precede it. */
  private ring: (Field | undefined)[] = new Array<Field | undefined>(16).fill(undefined);
  private newest = 0;
  private count = 0;
  private size = 0;
  private failure = '';
  private block: Buffer = EMPTY;
  private pos = 0;

  constructor(maxTableSize = 4096, options: HpackDecoderOptions = {}) {
    this.limit = maxTableSize;
    this.capacity = maxTableSize;
    this.maxListSize = options.maxListSize ?? 256 * 1024;
  }

  /** The receiver advertised a new SETTINGS_HEADER_TABLE_SIZE (and the peer acknowledged it). */
  setMaxTableSize(n: number): void {
    this.limit = n;
    if (n >= this.capacity) return;
    this.updateDue = this.updateDue < 0 ? n : Math.min(this.updateDue, n);
    this.resize(n);
  }

  /** The fields of one complete header block (HEADERS or PUSH_PROMISE and its CONTINUATIONs),
   *  in order. Fields from the tables are shared objects: read them, never mutate them. */
  decode(block: Buffer): Field[] {
    if (this.failure) throw new HpackError(`HPACK: decoder unusable after an earlier error (${this.failure})`);
    try {
      return this.fields(block);
    } catch (err) {
      this.failure = (err as Error).message;
      throw err;
    } finally {
      this.block = EMPTY;
    }
  }

  private fields(block: Buffer): Field[] {
    this.block = block;
    this.pos = 0;
    const end = block.length;
    let updates = 0;
    while (this.pos < end && (block[this.pos]! & 0xe0) === 0x20) {
      const size = this.integer(5);
      if (size > this.limit) throw new HpackError(`HPACK: dynamic table size update to ${size} exceeds the advertised ${this.limit}`);
      if (updates++ === 0 && this.updateDue >= 0 && size > this.updateDue) {
        throw new HpackError(`HPACK: dynamic table size update to ${size}, but the table limit was lowered to ${this.updateDue}`);
      }
      this.updateDue = -1;
      this.capacity = size;
      this.resize(size);
    }
    if (this.updateDue >= 0 && end > 0) {
      throw new HpackError(`HPACK: a dynamic table size update was due after the limit was lowered to ${this.updateDue}`);
    }
    const out: Field[] = [];
    let listSize = 0;
    while (this.pos < end) {
      const first = block[this.pos]!;
      let field: Field;
      if (first & 0x80) {
        field = this.entry(this.integer(7));
      } else if (first & 0x40) {
        const index = this.integer(6);
        const name = index === 0 ? this.string() : this.entry(index).name;
        field = { name, value: this.string(), sensitive: false };
        this.insert(field);
      } else if (first & 0x20) {
        throw new HpackError('HPACK: dynamic table size update after the first field of a block');
      } else {
        const index = this.integer(4);
        const name = index === 0 ? this.string() : this.entry(index).name;
        field = { name, value: this.string(), sensitive: (first & 0x10) !== 0 };
      }
      listSize += field.name.length + field.value.length + ENTRY_OVERHEAD;
      if (listSize > this.maxListSize) throw new HpackError(`HPACK: header list exceeds ${this.maxListSize} octets`);
      out.push(field);
    }
    return out;
  }

  /** An integer with an N-bit prefix (RFC 7541 5.1) at the cursor. */
  private integer(prefixBits: number): number {
    const block = this.block;
    let pos = this.pos;
    const max = (1 << prefixBits) - 1;
    let value = block[pos++]! & max;
    if (value === max) {
      let scale = 1;
      for (;;) {
        if (pos >= block.length) throw new HpackError('HPACK: integer runs past the end of the block');
        const octet = block[pos++]!;
        value += (octet & 0x7f) * scale;
        if (value > MAX_INTEGER || scale > 2 ** 28) throw new HpackError('HPACK: integer overflow');
        if ((octet & 0x80) === 0) break;
        scale *= 128;
      }
    }
    this.pos = pos;
    return value;
  }

  /** A string literal (RFC 7541 5.2) at the cursor. */
  private string(): string {
    const block = this.block;
    if (this.pos >= block.length) throw new HpackError('HPACK: block ends where a string was due');
    const huffman = (block[this.pos]! & 0x80) !== 0;
    const length = this.integer(7);
    const start = this.pos;
    const end = start + length;
    if (end > block.length) throw new HpackError(`HPACK: string of ${length} octets runs past the end of the block`);
    this.pos = end;
    return huffman ? huffmanDecode(block, start, end) : block.toString('latin1', start, end);
  }

  private entry(index: number): Field {
    if (index <= STATIC_COUNT) {
      if (index === 0) throw new HpackError('HPACK: index 0');
      return STATIC[index]!;
    }
    const back = index - STATIC_COUNT - 1;
    if (back >= this.count) {
      throw new HpackError(`HPACK: index ${index} is past the ${STATIC_COUNT} static and ${this.count} dynamic entries`);
    }
    return this.ring[(this.newest - back) & (this.ring.length - 1)]!;
  }

  private insert(field: Field): void {
    const size = field.name.length + field.value.length + ENTRY_OVERHEAD;
    // An entry larger than the table empties it and is not added (RFC 7541 4.4).
    this.resize(Math.max(0, this.capacity - size));
    if (size > this.capacity) return;
    if (this.count === this.ring.length) this.grow();
    this.newest = (this.newest + 1) & (this.ring.length - 1);
    this.ring[this.newest] = field;
    this.count++;
    this.size += size;
  }

  /** Evicts the oldest entries until the table holds at most `max` octets. */
  private resize(max: number): void {
    const mask = this.ring.length - 1;
    while (this.size > max) {
      const oldest = (this.newest - this.count + 1) & mask;
      const field = this.ring[oldest]!;
      this.ring[oldest] = undefined;
      this.count--;
      this.size -= field.name.length + field.value.length + ENTRY_OVERHEAD;
    }
  }

  private grow(): void {
    const old = this.ring;
    const ring = new Array<Field | undefined>(old.length * 2).fill(undefined);
    for (let i = 0; i < this.count; i++) ring[i] = old[(this.newest - this.count + 1 + i) & (old.length - 1)];
    this.ring = ring;
    this.newest = this.count - 1;
  }
}

/** A header block that touches neither side's dynamic table: every field a literal without
 *  indexing (never indexed if sensitive), its name a static index where the static table has
 *  it, strings raw. With `sizeUpdateZero` it opens with a size update to 0 (RFC 7541 6.3). */
export function encodeLiterals(fields: readonly Field[], sizeUpdateZero: boolean): Buffer {
  let length = sizeUpdateZero ? 1 : 0;
  for (const { name, value } of fields) {
    if (/[^\x00-\xff]/.test(name) || /[^\x00-\xff]/.test(value)) {
      throw new TypeError(`header ${JSON.stringify(name)} has a character above U+00FF: fields are latin1 octets`);
    }
    const index = STATIC_NAME_INDEX.get(name);
    length += index === undefined ? 1 + integerLength(name.length, 7) + name.length : integerLength(index, 4);
    length += integerLength(value.length, 7) + value.length;
  }
  const out = Buffer.allocUnsafe(length);
  let pos = 0;
  if (sizeUpdateZero) out[pos++] = 0x20;
  for (const { name, value, sensitive } of fields) {
    const flag = sensitive ? 0x10 : 0x00;
    const index = STATIC_NAME_INDEX.get(name);
    if (index === undefined) {
      out[pos++] = flag;
      pos = writeInteger(out, pos, 0x00, 7, name.length);
      pos += out.write(name, pos, 'latin1');
    } else {
      pos = writeInteger(out, pos, flag, 4, index);
    }
    pos = writeInteger(out, pos, 0x00, 7, value.length);
    pos += out.write(value, pos, 'latin1');
  }
  return out;
}

function integerLength(value: number, prefixBits: number): number {
  let length = 1;
  let rest = value - ((1 << prefixBits) - 1);
  if (rest < 0) return length;
  for (; rest >= 128; rest = Math.floor(rest / 128)) length++;
  return length + 1;
}

function writeInteger(out: Buffer, pos: number, flags: number, prefixBits: number, value: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out[pos++] = flags | value;
    return pos;
  }
  out[pos++] = flags | max;
  let rest = value - max;
  for (; rest >= 128; rest = Math.floor(rest / 128)) out[pos++] = (rest % 128) | 0x80;
  out[pos++] = rest;
  return pos;
}
