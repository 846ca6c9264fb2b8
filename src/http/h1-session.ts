// An HTTP/1.1 client connection: requests parsed from the client's bytes (after the upstream
// chain of TCP toxics), each matched against the request toxics and then forwarded as the
// bytes that arrived, answered by the proxy, delayed or reset; responses come back through
// h1-responses.ts. Keep-alive and pipelining are preserved: requests go upstream in order on
// one connection while earlier responses are still coming, and answers go back in order.

import { Exchange, pathOf } from './exchange.js';
import { BodyScanner, FramingError, headerOf, readHead, requestBody, type BodyKind, type Head } from './h1-parse.js';
import { elapsed, IDLE, MORE, OutputQueue, Pump, type H1Exchange, type Step } from './h1-output.js';
import { H1Responses, type ResponseHost } from './h1-responses.js';
import { H1Upstream } from './h1-upstream.js';
import { isH2cUpgrade, MAX_UPGRADE_BODY } from './h2c.js';
import { h1Abort, h1Response } from './responses.js';
import type { HttpConnection, ProtocolSession } from './connection.js';

const EMPTY: Buffer = Buffer.alloc(0);

/** Called for a request asking to upgrade to h2c (its bytes: head, then body); it takes the
 *  connection over. */
export type H2cStart = (head: Head, bytes: Buffer, body: Buffer) => void;

export class H1Session implements ProtocolSession, ResponseHost {
  readonly output: OutputQueue;
  readonly forwarded: H1Exchange[] = [];
  ended = false;
  private buf: Buffer = EMPTY;
  private state: 'head' | 'body' | 'wait-upgrade' | 'tunnel' | 'stopped' = 'head';
  private body: BodyScanner | null = null;
  private current: H1Exchange | null = null;
  private bodyToUpstream = false;
  private count = 0;
  private clientDone = false;
  private finEnded = false;
  private readonly responses = new H1Responses(this);
  private readonly upstream: H1Upstream;
  private readonly pump = new Pump(() => this.step(), (err) => this.fail(err));
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(readonly conn: HttpConnection, private readonly h2c: H2cStart | null) {
    this.output = new OutputQueue((data) => this.toClient(data), (hx) => this.answered(hx));
    this.upstream = new H1Upstream(conn, (data) => this.responses.fromUpstream(data), () => this.responses.upstreamEnded());
  }

  // ---- ProtocolSession ----

  fromClient(data: Buffer): void | Promise<void> {
    if (this.state === 'stopped' || this.ended) return;
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    return this.pump.run();
  }

  clientEnded(): void {
    this.clientDone = true;
    void this.pump.run();
  }

