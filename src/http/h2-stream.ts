// One HTTP/2 stream through the proxy: the client's stream is forwarded as a stream on the
// upstream session with the same headers (as received, in order), body and trailers, and the
// response comes back the same way. Request toxics act on the stream alone: a delay holds
// only it, an abort answers only it (gRPC: a trailers-only answer with grpc-status), and a
// reset is an RST_STREAM that leaves the connection's other streams untouched.

import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { ExchangeDecision, ResetCode } from '../toxic.js';
import type { ToxicConfig } from '../core/toxic-config.js';
import type { HttpConnection } from './connection.js';
import type { Exchange } from './exchange.js';
import { h2Abort } from './responses.js';

const C = http2.constants;
const CODES: Record<ResetCode, number> = { INTERNAL_ERROR: C.NGHTTP2_INTERNAL_ERROR, CANCEL: C.NGHTTP2_CANCEL, REFUSED_STREAM: C.NGHTTP2_REFUSED_STREAM };
// Node adds a date header to every respond() unless told not to; the server's answer is
// passed on as it came.
const RESPOND = { sendDate: false } as Record<string, unknown>;

export interface StreamHost {
  readonly conn: HttpConnection;
  readonly destroyed: boolean;
  upstreamSession(): Promise<ClientHttp2Session>;
  /** Runs `fn` after `ms`, unless the session goes first. */
  after(ms: number, fn: () => void): void;
}

type End = { config: ToxicConfig; decision: ExchangeDecision & object } | null;
type Abort = Extract<ExchangeDecision, { action: 'abort' }>;

/** Raw header pairs as an object in the order they came; repeated names become arrays. */
function headersOf(raw: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const had = out[name];
    out[name] = had === undefined ? raw[i + 1]! : Array.isArray(had) ? [...had, raw[i + 1]!] : [had, raw[i + 1]!];
  }
  return out;
}

/** A body from one stream to the other, counted, with back-pressure: what pipe() does, with
 *  less machinery per stream. */
