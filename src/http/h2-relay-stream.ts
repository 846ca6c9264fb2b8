// One request stream of an HTTP/2 relay: the client's stream, forwarded frame by frame as a
// stream of the upstream connection (its id given when it is forwarded, so a delayed stream
// can go after later ones). Request toxics act on the stream alone: a delay holds its frames,
// an abort answers it (gRPC: a trailers-only answer with grpc-status), a reset is an
// RST_STREAM; the connection's other streams never wait for it.
//
// Past 300 lines: the request and response phases share the stream's state (frames held, the
// abort replacing an answer, the byte counts, flow control owed for dropped frames) and its end.

import { performance } from 'node:perf_hooks';
import type { ExchangeDecision, ResetCode } from '../toxic.js';
import type { ToxicConfig } from '../core/toxic-config.js';
import { Exchange, pathOf } from './exchange.js';
import {
  CANCEL, DATA, END_STREAM, FRAME_HEADER, HEADERS, MIN_MAX_FRAME, NO_ERROR, payloadOf, REFUSED_STREAM, RST_STREAM, frame,
  rstStream, setSid, unpadded, windowUpdate, type Frame,
} from './h2-frame.js';
import { encodeLiterals, type Field } from './hpack.js';
import type { Block, H2Relay } from './h2-relay.js';
import { h2Abort } from './responses.js';

const CODES: Record<ResetCode, number> = { INTERNAL_ERROR: 0x2, CANCEL, REFUSED_STREAM };

type End = { config: ToxicConfig; decision: ExchangeDecision & object } | null;
type Abort = Extract<ExchangeDecision, { action: 'abort' }>;
/** Frames held while a phase is delayed: raw frames, and header blocks to encode on release. */
type Held = Array<Buffer | Block>;

/** A header field's value; repeated fields joined as HTTP/1.1 would fold them. */
export function fieldOf(fields: readonly Field[], name: string): string | undefined {
  let out: string | undefined;
  for (const f of fields) {
    if (f.name !== name) continue;
    out = out === undefined ? f.value : `${out}${name === 'cookie' ? '; ' : ', '}${f.value}`;
  }
  return out;
}

export class RelayStream {
  uid = 0;
  /** held: the request waits out a delay; open: forwarded; local: answered or reset by the
   *  proxy, the rest of the client's frames dropped; done: over and recorded. */
  state: 'held' | 'open' | 'local' | 'done' = 'open';
  private clientDone = false;
  private upstreamDone = false;
  private held: Held | null = null;
  private respHeld: Held | null = null;
  private responded = false;
  private replacing: { abort: Abort; toxic: string } | null = null;
  /** The server reset the stream: nothing more goes to it. After a whole answer that a delay
   *  still holds, with NO_ERROR, it only wants no more of the request (RFC 9113 8.1): the client
   *  hears the answer, then the reset. */
  private stopped = false;
  private status = 0;
  private grpcStatus: number | undefined;
  private requestBytes = 0;
  private responseBytes = 0;
  private readonly ex: Exchange;
  private readonly grpcType: string | null;

  constructor(private readonly relay: H2Relay, readonly cid: number, block: Block) {
    const fields = block.fields;
    const contentType = fieldOf(fields, 'content-type') ?? '';
    this.grpcType = /^application\/grpc/i.test(contentType) ? contentType : null;
    this.ex = new Exchange({
      method: fieldOf(fields, ':method') ?? '', path: pathOf(fieldOf(fields, ':path') ?? ''), http: '2', grpc: this.grpcType !== null,
      streamId: cid, header: (name) => fieldOf(fields, name),
    }, relay.conn);
    if ((block.flags & END_STREAM) !== 0) this.clientDone = true;
    const decided = this.ex.hasToxics ? this.ex.decide('request') : null;
    if (decided === null || decided.delay === 0) {
      this.begin(block, decided?.end ?? null);
      return;
    }
    this.state = 'held';
    this.held = [block];
    relay.diverge('up');
    this.ex.reportDelays(decided.delays);
    relay.after(decided.delay, () => this.release(decided.end));
  }