  destroy(): void {
    this.ended = true;
    this.state = 'stopped';
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  // ---- ResponseHost ----

  toClient(data: Buffer): void | Promise<void> {
    if (this.ended) return;
    return this.conn.toClient(data);
  }

  tunnel(hx: H1Exchange): void {
    this.record(hx);
    this.output.items.length = 0;
    this.state = 'tunnel';
    void this.pump.run();
  }

  resumeRequests(): void {
    if (this.state !== 'wait-upgrade') return;
    this.state = 'head';
    queueMicrotask(() => void this.pump.run());
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.timers.delete(timer); resolve(); }, ms);
      this.timers.add(timer);
    });
  }

  endClient(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.state = 'stopped';
    this.conn.endClient(reason);
  }

  fail(err: unknown): void {
    if (this.conn.closing) return;
    this.conn.warn(`${this.conn.name}: HTTP/1.1 session failed`, { conn: this.conn.id, error: err instanceof Error ? err.message : String(err) });
    this.conn.destroy('session failed');
  }

  // ---- requests ----

  private step(): Step {
    if (this.ended || this.conn.closing) return IDLE;
    switch (this.state) {
      case 'stopped':
      case 'wait-upgrade':
        return IDLE;
      case 'tunnel': {
        if (this.buf.length === 0) return this.idle();
        const data = this.buf;
        this.buf = EMPTY;
        return this.upstream.send(data);
      }
      case 'body': {
        if (this.buf.length === 0) return this.idle();
        let scanned;
        try {
          scanned = this.body!.scan(this.buf, 0);
        } catch (err) {
          return this.malformed(err);
        }
        const data = this.buf.subarray(0, scanned.used);
        this.buf = this.buf.subarray(scanned.used);
        const hx = this.current!;
        hx.requestBytes += scanned.used;
        if (scanned.done) this.requestDone(hx);
        return this.bodyToUpstream && data.length > 0 ? this.upstream.send(data) : MORE;
      }
      case 'head': {
        if (this.buf.length === 0) return this.idle();
        let head: Head | null;
        try {
          head = readHead(this.buf, 0, 'request');
        } catch (err) {
          return this.malformed(err);
        }
        if (head === null) return this.clientDone ? this.idle() : IDLE;
        return this.onHead(head);
      }
    }
  }

  private onHead(head: Head): Step {
    let bodyKind: BodyKind;
    try {
      bodyKind = requestBody(head);
    } catch (err) {
      return this.malformed(err);
    }
    const upgradeBody = bodyKind.kind === 'none' ? 0 : bodyKind.kind === 'length' && bodyKind.length <= MAX_UPGRADE_BODY ? bodyKind.length : -1;
    if (this.h2c !== null && upgradeBody >= 0 && this.output.empty && isH2cUpgrade(head)) {
      // The whole request first: the client sends nothing more until the 101.
      const size = head.length + upgradeBody;
      if (this.buf.length < size) return this.clientDone ? this.idle() : IDLE;
      if (this.buf.length === size) {
        this.state = 'stopped';
        this.ended = true;
        this.h2c(head, this.buf, this.buf.subarray(head.length));
        return IDLE;
      }
    }
    const headBytes = this.buf.subarray(0, head.length);
    this.buf = this.buf.subarray(head.length);
    const contentType = headerOf(head, 'content-type') ?? '';
    const grpcType = /^application\/grpc/i.test(contentType) ? contentType : null;
    const ex = new Exchange({
      method: head.method, path: pathOf(head.target), http: '1.1', grpc: grpcType !== null, streamId: ++this.count,
      header: (name) => headerOf(head, name),
    }, this.conn);
    const connection = head.connection;
    const hx: H1Exchange = {
      ex, head, forwarded: false, answer: null, status: 0, grpcType, requestBytes: head.length, responseBytes: 0,
      upgrade: head.method === 'CONNECT' || (connection.includes('upgrade') && headerOf(head, 'upgrade') !== undefined),
      closeAfter: connection.includes('close') || (head.minor === 0 && !connection.includes('keep-alive')),
    };
    this.current = hx;
    this.body = new BodyScanner(bodyKind);
    const decided = ex.hasToxics ? ex.decide('request') : null;
    if (decided === null || decided.delay === 0) return this.start(hx, headBytes, decided?.end ?? null);
    ex.reportDelays(decided.delays);
    return this.sleep(decided.delay).then(() => {
      const next = this.start(hx, headBytes, decided.end);
      return typeof next === 'symbol' ? undefined : next;
    });
  }

  /** The request's fate once its request-phase delays are over. */
  private start(hx: H1Exchange, headBytes: Buffer, end: ReturnType<Exchange['decide']>['end']): Step {
    if (this.ended || this.conn.closing) return IDLE;
    const ex = hx.ex!;
    if (end?.decision.action === 'reset') {
      ex.report(end.config, 'reset', {});
      this.record(hx);
      this.conn.reset('http_reset toxic');
      return IDLE;
    }
    if (end?.decision.action === 'abort') {
      const a = end.decision;
      // A client waiting for 100 Continue may never send the body, and one that asked to
      // upgrade may already be speaking the new protocol: either way the connection ends.
      const expects = (headerOf(hx.head, 'expect') ?? '').toLowerCase() === '100-continue';
      if (hx.upgrade || (expects && !this.body!.done)) hx.closeAfter = true;
      hx.answer = h1Abort({ ...a, toxic: end.config.name }, hx.grpcType, hx.closeAfter, hx.head.minor === 0 && !hx.closeAfter);
      hx.status = hx.grpcType === null ? a.status : 200;
      if (hx.grpcType !== null) hx.grpcStatus = a.grpcStatus;
      ex.report(end.config, 'aborted', hx.grpcType === null ? { status: a.status } : { grpc_status: a.grpcStatus });
      this.bodyToUpstream = false;
      this.afterHead(hx);
      return this.output.push(hx) ?? MORE;
    }
    hx.forwarded = true;
    void this.output.push(hx);
    this.forwarded.push(hx);
    this.bodyToUpstream = true;
    return this.upstream.send(this.withBody(hx, headBytes));
  }

  /** The head, and the whole body too when it is already here right behind it, as one slice:
   *  one write instead of two for the common small request. */
  private withBody(hx: H1Exchange, headBytes: Buffer): Buffer {
    const body = this.body!;
    const rest = this.buf;
    const adjacent = rest.buffer === headBytes.buffer && rest.byteOffset === headBytes.byteOffset + headBytes.length;
    if (body.body.kind !== 'length' || !adjacent || rest.length < body.body.length) {
      this.afterHead(hx);
      return headBytes;
    }
    const used = body.scan(rest, 0).used;
    this.buf = rest.subarray(used);
    hx.requestBytes += used;
    this.requestDone(hx);
    return Buffer.from(headBytes.buffer, headBytes.byteOffset, headBytes.length + used);
  }

  private afterHead(hx: H1Exchange): void {
    if (this.body!.done) this.requestDone(hx);
    else this.state = 'body';
  }

  private requestDone(hx: H1Exchange): void {
    this.current = null;
    this.state = hx.upgrade && hx.forwarded ? 'wait-upgrade' : 'head';
  }

  /** Nothing left to parse. Once the client has half-closed, its FIN goes on to the server,
   *  and the client's side ends when every answer has gone. */
  private idle(): Step {
    if (this.clientDone && !this.finEnded) {
      this.finEnded = true;
      this.upstream.end();
      if (this.output.empty && this.forwarded.length === 0) this.endClient('client closed');
    }
    return IDLE;
  }

  private answered(hx: H1Exchange): void {
    this.record(hx);
    if (hx.closeAfter) this.endClient('connection: close');
    else if (this.finEnded && this.output.empty && this.forwarded.length === 0) this.endClient('client closed');
  }

  private record(hx: H1Exchange): void {
    if (hx.ex === null) return;
    this.conn.record({
      method: hx.head.method, path: hx.ex.info.path, status: hx.status, ms: elapsed(hx),
      requestBytes: hx.requestBytes, responseBytes: hx.answer?.length ?? hx.responseBytes,
      ...(hx.grpcStatus !== undefined ? { grpcStatus: hx.grpcStatus } : {}),
    });
  }

  /** The client broke HTTP: a 400 (431 for an oversized head), and the connection ends. With
   *  exchanges still in flight (one may be a request cut off mid-body) it just ends, as a
   *  server ends a connection whose requests it cannot parse. */
  private malformed(err: unknown): Step {
    if (!(err instanceof FramingError)) throw err;
    this.conn.rejected('client', err.message, { status: err.status });
    this.state = 'stopped';
    this.buf = EMPTY;
    if (!this.output.empty) {
      this.conn.close('malformed request');
      return IDLE;
    }
    const answer = h1Response(err.status, `faultline: malformed request: ${err.message}\n`, { close: true });
    const head: Head = { method: '', target: '', status: 0, minor: 1, headers: [], length: 0, lengths: null, te: null, connection: [] };
    void this.output.push({
      ex: null, head, forwarded: false, answer, status: err.status, grpcType: null, upgrade: false, closeAfter: true, requestBytes: 0, responseBytes: 0,
    });
    return IDLE;
  }
}
