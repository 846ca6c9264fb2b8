// HPACK (RFC 7541): the Huffman code, the decoder against the RFC's Appendix C examples and
// against malformed input, encodeLiterals, and both directions of real node:http2 traffic
// (nghttp2 encodes what the decoder reads, and decodes what encodeLiterals writes). This file
// is past 300 lines because each of those needs its own fixtures; the capture plumbing lives
// in test/_helpers/h2-capture.ts.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http2 from 'node:http2';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { EOS, huffmanCode, huffmanDecode } from '../src/http/hpack-huffman.js';
import { encodeLiterals, HpackDecoder, HpackError, type Field } from '../src/http/hpack.js';
import { captureClientBlocks, rawExchange } from './_helpers/h2-capture.js';
import { FLAG, type HeaderBlock } from './_helpers/h2-frames.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const pairs = (fields: Field[]) => fields.map((f) => [f.name, f.value]);
const sorted = (list: string[][]) => [...list].sort((a, b) => (a.join('\0') < b.join('\0') ? -1 : 1));

/** Huffman-codes octets with the table under test, padding with EOS's leading ones. */
function huffmanEncode(octets: Buffer): Buffer {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  const put = (code: number, length: number) => {
    for (let i = length - 1; i >= 0; i--) {
      acc = (acc << 1) | (Math.floor(code / 2 ** i) & 1);
      if (++bits === 8) { out.push(acc); acc = 0; bits = 0; }
    }
  };
  for (const o of octets) { const { code, bits: n } = huffmanCode(o); put(code, n); }
  if (bits > 0) put(0xff >> bits, 8 - bits);
  return Buffer.from(out);
}

/** The dynamic table, newest first, read by indexed references until one is out of range. */
function tableAfter(blocks: Buffer[], maxTableSize = 4096): string[][] {
  const d = new HpackDecoder(maxTableSize);
  for (const b of blocks) d.decode(b);
  const entries: string[][] = [];
  for (let index = 62; index < 127; index++) {
    try {
      entries.push(pairs(d.decode(Buffer.from([0x80 | index])))[0]!);
    } catch (err) {
      assert.match((err as Error).message, `index ${index} is past`);
      return entries;
    }
  }
  throw new Error('table longer than the probe');
}

const throwsHpack = (fn: () => unknown, message: RegExp) => assert.throws(fn, (e: unknown) => e instanceof HpackError && message.test(e.message));

test('the Huffman code is canonical and complete, and every octet survives a round trip', () => {
  // Appendix B's code is canonical: ordered by (length, symbol), each code is the previous
  // plus one, shifted left by the growth in length. A mistyped code breaks the chain.
  const symbols = Array.from({ length: EOS + 1 }, (_, s) => s);
  symbols.sort((a, b) => huffmanCode(a).bits - huffmanCode(b).bits || a - b);
  let expected = 0;
  symbols.forEach((s, i) => {
    const { code, bits } = huffmanCode(s);
    if (i > 0) expected = (expected + 1) * 2 ** (bits - huffmanCode(symbols[i - 1]!).bits);
    assert.is(code, expected, `symbol ${s}`);
  });
  assert.is(expected, 2 ** 30 - 1); // EOS, last and all ones: the code is complete
  assert.is(huffmanCode(EOS).bits, 30);
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  assert.equal(Buffer.from(huffmanDecode(huffmanEncode(all), 0, huffmanEncode(all).length), 'latin1'), all);
  assert.is(huffmanDecode(Buffer.alloc(0), 0, 0), '');
  // RFC 7541 C.4.1 and C.6.1 strings, decoded from inside a larger buffer.
  const buf = hex('00 f1e3 c2e5 f23a 6ba0 ab90 f4ff 00');
  assert.is(huffmanDecode(buf, 1, 13), 'www.example.com');
  assert.is(huffmanDecode(hex('d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff'), 0, 22), 'Mon, 21 Oct 2013 20:13:21 GMT');
});

test('the Huffman decoder rejects EOS and bad padding', () => {
  throwsHpack(() => huffmanDecode(hex('ffffffff'), 0, 4), /contains EOS/);
  throwsHpack(() => huffmanDecode(hex('1fff'), 0, 2), /longer than 7 bits/); // 'a' then 11 ones
  throwsHpack(() => huffmanDecode(hex('18'), 0, 1), /not the most significant bits of EOS/); // 'a' then 000
  throwsHpack(() => huffmanDecode(hex('ff'), 0, 1), /longer than 7 bits/);
  assert.is(huffmanDecode(hex('1f'), 0, 1), 'a');
});