  // ---- from the client ----

  clientBlock(b: Block): void {
    if ((b.flags & END_STREAM) !== 0) this.clientDone = true;
    if (this.state === 'held') this.held!.push(b);
    else if (this.state === 'open' && !this.stopped) this.relay.forwardBlock('up', b, this.uid);
    else this.relay.diverge('up');
    this.settle();
  }

  clientData(f: Frame): void {
    const n = payloadOf(f).length;
    if (this.state === 'held' || this.state === 'open') this.requestBytes += unpadded(f, 0).length;
    if ((f.flags & END_STREAM) !== 0) this.clientDone = true;
    if (this.state === 'held') this.held!.push(f.raw);
    else if (this.state === 'open' && !this.stopped) this.relay.toUpstream(setSid(f.raw, this.uid));
    // Answered by the proxy, the client may go on sending: its stream's window too, or it stalls.
    else this.relay.dropped(this.cid, n, this.state === 'local' && !this.clientDone);
    this.settle();
  }

  /** RST_STREAM, WINDOW_UPDATE, PRIORITY and unknown types on this stream. */
  clientOther(f: Frame): void {
    if (f.type === RST_STREAM) {
      if (this.state === 'open' && !this.stopped) this.relay.toUpstream(setSid(f.raw, this.uid));
      if (this.state === 'held') this.creditHeld();
      // An answer a delay holds never reaches the client, which gives nothing back for it.
      if (this.respHeld !== null) this.dropResponse(this.respHeld, false);
      this.finish();
      return;
    }
    if (this.state === 'held') this.held!.push(f.raw);
    else if (this.state === 'open' && !this.stopped) this.relay.forwardFrame(f.raw, this.uid);
  }

  // ---- from the upstream ----

  upstreamBlock(b: Block): void {
    if ((b.flags & END_STREAM) !== 0) this.upstreamDone = true;
    if (this.replacing !== null || this.state !== 'open') {
      this.relay.diverge('down');
      if (this.replacing !== null && this.upstreamDone) return this.answer(this.replacing.abort, this.replacing.toxic);
    } else if (this.respHeld !== null) {
      this.respHeld.push(b);
    } else {
      const status = Number(fieldOf(b.fields, ':status'));
      if (!this.responded && status >= 200) {
        this.responded = true;
        this.onResponse(b, status);
        return;
      }
      this.noteGrpc(b.fields);
      this.relay.forwardBlock('down', b, this.cid);
    }
    this.settle();
  }

  upstreamData(f: Frame): void {
    const n = payloadOf(f).length;
    if ((f.flags & END_STREAM) !== 0) this.upstreamDone = true;
    if (this.replacing !== null || this.state !== 'open') {
      if (n > 0) this.relay.toUpstream(windowUpdate(0, n));
      if (n > 0 && !this.upstreamDone) this.relay.toUpstream(windowUpdate(this.uid, n));
      if (this.replacing !== null && this.upstreamDone) return this.answer(this.replacing.abort, this.replacing.toxic);
    } else {
      this.responseBytes += unpadded(f, 0).length;
      if (this.respHeld !== null) this.respHeld.push(f.raw);
      else this.relay.toClient(setSid(f.raw, this.cid));
    }
    this.settle();
  }

  upstreamOther(f: Frame): void {
    if (f.type !== RST_STREAM) {
      // While the answer is replaced, the request may still be coming: the server's window for
      // it passes on (an echo ends only once the request has).
      if (this.state === 'open') this.relay.toClient(setSid(f.raw, this.cid));
      return;
    }
    const whole = this.upstreamDone;
    this.upstreamDone = true;
    this.stopped = true;
    if (this.replacing !== null) {
      this.answer(this.replacing.abort, this.replacing.toxic);
      return;
    }
    if (this.state === 'open') {
      const code = payloadOf(f).readUInt32BE(0);
      // A whole answer waits out its delay: respond() sends it, then this reset.
      if (this.respHeld !== null && whole && code === NO_ERROR) return;
      if (this.respHeld !== null) this.dropResponse(this.respHeld, false);
      this.respHeld = null;
      // A stream that ended with no answer is refused, so the client knows the server never answered.
      this.relay.toClient(rstStream(this.cid, code === NO_ERROR && this.status === 0 ? 0x2 : code));
    }
    this.finish();
  }

