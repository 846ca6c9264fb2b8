// HTTP/1.1 framing: where a message's head ends and how long its body is, so the proxy can
// forward the bytes it received unchanged and still know where each exchange begins and ends
// (pipelining, keep-alive, an answer injected in the right place). Node's own parser (llhttp)
// is not exposed with byte positions, so this is a framing scanner, not a general parser: it
// reads what framing and matching need and refuses anything ambiguous (RFC 9112's grounds for
// request smuggling: Content-Length beside Transfer-Encoding, differing lengths, obs-fold, bare
// CR or LF, a chunked coding that is not last), as a strict llhttp does.

/** The head limit: request line or status line plus headers, terminator included. */
export const MAX_HEAD = 64 * 1024;
const MAX_CHUNK_LINE = 4096;
const MAX_TRAILERS = 64 * 1024;

const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP\/1\.([01])$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [\t\x20-\x7e\x80-\xff]*)?$/;
/** What no header line may hold: a control character other than HTAB (a CR or LF left in a
 *  line after splitting on CRLF is a bare one). */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
const IS_TOKEN = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") IS_TOKEN[c.charCodeAt(0)] = 1;

export class FramingError extends Error {
  /** What the proxy answers the client with when the fault is the client's. */
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}

export interface Head {
  method: string;
  target: string;
  status: number;
  minor: 0 | 1;
  /** [lower-case name, value], in order. */
  headers: Array<[string, string]>;
  /** Bytes from the start of the message through the blank line. */
  length: number;
  /** Collected while reading, for framing: Content-Length values, Transfer-Encoding (the
   *  fields joined) and Connection's tokens in lower case. */
  lengths: string[] | null;
  te: string | null;
  connection: string[];
}

/**
 * Reads a head starting at `from`: null when it is not complete yet; throws FramingError when
 * it cannot be one. Empty lines before a request line are skipped (RFC 9112 2.2) and counted
 * in `length`.
 */
export function readHead(buf: Buffer, from: number, kind: 'request' | 'response'): Head | null {
  let start = from;
  if (kind === 'request') while (buf[start] === 0x0d && buf[start + 1] === 0x0a) start += 2;
  const end = buf.indexOf('\r\n\r\n', start, 'latin1');
  if (end < 0) {
    if (buf.length - from > MAX_HEAD) throw new FramingError(`the head is larger than ${MAX_HEAD} bytes`, 431);
    return null;
  }
  if (end + 4 - from > MAX_HEAD) throw new FramingError(`the head is larger than ${MAX_HEAD} bytes`, 431);
  const text = buf.toString('latin1', start, end);
  const lines = text.split('\r\n');
  const first = lines[0]!;
  const head: Head = { method: '', target: '', status: 0, minor: 1, headers: [], length: end + 4 - from, lengths: null, te: null, connection: [] };
  if (kind === 'request') {
    const m = REQUEST_LINE.exec(first);
    if (m === null) throw new FramingError(`bad request line ${quote(first)}`);
    head.method = m[1]!;
    head.target = m[2]!;
    head.minor = m[3] === '0' ? 0 : 1;
  } else {
    const m = STATUS_LINE.exec(first);
    if (m === null) throw new FramingError(`bad status line ${quote(first)}`);
    head.status = Number(m[2]);
    head.minor = m[1] === '0' ? 0 : 1;
  }
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (!isToken(line, colon)) throw new FramingError(`bad header line ${quote(line)}`);
    if (CONTROL.test(line)) throw new FramingError(`a control character in header ${line.slice(0, colon)}`);
    let a = colon + 1;
    let b = line.length;
    while (a < b && (line.charCodeAt(a) === 0x20 || line.charCodeAt(a) === 0x09)) a++;
    while (b > a && (line.charCodeAt(b - 1) === 0x20 || line.charCodeAt(b - 1) === 0x09)) b--;
    const value = line.slice(a, b);
    const name = line.slice(0, colon).toLowerCase();
    head.headers.push([name, value]);
    if (name === 'content-length') (head.lengths ??= []).push(value);
    else if (name === 'transfer-encoding') head.te = head.te === null ? value : `${head.te}, ${value}`;
    else if (name === 'connection') for (const t of value.split(',')) { const token = t.trim().toLowerCase(); if (token !== '') head.connection.push(token); }
  }
  return head;
}

/** Whether `line` up to `end` is a token (a header name) of at least one character. */
function isToken(line: string, end: number): boolean {
  if (end <= 0) return false;
  for (let i = 0; i < end; i++) {
    const c = line.charCodeAt(i);
    if (c > 127 || IS_TOKEN[c] === 0) return false;
  }
  return true;
}

/** A header's fields joined with ", ", or undefined. */
export function headerOf(head: Head, name: string): string | undefined {
  let out: string | undefined;
  for (const [n, v] of head.headers) if (n === name) out = out === undefined ? v : `${out}, ${v}`;
  return out;
}

/** The comma-separated tokens of a header, lower case. */
export function tokensOf(head: Head, name: string): string[] {
  const value = headerOf(head, name);
  return value === undefined ? [] : value.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
}

export type BodyKind = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