test('RFC 7541 C.2: literal with and without indexing, never indexed, indexed', () => {
  const withIndexing = hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572');
  assert.equal(pairs(new HpackDecoder().decode(withIndexing)), [['custom-key', 'custom-header']]);
  assert.equal(tableAfter([withIndexing]), [['custom-key', 'custom-header']]);
  const without = hex('040c 2f73 616d 706c 652f 7061 7468');
  assert.equal(new HpackDecoder().decode(without), [{ name: ':path', value: '/sample/path', sensitive: false }]);
  assert.equal(tableAfter([without]), []);
  const never = hex('1008 7061 7373 776f 7264 0673 6563 7265 74');
  assert.equal(new HpackDecoder().decode(never), [{ name: 'password', value: 'secret', sensitive: true }]);
  assert.equal(tableAfter([never]), []);
  assert.equal(new HpackDecoder().decode(hex('82')), [{ name: ':method', value: 'GET', sensitive: false }]);
});

const REQUEST_1 = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
const REQUEST_2 = [...REQUEST_1, ['cache-control', 'no-cache']];
const REQUEST_3 = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']];
const REQUEST_TABLES = [
  [[':authority', 'www.example.com']],
  [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
  [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
];

for (const [section, blocks] of [
  ['C.3 (raw strings)', ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', '8286 84be 5808 6e6f 2d63 6163 6865',
    '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65']],
  ['C.4 (Huffman)', ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', '8286 84be 5886 a8eb 1064 9cbf',
    '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf']],
] as const) {
  test(`RFC 7541 ${section}: three requests on one connection, the dynamic table growing`, () => {
    const d = new HpackDecoder();
    const wire = blocks.map(hex);
    assert.equal(pairs(d.decode(wire[0]!)), REQUEST_1);
    assert.equal(pairs(d.decode(wire[1]!)), REQUEST_2);
    assert.equal(pairs(d.decode(wire[2]!)), REQUEST_3);
    wire.forEach((_, i) => assert.equal(tableAfter(wire.slice(0, i + 1)), REQUEST_TABLES[i]));
  });
}

const DATE_1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE_2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const LOCATION = 'https://www.example.com';
const RESPONSES = [
  [[':status', '302'], ['cache-control', 'private'], ['date', DATE_1], ['location', LOCATION]],
  [[':status', '307'], ['cache-control', 'private'], ['date', DATE_1], ['location', LOCATION]],
  [[':status', '200'], ['cache-control', 'private'], ['date', DATE_2], ['location', LOCATION], ['content-encoding', 'gzip'], ['set-cookie', COOKIE]],
];
const RESPONSE_TABLES = [
  [['location', LOCATION], ['date', DATE_1], ['cache-control', 'private'], [':status', '302']],
  [[':status', '307'], ['location', LOCATION], ['date', DATE_1], ['cache-control', 'private']],
  [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE_2]],
];

for (const [section, blocks] of [
  ['C.5 (raw strings)', [
    '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '4803 3330 37c1 c0bf',
    '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31']],
  ['C.6 (Huffman)', [
    '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
    '4883 640e ffc1 c0bf',
    '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07']],
] as const) {
  test(`RFC 7541 ${section}: three responses with a 256-octet table, evicting as it fills`, () => {
    const d = new HpackDecoder(256);
    const wire = blocks.map(hex);
    wire.forEach((block, i) => assert.equal(pairs(d.decode(block)), RESPONSES[i]));
    wire.forEach((_, i) => assert.equal(tableAfter(wire.slice(0, i + 1), 256), RESPONSE_TABLES[i]));
  });
}