  /** The upstream went away (GOAWAY) without taking this stream: the client may try again. */
  refuse(tell: boolean): void {
    if (this.state === 'done') return;
    if (tell) this.relay.toClient(rstStream(this.cid, REFUSED_STREAM));
    if (this.state === 'held') this.creditHeld();
    this.finish();
  }

  // ---- the request ----

  private begin(block: Block, end: End): void {
    if (end?.decision.action === 'reset') {
      this.ex.report(end.config, 'reset', { code: end.decision.code });
      this.relay.diverge('up');
      this.relay.toClient(rstStream(this.cid, CODES[end.decision.code]));
      this.state = 'local';
      this.finish();
      return;
    }
    if (end?.decision.action === 'abort') {
      this.reportAbort(end.config, end.decision, {});
      this.relay.diverge('up');
      this.state = 'local';
      this.answer(end.decision, end.config.name);
      return;
    }
    if (!this.relay.open(this)) {
      this.relay.diverge('up');
      this.relay.toClient(rstStream(this.cid, REFUSED_STREAM));
      this.finish();
      return;
    }
    this.relay.forwardBlock('up', block, this.uid);
  }

  private release(end: End): void {
    const held = this.held;
    if (this.state !== 'held' || held === null) return;
    this.held = null;
    this.state = 'open';
    const [first, ...rest] = held;
    if (end !== null) {
      this.begin(first as Block, end);
      this.heldCredit(rest);
      return;
    }
    this.begin(first as Block, null);
    if (this.state !== 'open') {
      this.heldCredit(rest);
      return;
    }
    for (const item of rest) {
      if (Buffer.isBuffer(item)) this.relay.forwardFrame(item, this.uid);
      else this.relay.forwardBlock('up', item, this.uid);
    }
    this.settle();
  }

  // ---- the response ----

  private onResponse(b: Block, status: number): void {
    const decided = this.ex.hasToxics ? this.ex.decide('response') : null;
    if (decided !== null && decided.delay > 0) {
      this.respHeld = [b];
      this.relay.diverge('down');
      this.ex.reportDelays(decided.delays);
      this.relay.after(decided.delay, () => this.respond(decided.end, status));
      return;
    }
    this.respHeld = [b];
    this.respond(decided?.end ?? null, status);
  }

  private respond(end: End, serverStatus: number): void {
    const held = this.respHeld;
    if (this.state !== 'open' || held === null) return;
    this.respHeld = null;
    if (end?.decision.action === 'reset') {
      this.ex.report(end.config, 'reset', { code: end.decision.code, server_status: serverStatus });
      this.relay.diverge('down');
      this.relay.toClient(rstStream(this.cid, CODES[end.decision.code]));
      // Ended by the server or not, the stream is open there while the request still comes.
      if (!this.stopped && (!this.upstreamDone || !this.clientDone)) this.relay.toUpstream(rstStream(this.uid, CANCEL));
      this.dropResponse(held, false);
      this.finish();
      return;
    }
    if (end?.decision.action === 'abort') {
      this.reportAbort(end.config, end.decision, { server_status: serverStatus });
      this.relay.diverge('down');
      this.replacing = { abort: end.decision, toxic: end.config.name };
      this.dropResponse(held, !this.upstreamDone);
      if (this.upstreamDone) this.answer(end.decision, end.config.name);
      return;
    }
    this.status = serverStatus;
    for (const item of held) {
      if (Buffer.isBuffer(item)) this.relay.toClient(setSid(item, this.cid));
      else {
        this.noteGrpc(item.fields);
        this.relay.forwardBlock('down', item, this.cid);
      }
    }
    if (this.stopped) {
      if (!this.clientDone) this.relay.toClient(rstStream(this.cid, NO_ERROR));
      this.finish();
      return;
    }
    this.settle();
  }