/** The request's body framing (RFC 9112 6.3); throws FramingError when it is ambiguous. */
export function requestBody(head: Head): BodyKind {
  const length = contentLength(head);
  if (head.te !== null) {
    const te = codings(head.te);
    if (length !== undefined) throw new FramingError('both Content-Length and Transfer-Encoding');
    if (head.minor === 0) throw new FramingError('Transfer-Encoding in an HTTP/1.0 request');
    if (te.at(-1) !== 'chunked' || te.indexOf('chunked') !== te.length - 1) throw new FramingError('Transfer-Encoding without chunked last');
    return { kind: 'chunked' };
  }
  return length === undefined || length === 0 ? { kind: 'none' } : { kind: 'length', length };
}

/** The response's body framing, given the request it answers. */
export function responseBody(head: Head, method: string): BodyKind {
  if (method === 'HEAD' || head.status < 200 || head.status === 204 || head.status === 304) return { kind: 'none' };
  const length = contentLength(head);
  if (head.te !== null) {
    if (length !== undefined) throw new FramingError('both Content-Length and Transfer-Encoding', 502);
    return codings(head.te).at(-1) === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
  }
  if (length !== undefined) return length === 0 ? { kind: 'none' } : { kind: 'length', length };
  return { kind: 'close' };
}

function codings(te: string): string[] {
  return te.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
}

function contentLength(head: Head): number | undefined {
  if (head.lengths === null) return undefined;
  // The common case: one field, one number.
  if (head.lengths.length === 1 && /^\d{1,15}$/.test(head.lengths[0]!)) return Number(head.lengths[0]);
  let length: number | undefined;
  for (const value of head.lengths) {
    for (const part of value.split(',')) {
      const text = part.trim();
      if (!/^\d{1,15}$/.test(text)) throw new FramingError(`bad Content-Length ${quote(value)}`);
      const n = Number(text);
      if (length !== undefined && n !== length) throw new FramingError('differing Content-Length values');
      length = n;
    }
  }
  return length;
}

const enum Chunked { Size, Data, DataEnd, Trailer }

/**
 * Walks one body as bytes arrive: `scan` says how many bytes of `buf` from `from` belong to
 * it and whether it has ended. Close-delimited bodies never end here: their end is the
 * connection's.
 */
export class BodyScanner {
  /** Payload bytes seen (chunk data for chunked bodies). */
  payload = 0;
  private remaining: number;
  private state = Chunked.Size;
  private line = '';
  private trailerBytes = 0;

  constructor(readonly body: BodyKind) {
    this.remaining = body.kind === 'length' ? body.length : 0;
  }

  get done(): boolean {
    return this.body.kind === 'none' || (this.body.kind === 'length' && this.remaining === 0);
  }

  scan(buf: Buffer, from: number): { used: number; done: boolean } {
    const available = buf.length - from;
    switch (this.body.kind) {
      case 'none': return { used: 0, done: true };
      case 'close':
        this.payload += available;
        return { used: available, done: false };
      case 'length': {
        const used = Math.min(available, this.remaining);
        this.remaining -= used;
        this.payload += used;
        return { used, done: this.remaining === 0 };
      }
      case 'chunked': return this.chunked(buf, from);
    }
  }

  private chunked(buf: Buffer, from: number): { used: number; done: boolean } {
    let i = from;
    while (i < buf.length) {
      if (this.state === Chunked.Data) {
        const take = Math.min(this.remaining, buf.length - i);
        i += take;
        this.remaining -= take;
        this.payload += take;
        if (this.remaining === 0) this.state = Chunked.DataEnd;
        continue;
      }
      const nl = buf.indexOf(0x0a, i);
      const piece = buf.toString('latin1', i, nl < 0 ? buf.length : nl + 1);
      i += piece.length;
      this.line += piece;
      if (this.state === Chunked.Trailer) this.trailerBytes += piece.length;
      if (nl < 0) {
        if (this.line.length > MAX_CHUNK_LINE || this.trailerBytes > MAX_TRAILERS) throw new FramingError('a chunk-size line or trailer too long');
        continue;
      }
      const line = this.line;
      this.line = '';
      if (!line.endsWith('\r\n') || line.indexOf('\r') !== line.length - 2) throw new FramingError('a bare LF or CR in the chunked framing');
      const text = line.slice(0, -2);
      if (this.state === Chunked.DataEnd) {
        if (text !== '') throw new FramingError('chunk data longer than its size');
        this.state = Chunked.Size;
      } else if (this.state === Chunked.Size) {
        const m = /^([0-9a-fA-F]{1,12})(?:[ \t]*;[\t\x20-\x7e\x80-\xff]*)?$/.exec(text);
        if (m === null) throw new FramingError(`bad chunk size line ${quote(text)}`);
        this.remaining = parseInt(m[1]!, 16);
        this.state = this.remaining === 0 ? Chunked.Trailer : Chunked.Data;
      } else if (text === '') {
        return { used: i - from, done: true };
      } else if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/.test(text)) {
        throw new FramingError(`bad trailer line ${quote(text)}`);
      }
    }
    return { used: i - from, done: false };
  }
}

function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