test('malformed blocks throw HpackError, and the decoder refuses blocks after one', () => {
  const fresh = () => new HpackDecoder();
  throwsHpack(() => fresh().decode(hex('80')), /index 0/);
  throwsHpack(() => fresh().decode(hex('be')), /index 62 is past the 61 static and 0 dynamic entries/);
  throwsHpack(() => fresh().decode(hex('7f00')), /index 63 is past/); // a literal's name index
  throwsHpack(() => fresh().decode(hex('ff')), /integer runs past the end/);
  throwsHpack(() => fresh().decode(hex('ff80')), /integer runs past the end/);
  throwsHpack(() => fresh().decode(hex('ff ffffffff7f')), /integer overflow/);
  throwsHpack(() => fresh().decode(hex('ff 8080808080 00')), /integer overflow/);
  throwsHpack(() => fresh().decode(hex('00')), /block ends where a string was due/);
  throwsHpack(() => fresh().decode(hex('0185 41')), /string of 5 octets runs past the end/);
  throwsHpack(() => fresh().decode(hex('0181 18')), /padding is not/);
  throwsHpack(() => fresh().decode(hex('0182 1fff')), /longer than 7 bits/);
  throwsHpack(() => fresh().decode(hex('0184 ffffffff')), /contains EOS/);
  throwsHpack(() => fresh().decode(hex('3fe21f')), /size update to 4097 exceeds the advertised 4096/);
  throwsHpack(() => fresh().decode(hex('8220')), /size update after the first field/);
  // 1337 with a 5-bit prefix is RFC 7541 C.1.2's example.
  throwsHpack(() => new HpackDecoder(1336).decode(hex('3f9a0a')), /update to 1337 exceeds the advertised 1336/);
  assert.equal(new HpackDecoder(1337).decode(hex('3f9a0a 20 82')).length, 1);
  const d = fresh();
  assert.throws(() => d.decode(hex('80')));
  throwsHpack(() => d.decode(hex('82')), /unusable after an earlier error \(HPACK: index 0\)/);
});

test('the header list limit stops a small block that repeats a large entry', () => {
  // Literal with incremental indexing: name "x", a raw value of 4000 octets (127 + 33 + 30 * 128).
  const entry = Buffer.concat([hex('400178 7fa11e'), Buffer.alloc(4000, 'v')]);
  assert.equal(new HpackDecoder().decode(entry)[0]!.value.length, 4000);
  const repeats = (n: number) => Buffer.concat([entry, Buffer.alloc(n, 0xbe)]);
  assert.is(new HpackDecoder().decode(repeats(60)).length, 61);
  throwsHpack(() => new HpackDecoder().decode(repeats(70)), /header list exceeds 262144 octets/);
  throwsHpack(() => new HpackDecoder(4096, { maxListSize: 10_000 }).decode(repeats(2)), /exceeds 10000/);
});

test('a lowered table limit evicts at once and requires a size update at the next block', () => {
  const withEntry = hex('400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'); // 54 octets
  let d = new HpackDecoder();
  d.decode(withEntry);
  d.setMaxTableSize(40);
  throwsHpack(() => d.decode(hex('82')), /size update was due after the limit was lowered to 40/);
  d = new HpackDecoder();
  d.decode(withEntry);
  d.setMaxTableSize(0);
  d.setMaxTableSize(4096);
  throwsHpack(() => d.decode(hex('3fe11f 82')), /update to 4096, but the table limit was lowered to 0/);
  d = new HpackDecoder();
  d.decode(withEntry);
  d.setMaxTableSize(100);
  assert.equal(pairs(d.decode(hex('3f45 be'))), [['custom-key', 'custom-value']]); // update to 100
  throwsHpack(() => d.decode(hex('3f46')), /update to 101 exceeds the advertised 100/);
  assert.equal(tableAfter([withEntry, hex('20')]), []);
  assert.equal(tableAfter([withEntry, hex('20 3fe11f'), withEntry]), [['custom-key', 'custom-value']]);
});

const LATIN1 = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
const ROUND_TRIP: Field[] = [
  { name: ':method', value: 'POST', sensitive: false },
  { name: ':path', value: '/a?b=c', sensitive: false },
  { name: 'www-authenticate', value: 'Basic', sensitive: false }, // static index 61: a 4-bit prefix overflows
  { name: 'authorization', value: 'Bearer t0ken', sensitive: true },
  { name: 'x-secret', value: 's3cret', sensitive: true },
  { name: 'x-octets', value: LATIN1, sensitive: false },
  { name: 'x-empty', value: '', sensitive: false },
  { name: 'x-long-' + 'n'.repeat(200), value: 'v'.repeat(70_000), sensitive: false },
];

