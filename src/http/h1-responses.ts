// The upstream half of an HTTP/1.1 session: responses, in the order their requests were
// forwarded, each passed to the client as its bytes arrive unless a toxic acts on it at the
// response phase (delay it, replace it with an error after reading it whole, or reset). A 101
// to an Upgrade request, or a 2xx to CONNECT, turns the connection into a plain tunnel.

import { FramingError, BodyScanner, readHead, responseBody, type Head } from './h1-parse.js';
import { IDLE, MORE, Pump, type H1Exchange, type OutputQueue, type Step } from './h1-output.js';
import { h1Abort } from './responses.js';
import type { HttpConnection } from './connection.js';
import type { Exchange } from './exchange.js';

/** What the response side needs of its session. */
export interface ResponseHost {
  readonly conn: HttpConnection;
  readonly output: OutputQueue;
  /** Forwarded exchanges whose response has not finished, oldest first. */
  readonly forwarded: H1Exchange[];
  readonly ended: boolean;
  toClient(data: Buffer): void | Promise<void>;
  /** The server switched protocols (its answer to `hx` has gone): bytes now go straight
   *  through both ways. */
  tunnel(hx: H1Exchange): void;
  /** The server declined an upgrade: the request side may parse again. */
  resumeRequests(): void;
  sleep(ms: number): Promise<void>;
  endClient(reason: string): void;
  fail(err: unknown): void;
}

type Decided = ReturnType<Exchange['decide']>;

export class H1Responses {
  private buf: Buffer = Buffer.alloc(0);
  private state: 'head' | 'body' | 'tunnel' | 'drop' = 'head';
  private body: BodyScanner | null = null;
  /** The current response is read and thrown away (an abort at the response phase). */
  private discarding = false;
  private readonly pump = new Pump(() => this.step(), (err) => this.host.fail(err));

  constructor(private readonly host: ResponseHost) {}

  fromUpstream(data: Buffer): void | Promise<void> {
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    return this.pump.run();
  }

  /** The upstream's FIN: a close-delimited body ends here; otherwise the client's connection
   *  ends after what has been sent, as it would have without the proxy. */
  upstreamEnded(): void {
    const hx = this.host.forwarded[0];
    if (this.state === 'body' && this.body?.body.kind === 'close' && hx !== undefined) void this.finish(hx);
    this.host.endClient('upstream closed');
  }

  private step(): Step {
    if (this.host.ended || this.buf.length === 0) return IDLE;
    if (this.state === 'drop') {
      this.buf = Buffer.alloc(0);
      return IDLE;
    }
    if (this.state === 'tunnel') return this.take(this.buf.length, false);
    const hx = this.host.forwarded[0];
    if (hx === undefined) return this.malformed('bytes from the upstream with no request outstanding', null);
    if (this.state === 'body') {
      let scanned;
      try {
        scanned = this.body!.scan(this.buf, 0);
      } catch (err) {
        return this.malformed((err as Error).message, hx);
      }
      const wait = this.take(scanned.used, this.discarding, hx);
      if (!scanned.done) return wait;
      const next = this.finish(hx);
      return wait !== MORE ? wait : next ?? MORE;
    }
    let head: Head | null;
    try {
      head = readHead(this.buf, 0, 'response');
    } catch (err) {
      return this.malformed((err as Error).message, hx);
    }
    if (head === null) return IDLE;
    if (head.status < 200 && head.status !== 101) return this.take(head.length, false, hx); // interim: 100, 103...
    if (head.status === 101 && !hx.upgrade) return this.malformed('101 Switching Protocols to a request that asked for no upgrade', hx);
    const decided = hx.ex!.hasToxics ? hx.ex!.decide('response') : null;
    if (decided === null || decided.delay === 0) return this.onFinal(hx, head, decided);
    hx.ex!.reportDelays(decided.delays);
    return this.host.sleep(decided.delay).then(() => {
      const next = this.onFinal(hx, head, decided);
      return typeof next === 'symbol' ? undefined : next;
    });
  }

