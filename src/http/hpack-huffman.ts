// The HPACK Huffman code (RFC 7541 5.2 and Appendix B) and its decoder. The code is written
// out as data, 257 (code, length) pairs in Appendix B's order, so it can be checked against
// the RFC line by line; the decoder's tables are derived from it, never written by hand.
//
// Decoding reads four bits at a time through a state machine built once at load: a state is
// an internal node of the code tree, and each (state, nibble) entry gives the next state and
// the octet completed on the way, if any. No code is shorter than five bits, so a nibble
// completes at most one. EOS met inside the string, and padding longer than seven bits or not
// all ones, are the errors RFC 7541 5.2 makes a decoder treat as such.

/** A malformed header block: the connection must end with COMPRESSION_ERROR (RFC 9113 4.3). */
export class HpackError extends Error {
  override name = 'HpackError';
}

/** (code, bit length) for octets 0 to 255 and EOS (256), code right-aligned as in Appendix B. */
const CODE = [
  0x1ff8, 13, 0x7fffd8, 23, 0xfffffe2, 28, 0xfffffe3, 28, 0xfffffe4, 28, 0xfffffe5, 28, // 0-5
  0xfffffe6, 28, 0xfffffe7, 28, 0xfffffe8, 28, 0xffffea, 24, 0x3ffffffc, 30, 0xfffffe9, 28, // 6-11
  0xfffffea, 28, 0x3ffffffd, 30, 0xfffffeb, 28, 0xfffffec, 28, 0xfffffed, 28, 0xfffffee, 28, // 12-17
  0xfffffef, 28, 0xffffff0, 28, 0xffffff1, 28, 0xffffff2, 28, 0x3ffffffe, 30, 0xffffff3, 28, // 18-23
  0xffffff4, 28, 0xffffff5, 28, 0xffffff6, 28, 0xffffff7, 28, 0xffffff8, 28, 0xffffff9, 28, // 24-29
  0xffffffa, 28, 0xffffffb, 28, 0x14, 6, 0x3f8, 10, 0x3f9, 10, 0xffa, 12, // 30-35
  0x1ff9, 13, 0x15, 6, 0xf8, 8, 0x7fa, 11, 0x3fa, 10, 0x3fb, 10, // 36-41
  0xf9, 8, 0x7fb, 11, 0xfa, 8, 0x16, 6, 0x17, 6, 0x18, 6, // 42-47
  0x0, 5, 0x1, 5, 0x2, 5, 0x19, 6, 0x1a, 6, 0x1b, 6, // 48-53
  0x1c, 6, 0x1d, 6, 0x1e, 6, 0x1f, 6, 0x5c, 7, 0xfb, 8, // 54-59
  0x7ffc, 15, 0x20, 6, 0xffb, 12, 0x3fc, 10, 0x1ffa, 13, 0x21, 6, // 60-65
  0x5d, 7, 0x5e, 7, 0x5f, 7, 0x60, 7, 0x61, 7, 0x62, 7, // 66-71
  0x63, 7, 0x64, 7, 0x65, 7, 0x66, 7, 0x67, 7, 0x68, 7, // 72-77
  0x69, 7, 0x6a, 7, 0x6b, 7, 0x6c, 7, 0x6d, 7, 0x6e, 7, // 78-83
  0x6f, 7, 0x70, 7, 0x71, 7, 0x72, 7, 0xfc, 8, 0x73, 7, // 84-89
  0xfd, 8, 0x1ffb, 13, 0x7fff0, 19, 0x1ffc, 13, 0x3ffc, 14, 0x22, 6, // 90-95
  0x7ffd, 15, 0x3, 5, 0x23, 6, 0x4, 5, 0x24, 6, 0x5, 5, // 96-101
  0x25, 6, 0x26, 6, 0x27, 6, 0x6, 5, 0x74, 7, 0x75, 7, // 102-107
  0x28, 6, 0x29, 6, 0x2a, 6, 0x7, 5, 0x2b, 6, 0x76, 7, // 108-113
  0x2c, 6, 0x8, 5, 0x9, 5, 0x2d, 6, 0x77, 7, 0x78, 7, // 114-119
  0x79, 7, 0x7a, 7, 0x7b, 7, 0x7ffe, 15, 0x7fc, 11, 0x3ffd, 14, // 120-125
  0x1ffd, 13, 0xffffffc, 28, 0xfffe6, 20, 0x3fffd2, 22, 0xfffe7, 20, 0xfffe8, 20, // 126-131
  0x3fffd3, 22, 0x3fffd4, 22, 0x3fffd5, 22, 0x7fffd9, 23, 0x3fffd6, 22, 0x7fffda, 23, // 132-137
  0x7fffdb, 23, 0x7fffdc, 23, 0x7fffdd, 23, 0x7fffde, 23, 0xffffeb, 24, 0x7fffdf, 23, // 138-143
  0xffffec, 24, 0xffffed, 24, 0x3fffd7, 22, 0x7fffe0, 23, 0xffffee, 24, 0x7fffe1, 23, // 144-149
  0x7fffe2, 23, 0x7fffe3, 23, 0x7fffe4, 23, 0x1fffdc, 21, 0x3fffd8, 22, 0x7fffe5, 23, // 150-155
  0x3fffd9, 22, 0x7fffe6, 23, 0x7fffe7, 23, 0xffffef, 24, 0x3fffda, 22, 0x1fffdd, 21, // 156-161
  0xfffe9, 20, 0x3fffdb, 22, 0x3fffdc, 22, 0x7fffe8, 23, 0x7fffe9, 23, 0x1fffde, 21, // 162-167
  0x7fffea, 23, 0x3fffdd, 22, 0x3fffde, 22, 0xfffff0, 24, 0x1fffdf, 21, 0x3fffdf, 22, // 168-173
  0x7fffeb, 23, 0x7fffec, 23, 0x1fffe0, 21, 0x1fffe1, 21, 0x3fffe0, 22, 0x1fffe2, 21, // 174-179
  0x7fffed, 23, 0x3fffe1, 22, 0x7fffee, 23, 0x7fffef, 23, 0xfffea, 20, 0x3fffe2, 22, // 180-185
  0x3fffe3, 22, 0x3fffe4, 22, 0x7ffff0, 23, 0x3fffe5, 22, 0x3fffe6, 22, 0x7ffff1, 23, // 186-191
  0x3ffffe0, 26, 0x3ffffe1, 26, 0xfffeb, 20, 0x7fff1, 19, 0x3fffe7, 22, 0x7ffff2, 23, // 192-197
  0x3fffe8, 22, 0x1ffffec, 25, 0x3ffffe2, 26, 0x3ffffe3, 26, 0x3ffffe4, 26, 0x7ffffde, 27, // 198-203
  0x7ffffdf, 27, 0x3ffffe5, 26, 0xfffff1, 24, 0x1ffffed, 25, 0x7fff2, 19, 0x1fffe3, 21, // 204-209
  0x3ffffe6, 26, 0x7ffffe0, 27, 0x7ffffe1, 27, 0x3ffffe7, 26, 0x7ffffe2, 27, 0xfffff2, 24, // 210-215
  0x1fffe4, 21, 0x1fffe5, 21, 0x3ffffe8, 26, 0x3ffffe9, 26, 0xffffffd, 28, 0x7ffffe3, 27, // 216-221
  0x7ffffe4, 27, 0x7ffffe5, 27, 0xfffec, 20, 0xfffff3, 24, 0xfffed, 20, 0x1fffe6, 21, // 222-227
  0x3fffe9, 22, 0x1fffe7, 21, 0x1fffe8, 21, 0x7ffff3, 23, 0x3fffea, 22, 0x3fffeb, 22, // 228-233
  0x1ffffee, 25, 0x1ffffef, 25, 0xfffff4, 24, 0xfffff5, 24, 0x3ffffea, 26, 0x7ffff4, 23, // 234-239
  0x3ffffeb, 26, 0x7ffffe6, 27, 0x3ffffec, 26, 0x3ffffed, 26, 0x7ffffe7, 27, 0x7ffffe8, 27, // 240-245
  0x7ffffe9, 27, 0x7ffffea, 27, 0x7ffffeb, 27, 0xffffffe, 28, 0x7ffffec, 27, 0x7ffffed, 27, // 246-251
  0x7ffffee, 27, 0x7ffffef, 27, 0x7fffff0, 27, 0x3ffffee, 26, 0x3fffffff, 30, // 252-256 (EOS)
];

