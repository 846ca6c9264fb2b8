// HPACK's static table (RFC 7541 Appendix A), and the header field type the codec trades in.

/** A header field. Name and value are latin1 strings, one character per octet, so any octet
 *  the peer sent survives decoding and re-encoding. `sensitive` means the field came as
 *  "never indexed", which an intermediary must keep when it re-encodes it (RFC 7541 6.2.3).
 *  The decoder hands out shared objects (the static table's, and a dynamic entry's on every
 *  reference to it): a Field must never be mutated. */
export interface Field {
  name: string;
  value: string;
  sensitive: boolean;
}

const ENTRIES: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'],
  [':path', '/index.html'], [':scheme', 'http'], [':scheme', 'https'], [':status', '200'],
  [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'],
  [':status', '404'], [':status', '500'], ['accept-charset', ''], ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''], ['accept-ranges', ''], ['accept', ''], ['access-control-allow-origin', ''],
  ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''],
  ['date', ''], ['etag', ''], ['expect', ''], ['expires', ''],
  ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''],
  ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''],
  ['retry-after', ''], ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''],
  ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

export const STATIC_COUNT = ENTRIES.length;

/** STATIC[i] is entry i (1-based, as HPACK numbers them); STATIC[0] is unused. Built once, so
 *  an indexed reference to the static table allocates nothing. */
export const STATIC: readonly Field[] = [
  { name: '', value: '', sensitive: false },
  ...ENTRIES.map(([name, value]) => ({ name, value, sensitive: false })),
];

/** The first static index with this name, for literals whose name need not be spelled out. */
export const STATIC_NAME_INDEX: ReadonlyMap<string, number> = (() => {
  const index = new Map<string, number>();
  ENTRIES.forEach(([name], i) => { if (!index.has(name)) index.set(name, i + 1); });
  return index;
})();