test('encodeLiterals: static names by index, raw strings, never indexed kept, tables untouched', () => {
  assert.equal([...encodeLiterals([{ name: ':method', value: 'GET', sensitive: false }], false)], [0x02, 0x03, 0x47, 0x45, 0x54]);
  assert.equal([...encodeLiterals([{ name: 'x', value: 'y', sensitive: true }], true)], [0x20, 0x10, 0x01, 0x78, 0x01, 0x79]);
  assert.equal([...encodeLiterals([{ name: 'via', value: '', sensitive: false }], false)], [0x0f, 0x2d, 0x00]);
  for (const sizeUpdateZero of [false, true]) {
    const block = encodeLiterals(ROUND_TRIP, sizeUpdateZero);
    assert.equal(new HpackDecoder().decode(block), ROUND_TRIP);
    assert.equal(tableAfter([block]), []);
  }
  assert.throws(() => encodeLiterals([{ name: 'x', value: 'caf\u0113', sensitive: false }], false), /above U\+00FF/);
});

/** Printable ASCII, each character once, in lowercase text: Huffman is shorter overall, so
 *  nghttp2 uses it, and the long codes of the rare characters get exercised. */
const PRINTABLE = Array.from({ length: 95 }, (_, i) => 'abcdefghij'[i % 10] + String.fromCharCode(32 + i)).join('') + 'zz';

function requestHeaders(i: number): http2.OutgoingHttpHeaders {
  const headers: http2.OutgoingHttpHeaders = {
    ':method': ['GET', 'POST', 'DELETE'][i % 3],
    ':path': `/api/items/${i}?page=${i % 4}`,
    'user-agent': 'faultline-hpack-test/1.0',
    accept: 'application/json',
    'accept-language': 'en-GB,en;q=0.9',
    'x-request-id': `${i}`.padStart(4, '0') + 'deadbeefcafe'.repeat(5),
    'x-unique': `request number ${i} `.repeat(8),
    'x-printable': PRINTABLE,
    'x-latin1': `caf\u00e9 na\u00efve \u00fcber \u00ff${'and then some ordinary lowercase text '.repeat(4)}`,
    'x-secret': `secret-${i % 2}`,
    [http2.sensitiveHeaders]: ['x-secret'],
  };
  if (i % 7 === 3) headers['x-big'] = 'lorem ipsum dolor sit amet '.repeat(1000);
  return headers;
}

test('real traffic: node:http2 client header blocks decode in order to exactly what was sent', async () => {
  const COUNT = 30;
  let authority = '';
  const blocks = await captureClientBlocks(COUNT, (session, a) => {
    authority = a;
    for (let i = 0; i < COUNT; i++) session.request(requestHeaders(i), i % 5 === 1 ? { weight: 42 } : {}).on('error', () => {});
  }, { paddingStrategy: http2.constants.PADDING_STRATEGY_MAX });
  const d = new HpackDecoder();
  for (const { stream, block } of blocks) {
    const i = (stream - 1) / 2;
    const sent = requestHeaders(i);
    const fields = d.decode(block);
    const expected = [...Object.entries(sent).map(([k, v]) => [k, String(v)]), [':scheme', 'http'], [':authority', authority]];
    assert.equal(sorted(pairs(fields)), sorted(expected), `request ${i}`);
    assert.ok(fields.find((f) => f.name === 'x-secret')!.sensitive, `request ${i}: x-secret never indexed`);
    assert.not.ok(fields.find((f) => f.name === 'x-printable')!.sensitive);
  }
  // The capture covered what the decoder must handle: Huffman strings, the dynamic table,
  // CONTINUATION, and PADDED and PRIORITY on HEADERS.
  assert.not.ok(blocks[0]!.block.includes(PRINTABLE), 'x-printable went raw, not Huffman-coded');
  const last = blocks.at(-1)!;
  const raw = Object.entries(requestHeaders(COUNT - 1)).reduce((n, [k, v]) => n + k.length + String(v).length, 0);
  assert.ok(last.block.length < raw / 3, `the last block is ${last.block.length} octets for ${raw}: the dynamic table went unused`);
  assert.ok(blocks.some((b) => b.frames > 1), 'no block needed CONTINUATION');
  assert.ok(blocks.some((b) => b.flags & FLAG.PADDED) && blocks.some((b) => b.flags & FLAG.PRIORITY), 'no PADDED or PRIORITY flag');
});