export const EOS = 256;

/** The code of `symbol` (0-255, or EOS) and its length in bits. */
export function huffmanCode(symbol: number): { code: number; bits: number } {
  return { code: CODE[symbol * 2]!, bits: CODE[symbol * 2 + 1]! };
}

const EMIT = 1 << 16;
const FAIL = 1 << 17;
/** Per state, what ending there means: the input ended on a code boundary or inside at most
 *  seven bits of EOS's leading ones (valid padding), or it did not. */
const END_OK = 0;
const END_TOO_LONG = 1;
const END_NOT_ONES = 2;

/** Entry (state << 4 | nibble): next state in bits 0-7, the completed octet in bits 8-15,
 *  EMIT if one was completed, FAIL if EOS was. */
const STEP = new Uint32Array(256 * 16);
const ENDING = new Uint8Array(256);

function build(): void {
  // The tree as arrays: internal nodes are 0..255 (root 0); a child >= 256 is leaf (256 + symbol).
  const child = new Int32Array(256 * 2).fill(-1);
  const depth = new Uint8Array(256);
  const ones = new Uint8Array(256);
  ones[0] = 1;
  let nodes = 1;
  for (let symbol = 0; symbol <= EOS; symbol++) {
    const code = CODE[symbol * 2]!;
    const bits = CODE[symbol * 2 + 1]!;
    let node = 0;
    for (let i = bits - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) & 1;
      const slot = node * 2 + bit;
      if (i === 0) {
        if (child[slot] !== -1) throw new Error(`Huffman table: code of symbol ${symbol} collides`);
        child[slot] = 256 + symbol;
        break;
      }
      if (child[slot] === -1) {
        if (nodes === 256) throw new Error('Huffman table: more than 256 internal nodes');
        child[slot] = nodes;
        depth[nodes] = depth[node]! + 1;
        ones[nodes] = ones[node]! & bit;
        nodes++;
      }
      node = child[slot]!;
      if (node >= 256) throw new Error(`Huffman table: code of symbol ${symbol} extends another`);
    }
  }
  if (nodes !== 256 || child.includes(-1)) throw new Error('Huffman table: the code is not complete');
  for (let state = 0; state < 256; state++) {
    ENDING[state] = depth[state]! > 7 ? END_TOO_LONG : ones[state] ? END_OK : END_NOT_ONES;
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let i = 3; i >= 0; i--) {
        node = child[node * 2 + ((nibble >> i) & 1)]!;
        if (node < 256) continue;
        if (node - 256 === EOS) entry |= FAIL;
        else entry |= EMIT | ((node - 256) << 8);
        node = 0;
      }
      STEP[(state << 4) | nibble] = entry | node;
    }
  }
}
build();