  /** Sends the abort's answer in place of the server's, then ends the stream both ways. */
  private answer(abort: Abort, toxic: string): void {
    if (this.state === 'done') return;
    const { headers, body } = h2Abort({ ...abort, toxic }, this.grpcType);
    const fields = Object.entries(headers).map(([name, value]) => ({ name, value: String(value), sensitive: false }));
    this.status = this.grpcType === null ? abort.status : 200;
    if (this.grpcType !== null) this.grpcStatus = abort.grpcStatus;
    this.relay.toClient(this.relay.blockFrames(HEADERS, this.cid, body === null, encodeLiterals(fields, false)));
    if (body !== null) {
      this.responseBytes = body.length;
      for (let at = 0; at < body.length || at === 0; at += MIN_MAX_FRAME) {
        const piece = body.subarray(at, at + MIN_MAX_FRAME);
        this.relay.toClient(frame(DATA, at + MIN_MAX_FRAME >= body.length ? END_STREAM : 0, this.cid, piece));
      }
      this.relay.injected('client', body.length);
    }
    // The rest of the request is read and dropped, as a server that answered early would; an
    // RST_STREAM asking the client to stop would read as an error to gRPC clients.
    if (!this.clientDone && this.uid !== 0 && this.state === 'open' && !this.stopped) this.relay.toUpstream(rstStream(this.uid, CANCEL));
    this.state = 'local';
    this.settle();
  }

  private reportAbort(config: ToxicConfig, abort: Abort, extra: Record<string, number>): void {
    this.ex.report(config, 'aborted', { ...(this.grpcType === null ? { status: abort.status } : { grpc_status: abort.grpcStatus }), ...extra });
  }

  private noteGrpc(fields: readonly Field[]): void {
    const value = fieldOf(fields, 'grpc-status');
    if (value !== undefined && /^\d+$/.test(value)) this.grpcStatus = Number(value);
  }

  // ---- flow control for frames that never arrive ----

  /** The client's held DATA never reaches the upstream: its window is given back here. */
  private creditHeld(): void {
    this.heldCredit(this.held ?? []);
    this.held = null;
  }

  /** After an answer in the request's place, the client may go on sending on the stream. */
  private heldCredit(items: Held): void {
    let n = 0;
    for (const item of items) if (Buffer.isBuffer(item) && item[3] === DATA) n += item.length - FRAME_HEADER;
    this.relay.dropped(this.cid, n, this.state === 'local' && !this.clientDone);
  }

  /** Response DATA the client never sees; `stream`: the server goes on sending on the stream. */
  private dropResponse(items: Held, stream: boolean): void {
    let n = 0;
    for (const item of items) if (Buffer.isBuffer(item) && item[3] === DATA) n += item.length - FRAME_HEADER;
    if (n > 0) this.relay.toUpstream(windowUpdate(0, n));
    if (n > 0 && stream) this.relay.toUpstream(windowUpdate(this.uid, n));
  }

  // ---- the end ----

  private settle(): void {
    if (this.state === 'local') {
      if (this.clientDone) this.finish();
      return;
    }
    if (this.clientDone && this.upstreamDone && this.state === 'open' && this.respHeld === null && this.replacing === null) this.finish();
  }

  private finish(): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.relay.forget(this);
    this.relay.conn.record({
      method: this.ex.info.method, path: this.ex.info.path, status: this.status, ms: performance.now() - this.ex.started,
      requestBytes: this.requestBytes, responseBytes: this.responseBytes,
      ...(this.grpcStatus !== undefined ? { grpcStatus: this.grpcStatus } : {}),
    });
  }
}