function forward(from: ClientHttp2Stream | ServerHttp2Stream, to: ClientHttp2Stream | ServerHttp2Stream, count: (n: number) => void): void {
  from.on('data', (data: Buffer) => {
    count(data.length);
    if (!to.write(data)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.once('end', () => to.end());
}

export class H2Exchange {
  private ustream: ClientHttp2Stream | null = null;
  private status = 0;
  private grpcStatus: number | undefined;
  private requestBytes = 0;
  private responseBytes = 0;
  private requestTrailers: IncomingHttpHeaders | undefined;
  private responseTrailers: IncomingHttpHeaders | undefined;
  /** The upstream's answer is read and discarded; the abort's replaces it. */
  private replacing = false;

  constructor(
    private readonly host: StreamHost,
    private readonly cstream: ServerHttp2Stream,
    private readonly ex: Exchange,
    private readonly grpcType: string | null,
    private readonly endStream: boolean,
    private readonly raw: readonly string[],
  ) {
    cstream.on('error', () => {});
    cstream.on('close', () => this.closed());
    const decided = ex.hasToxics ? ex.decide('request') : null;
    if (decided === null || decided.delay === 0) {
      this.begin(decided?.end ?? null);
      return;
    }
    ex.reportDelays(decided.delays);
    host.after(decided.delay, () => this.begin(decided.end));
  }

  private get gone(): boolean {
    return this.cstream.closed || this.cstream.destroyed || this.host.destroyed;
  }

  private begin(end: End): void {
    if (this.gone) return;
    if (end?.decision.action === 'reset') {
      this.ex.report(end.config, 'reset', { code: end.decision.code });
      this.cstream.close(CODES[end.decision.code]);
      return;
    }
    if (end?.decision.action === 'abort') {
      this.reportAbort(end.config, end.decision, {});
      this.cstream.resume();
      this.answer(end.decision, end.config.name);
      return;
    }
    void this.forward();
  }

  private async forward(): Promise<void> {
    let session: ClientHttp2Session;
    try {
      session = await this.host.upstreamSession();
    } catch {
      if (!this.gone) this.cstream.close(C.NGHTTP2_REFUSED_STREAM);
      return;
    }
    if (this.gone) return;
    const cstream = this.cstream;
    let ustream: ClientHttp2Stream;
    try {
      ustream = session.request(headersOf(this.raw), { endStream: this.endStream, waitForTrailers: !this.endStream });
    } catch {
      cstream.close(C.NGHTTP2_REFUSED_STREAM);
      return;
    }
    this.ustream = ustream;
    ustream.on('error', () => {});
    ustream.on('headers', (headers) => {
      if (!cstream.headersSent && !cstream.closed && !this.replacing) cstream.additionalHeaders(headers);
    });
    ustream.on('response', (headers, flags) => this.onResponse(headers, (flags & C.NGHTTP2_FLAG_END_STREAM) !== 0));
    ustream.on('trailers', (trailers) => { this.responseTrailers = trailers; });
    ustream.on('close', () => this.upstreamClosed());
    if (this.endStream) return;
    cstream.on('trailers', (trailers) => { this.requestTrailers = trailers; });
    ustream.on('wantTrailers', () => ustream.sendTrailers(this.requestTrailers ?? {}));
    forward(cstream, ustream, (n) => { this.requestBytes += n; });
  }

  private onResponse(headers: IncomingHttpHeaders, endStream: boolean): void {
    const decided = this.ex.hasToxics ? this.ex.decide('response') : null;
    if (decided === null || decided.delay === 0) return this.respond(headers, endStream, decided?.end ?? null);
    this.ex.reportDelays(decided.delays);
    this.host.after(decided.delay, () => this.respond(headers, endStream, decided.end));
  }

  private respond(headers: IncomingHttpHeaders, endStream: boolean, end: End): void {
    const ustream = this.ustream!;
    if (this.gone) return;
    const serverStatus = Number(headers[':status']);
    if (end?.decision.action === 'reset') {
      this.ex.report(end.config, 'reset', { code: end.decision.code, server_status: serverStatus });
      this.cstream.close(CODES[end.decision.code]);
      ustream.close(C.NGHTTP2_CANCEL);
      return;
    }
    if (end?.decision.action === 'abort') {
      const abort = end.decision;
      this.reportAbort(end.config, abort, { server_status: serverStatus });
      this.replacing = true;
      ustream.resume();
      if (ustream.closed) this.answer(abort, end.config.name);
      else ustream.once('close', () => this.answer(abort, end.config.name));
      return;
    }
    this.status = serverStatus;
    this.noteGrpc(headers);
    const cstream = this.cstream;
    cstream.respond(headers, { endStream, waitForTrailers: !endStream, ...RESPOND });
    if (endStream) return;
    cstream.on('wantTrailers', () => {
      if (this.responseTrailers !== undefined) this.noteGrpc(this.responseTrailers);
      if (!cstream.closed) cstream.sendTrailers(this.responseTrailers ?? {});
    });
    forward(ustream, cstream, (n) => { this.responseBytes += n; });
  }

  /** Sends the abort's answer, unless the client's stream has gone. */
  private answer(abort: Abort, toxic: string): void {
    if (this.gone || this.cstream.headersSent) return;
    const { headers, body } = h2Abort({ ...abort, toxic }, this.grpcType);
    this.status = this.grpcType === null ? abort.status : 200;
    if (this.grpcType !== null) this.grpcStatus = abort.grpcStatus;
    this.cstream.respond(headers, { endStream: body === null, ...RESPOND });
    if (body !== null) {
      this.responseBytes = body.length;
      this.cstream.end(body);
    }
  }

  private reportAbort(config: ToxicConfig, abort: Abort, extra: Record<string, number>): void {
    this.ex.report(config, 'aborted', { ...(this.grpcType === null ? { status: abort.status } : { grpc_status: abort.grpcStatus }), ...extra });
  }

  private noteGrpc(headers: IncomingHttpHeaders): void {
    const value = headers['grpc-status'];
    if (typeof value === 'string' && /^\d+$/.test(value)) this.grpcStatus = Number(value);
  }

  /** The upstream's stream ended: a reset passes on as a reset; a stream that ended with no
   *  answer is refused, so the client knows the server never answered. */
  private upstreamClosed(): void {
    if (this.replacing || this.gone) return;
    const code = this.ustream!.rstCode ?? C.NGHTTP2_NO_ERROR;
    if (!this.cstream.headersSent) this.cstream.close(code !== C.NGHTTP2_NO_ERROR ? code : C.NGHTTP2_INTERNAL_ERROR);
    else if (code !== C.NGHTTP2_NO_ERROR) this.cstream.close(code);
  }

  private closed(): void {
    const ustream = this.ustream;
    if (ustream !== null && !ustream.closed && !ustream.destroyed) ustream.close(C.NGHTTP2_CANCEL);
    this.host.conn.record({
      method: this.ex.info.method, path: this.ex.info.path, status: this.cstream.headersSent ? this.status : 0,
      ms: performance.now() - this.ex.started, requestBytes: this.requestBytes, responseBytes: this.responseBytes,
      ...(this.grpcStatus !== undefined ? { grpcStatus: this.grpcStatus } : {}),
    });
  }
}