let scratch = Buffer.allocUnsafe(1024);

/** The octets Huffman-coded in buf[start, end), as a latin1 string. Throws HpackError on EOS in
 *  the string or on invalid padding. */
export function huffmanDecode(buf: Buffer, start: number, end: number): string {
  // Five bits per octet at best: the output is at most 8/5 of the input.
  const most = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < most) scratch = Buffer.allocUnsafe(Math.max(most, scratch.length * 2));
  const out = scratch;
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const octet = buf[i]!;
    let step = STEP[(state << 4) | (octet >> 4)]!;
    if (step & (EMIT | FAIL)) {
      if (step & FAIL) throw new HpackError('HPACK: Huffman-coded string contains EOS');
      out[n++] = (step >> 8) & 0xff;
    }
    step = STEP[((step & 0xff) << 4) | (octet & 0xf)]!;
    if (step & (EMIT | FAIL)) {
      if (step & FAIL) throw new HpackError('HPACK: Huffman-coded string contains EOS');
      out[n++] = (step >> 8) & 0xff;
    }
    state = step & 0xff;
  }
  const ending = ENDING[state];
  if (ending === END_TOO_LONG) throw new HpackError('HPACK: Huffman padding longer than 7 bits');
  if (ending === END_NOT_ONES) throw new HpackError('HPACK: Huffman padding is not the most significant bits of EOS');
  return out.toString('latin1', 0, n);
}