  private onFinal(hx: H1Exchange, head: Head, decided: Decided | null): Step {
    const switching = hx.upgrade && (head.status === 101 || (hx.head.method === 'CONNECT' && head.status < 300));
    const end = decided?.end ?? null;
    hx.status = head.status;
    if (end?.decision.action === 'reset') {
      hx.ex!.report(end.config, 'reset', { server_status: head.status });
      hx.status = 0;
      this.host.conn.reset('http_reset toxic');
      return IDLE;
    }
    const connection = head.connection;
    // The server ends the connection after this response; so must the client's.
    hx.closeAfter ||= connection.includes('close') || (head.minor === 0 && !connection.includes('keep-alive'));
    let body: BodyScanner;
    try {
      body = new BodyScanner(switching ? { kind: 'none' } : responseBody(head, hx.head.method));
    } catch (err) {
      if (err instanceof FramingError) return this.malformed(err.message, hx);
      throw err;
    }
    if (hx.upgrade && !switching) this.host.resumeRequests();
    this.body = body;
    if (end?.decision.action === 'abort') {
      // A switched upstream speaks another protocol now: nothing more of it is read.
      if (switching) hx.closeAfter = true;
      const a = end.decision;
      hx.answer = h1Abort({ ...a, toxic: end.config.name }, hx.grpcType, hx.closeAfter, hx.head.minor === 0 && !hx.closeAfter);
      hx.status = hx.grpcType === null ? a.status : 200;
      if (hx.grpcType !== null) hx.grpcStatus = a.grpcStatus;
      hx.ex!.report(end.config, 'aborted', { ...(hx.grpcType === null ? { status: a.status } : { grpc_status: a.grpcStatus }), server_status: head.status });
      this.discarding = true;
      this.buf = this.buf.subarray(head.length);
      this.state = switching ? 'drop' : 'body';
      return body.done || switching ? this.finish(hx) ?? MORE : MORE;
    }
    this.discarding = false;
    // The common case, a whole response in one read, goes on as one slice.
    const whole = body.body.kind === 'length' && this.buf.length >= head.length + body.body.length;
    const wait = this.take(whole ? head.length + body.scan(this.buf, head.length).used : head.length, false, hx);
    if (switching) {
      this.state = 'tunnel';
      this.host.forwarded.shift();
      this.host.tunnel(hx);
      return wait;
    }
    this.state = 'body';
    if (!body.done) return wait;
    const next = this.finish(hx);
    return wait !== MORE ? wait : next ?? MORE;
  }

  /** The exchange's response is complete: its answer, if it has one, goes now. */
  private finish(hx: H1Exchange): void | Promise<void> {
    if (this.state !== 'drop') this.state = 'head';
    this.body = null;
    this.discarding = false;
    this.host.forwarded.shift();
    hx.forwarded = false;
    if (hx.answer !== null) return this.host.output.flush();
    return this.host.output.shift();
  }

  /** Passes `n` bytes on to the client (or drops them), counting them for the exchange. */
  private take(n: number, drop: boolean, hx?: H1Exchange): Step {
    const data = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    if (drop || n === 0) return MORE;
    if (hx !== undefined) hx.responseBytes += n;
    const wait = this.host.toClient(data);
    return wait ?? MORE;
  }

  /** The upstream broke HTTP: a 502 if the client has seen nothing of this response, and the
   *  connection ends either way. */
  private malformed(reason: string, hx: H1Exchange | null): Step {
    this.host.conn.rejected('upstream', reason, hx === null ? {} : { method: hx.head.method, path: hx.ex?.info.path ?? '', stream_id: hx.ex?.info.streamId ?? 0 });
    this.state = 'drop';
    this.buf = Buffer.alloc(0);
    if (hx !== null && hx.responseBytes === 0 && this.host.output.head === hx) {
      hx.status = 502;
      this.host.forwarded.length = 0;
      hx.forwarded = false;
      hx.closeAfter = true;
      hx.answer = Buffer.from('HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(`faultline: malformed response from the upstream: ${reason}\n`)}\r\nConnection: close\r\n\r\n` +
        `faultline: malformed response from the upstream: ${reason}\n`, 'utf8');
      void this.host.output.flush();
      return IDLE;
    }
    this.host.conn.close('malformed response');
    return IDLE;
  }
}