test('real traffic: a node:http2 server accepts encodeLiterals blocks and its responses decode', async () => {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    stream.respond({
      ':status': Number(headers['x-status']),
      'x-served-by': 'faultline-hpack-upstream',
      'x-echo-path': headers[':path'],
      'x-echo-latin1': headers['x-latin1'],
      'x-echo-sensitive': ((headers as Record<symbol, string[] | undefined>)[http2.sensitiveHeaders] ?? []).join(','),
      'x-long': 'a response header long enough that nghttp2 Huffman-codes it',
    }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(Number(headers['x-status']) % 7), 'grpc-message': 'done' }));
    stream.end('body');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const statuses = [200, 404, 503, 200, 201];
  const requests = statuses.map((status, i) => encodeLiterals([
    { name: ':method', value: 'GET', sensitive: false },
    { name: ':scheme', value: 'http', sensitive: false },
    { name: ':authority', value: `127.0.0.1:${port}`, sensitive: false },
    { name: ':path', value: `/r/${i}`, sensitive: false },
    { name: 'x-status', value: String(status), sensitive: false },
    { name: 'x-latin1', value: 'd\u00e9j\u00e0 vu \u00ff', sensitive: false },
    { name: 'authorization', value: 'Bearer abc', sensitive: true },
  ], i % 2 === 0));
  try {
    const { blocks, frameTypes } = await rawExchange(port, requests);
    assert.not.ok(frameTypes.includes(0x7), 'the server sent GOAWAY');
    const d = new HpackDecoder();
    const byStream = new Map<number, HeaderBlock[]>();
    const decoded = new Map<HeaderBlock, Field[]>();
    for (const b of blocks) {
      decoded.set(b, d.decode(b.block));
      byStream.set(b.stream, [...(byStream.get(b.stream) ?? []), b]);
    }
    statuses.forEach((status, i) => {
      const [response, trailers] = (byStream.get(1 + 2 * i) ?? []).map((b) => decoded.get(b)!);
      const get = (name: string) => response?.find((f) => f.name === name)?.value;
      assert.is(get(':status'), String(status));
      assert.is(get('x-served-by'), 'faultline-hpack-upstream');
      assert.is(get('x-echo-path'), `/r/${i}`);
      assert.is(get('x-echo-latin1'), 'd\u00e9j\u00e0 vu \u00ff');
      assert.is(get('x-echo-sensitive'), 'authorization');
      assert.is(get('x-long'), 'a response header long enough that nghttp2 Huffman-codes it');
      assert.ok(get('date'));
      assert.equal(pairs(trailers ?? []), [['grpc-status', String(status % 7)], ['grpc-message', 'done']]);
    });
    const [first, last] = [1, 2 * statuses.length - 1].map((s) => byStream.get(s)![0]!.block.length);
    assert.ok(last! < first! / 3, `response blocks of ${first} then ${last} octets: the server did not use its dynamic table`);
  } finally {
    server.close();
  }
});

test('micro-benchmark: decoding a captured typical request sequence (printed, not asserted)', async () => {
  const COUNT = 10;
  const blocks = await captureClientBlocks(COUNT, (session) => {
    for (let i = 0; i < COUNT; i++) {
      session.request({
        ':method': 'GET', ':path': `/api/v1/orders/${1000 + i}?include=items`, 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) bench/1.0',
        accept: 'application/json', 'accept-encoding': 'gzip, deflate, br', 'accept-language': 'en-US,en;q=0.9',
        authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.bench', 'x-request-id': `${i}-7f3a9c2e4b1d`,
      }).on('error', () => {});
    }
  });
  const wire = blocks.map((b) => b.block);
  const sequence = new HpackDecoder();
  const fields = wire.map((b) => sequence.decode(b).length).at(-1);
  const time = (passes: number, slice: Buffer[]) => {
    const start = performance.now();
    for (let p = 0; p < passes; p++) {
      const d = new HpackDecoder();
      for (const b of slice) d.decode(b);
    }
    return ((performance.now() - start) * 1000) / (passes * slice.length);
  };
  time(2000, wire);
  const perBlock = Math.min(time(5000, wire), time(5000, wire));
  const first = Math.min(time(20000, wire.slice(0, 1)), time(20000, wire.slice(0, 1)));
  const rest = (perBlock * COUNT - first) / (COUNT - 1);
  console.log(`  hpack decode: ${perBlock.toFixed(2)} us/block over ${COUNT} captured request blocks of ${fields} fields ` +
    `(first block, all literals, ${wire[0]!.length} octets: ${first.toFixed(2)} us; later blocks, ${wire[COUNT - 1]!.length} octets: ~${rest.toFixed(2)} us)`);
});

test.run();
