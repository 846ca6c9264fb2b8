// An HTTP/2 client connection relayed frame by frame to one upstream connection (prior
// knowledge, or an h2c upgrade: h2-upgrade.ts). The proxy does not terminate HTTP/2: frames pass
// as they came, stream ids translated, so the peers settle SETTINGS, PING and flow control
// between themselves. Every header block is decoded each way (HPACK keeps one table per
// direction) so request toxics can match and the figures per route can be kept, and passes
// unchanged until a toxic holds, drops or answers one; from then on that direction's blocks are
// encoded afresh without the dynamic table (h2-side.ts). The frames of a turn go out together.
//
// Past 300 lines: the two directions' frame dispatch and the connection-wide frames (SETTINGS,
// GOAWAY, flow control owed) belong together; streams are h2-relay-stream.ts.

import type net from 'node:net';
import { ReadSlot } from '../core/socket-reader.js';
import { feed, writeSocket } from './byte-link.js';
import type { HttpConnection, ProtocolSession } from './connection.js';
import {
  CONTINUATION, DATA, END_STREAM, FRAME_HEADER, FRAME_SIZE_ERROR, GOAWAY, H2ProtocolError, HEADERS, INTERNAL_ERROR, PING,
  PREFACE, PRIORITY, PRIORITY_FLAG, PADDED, PUSH_PROMISE, RST_STREAM, SETTINGS, ACK, SETTINGS_HEADER_TABLE_SIZE,
  SETTINGS_MAX_FRAME_SIZE, WINDOW_UPDATE, CANCEL, goaway, headerFrames, payloadOf, rstStream, setSid, settingsOf, windowUpdate,
  type Frame,
} from './h2-frame.js';
import { RelayStream } from './h2-relay-stream.js';
import { Out, Side, type Block } from './h2-side.js';
import { encodeLiterals } from './hpack.js';

export type { Block } from './h2-side.js';

const LAST_SID = 0x7fffffff;

export class H2Relay implements ProtocolSession {
  destroyed = false;
  /** Client to upstream. */
  readonly up: Side;
  /** Upstream to client. */
  readonly down: Side;
  private socket: net.Socket | null = null;
  private readonly reads = new ReadSlot();
  private pending: Buffer[] = [];
  private dialing: Promise<void> | null = null;
  private readonly byClient = new Map<number, RelayStream>();
  private readonly byUpstream = new Map<number, RelayStream>();
  /** Server-pushed streams keep their (even) ids both ways. */
  private readonly pushed = new Set<number>();
  private lastCid = 0;
  /** The highest stream the upstream promised: even ids past it are idle. */
  private lastPromised = 0;
  private nextUid = 1;
  private goneAway = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Preface bytes still to come from the client; `stripPreface`: the proxy sent its own. */
  private prefaceLeft = PREFACE.length;
  /** SETTINGS ACKs from the upstream for settings the proxy sent, not the client. */
  swallowAcks = 0;
  /** The proxy's own frames for the client wait until the server's SETTINGS, which must be the
   *  first frame the client sees, have gone to it. */
  private beforeServer: Buffer[] | null = [];
  /** While set, the upstream's bytes and end go here instead (an h2c upgrade's probe). */
  tap: { data(d: Buffer): void; end(): void } | null = null;

  constructor(readonly conn: HttpConnection, private readonly stripPreface = false) {
    this.up = new Side(new Out((data) => this.writeUp(data)));
    this.down = new Side(new Out((data) => conn.toClient(data)));
  }

  // ---- ProtocolSession ----

  fromClient(data: Buffer): void | Promise<void> {
    if (this.destroyed) return;
    let rest = data;
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, rest.length);
      const at = PREFACE.length - this.prefaceLeft;
      if (rest.compare(PREFACE, at, at + n, 0, n) !== 0) return this.failed('client', new H2ProtocolError('no HTTP/2 connection preface'));
      if (!this.stripPreface) this.up.out.push(rest.subarray(0, n));
      this.prefaceLeft -= n;
      rest = rest.subarray(n);
      this.dial();
    }
    try {
      this.up.reader.push(rest, this.clientFrame);
    } catch (err) {
      return this.failed('client', err as Error);
    }
    return this.flush();
  }

  /** Frames the proxy sends in the client's name (an h2c upgrade's stream 1). */
  fromClientFrames(frames: Buffer): void {
    try {
      this.up.reader.push(frames, this.clientFrame);
    } catch (err) {
      this.failed('client', err as Error);
    }
  }

  clientEnded(): void {
    void this.flush();
    if (this.socket !== null && !this.socket.destroyed) this.socket.end();
    else this.conn.endClient('client closed');
  }

  destroy(): void {
    this.destroyed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  // ---- for streams ----

  toUpstream(b: Buffer): void { this.up.out.push(b); }

  /** Sends one of the client's frames on as upstream stream `uid`; a PRIORITY frame names the
   *  stream it depends on by the client's id, which may be another stream's upstream id. */
  forwardFrame(raw: Buffer, uid: number): void {
    setSid(raw, uid);
    if (raw[3] === PRIORITY) this.mapDependency('up', raw, FRAME_HEADER);
    this.up.out.push(raw);
  }

  toClient(b: Buffer | Buffer[]): void {
    if (this.beforeServer !== null) this.beforeServer.push(...(Buffer.isBuffer(b) ? [b] : b));
    else if (Buffer.isBuffer(b)) this.down.out.push(b);
    else for (const f of b) this.down.out.push(f);
  }

  /** Bytes the proxy sent in a peer's place: the credit the other peer gives back for them is
   *  not passed on. */
  injected(to: 'client' | 'upstream', n: number): void {
    (to === 'client' ? this.up : this.down).owed += n;
  }

  /** The client's DATA on stream `sid` was dropped: its `n` bytes of connection window go back
   *  to it, and the stream's too while it goes on sending (`more`). Behind the server's SETTINGS,
   *  like every frame the proxy writes. Stream 1 of an h2c upgrade carries the proxy's own DATA
   *  (the client sent the body as HTTP/1.1): nothing is owed the client for it, and the upstream,
   *  which never saw it, will give nothing back for it. */
  dropped(sid: number, n: number, more: boolean): void {
    if (n === 0) return;
    if (this.stripPreface && sid === 1) {
      this.down.owed = Math.max(0, this.down.owed - n);
      return;
    }
    this.toClient(windowUpdate(0, n));
    if (more) this.toClient(windowUpdate(sid, n));
  }

  /** A header block on `side` was held, dropped or answered: later ones are re-encoded. */
  diverge(side: 'up' | 'down'): void {
    this[side].raw = false;
  }

  /** Gives the stream its upstream id; false once the upstream has said it takes no more. */
  open(s: RelayStream): boolean {
    if (this.goneAway || this.nextUid > LAST_SID) return false;
    s.uid = this.nextUid;
    this.nextUid += 2;
    this.byUpstream.set(s.uid, s);
    return true;
  }

  forget(s: RelayStream): void {
    if (this.byClient.get(s.cid) === s) this.byClient.delete(s.cid);
    if (s.uid !== 0 && this.byUpstream.get(s.uid) === s) this.byUpstream.delete(s.uid);
  }

  /** Sends a header block on to `side`'s receiver as stream `sid`. */
  forwardBlock(side: 'up' | 'down', b: Block, sid: number): void {
    const s = this[side];
    if (!s.raw) {
      for (const f of headerFrames(b.type, sid, (b.flags & END_STREAM) !== 0, encodeLiterals(b.fields, true), b.promised)) s.out.push(f);
      return;
    }
    for (const raw of b.frames) {
      setSid(raw, sid);
      if (raw[3] === HEADERS && (raw[4]! & PRIORITY_FLAG) !== 0) this.mapDependency(side, raw, FRAME_HEADER + ((raw[4]! & PADDED) !== 0 ? 1 : 0));
      s.out.push(raw);
    }
  }

  blockFrames(type: number, sid: number, endStream: boolean, block: Buffer): Buffer[] {
    return headerFrames(type, sid, endStream, block);
  }

  after(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.destroyed) return;
      fn();
      void this.flush();
    }, ms);
    this.timers.add(timer);
  }

  // ---- the upstream connection ----

  /** Dials once the client's preface is in: the server's SETTINGS are part of the exchange. */
  dial(): Promise<void> {
    this.dialing ??= this.conn.upstream(this.reads).then((socket) => this.attach(socket), () => {});
    return this.dialing;
  }

  private attach(socket: net.Socket): void {
    if (this.destroyed) return;
    this.socket = socket;
    feed(socket, this.reads, (data) => this.fromUpstream(data));
    socket.on('end', () => {
      if (this.tap !== null) this.tap.end();
      else if (!this.destroyed) this.conn.endClient('upstream closed');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (this.tap !== null) return this.tap.end();
      if (this.destroyed || this.conn.closing) return;
      if (err.code === 'ECONNRESET') this.conn.reset('upstream reset');
      else this.conn.destroy(`upstream error: ${err.code ?? err.message}`);
    });
    const pending = this.pending;
    this.pending = [];
    if (pending.length > 0) void writeSocket(socket, pending.length === 1 ? pending[0]! : Buffer.concat(pending));
  }

  private writeUp(data: Buffer): void | Promise<void> {
    if (this.socket !== null) return writeSocket(this.socket, data);
    this.pending.push(data);
    return this.dialing ?? undefined;
  }

  fromUpstream(data: Buffer): void | Promise<void> {
    if (this.tap !== null) return this.tap.data(data);
    if (this.destroyed) return;
    try {
      this.down.reader.push(data, this.upstreamFrame);
    } catch (err) {
      return this.failed('upstream', err as Error);
    }
    return this.flush();
  }

  flush(): void | Promise<void> {
    const a = this.up.out.flush();
    const b = this.down.out.flush();
    if (a === undefined) return b;
    return b === undefined ? a : Promise.all([a, b]).then(() => {});
  }

  // ---- frames from the client ----

  private readonly clientFrame = (f: Frame): void => {
    if (this.up.midBlock || f.type === HEADERS || f.type === CONTINUATION) {
      const b = this.up.gather(f);
      if (b !== null) this.clientBlock(b);
      return;
    }
    const sid = f.sid;
    switch (f.type) {
      case SETTINGS:
        if (sid !== 0) throw new H2ProtocolError('SETTINGS on a stream');
        if ((f.flags & ACK) === 0) this.settings(f, this.down);
        else this.up.ackedBy();
        this.up.out.push(f.raw);
        return;
      case WINDOW_UPDATE:
        if (sid === 0) return this.passCredit(f, this.up);
        break;
      case PING:
      case GOAWAY:
        if (sid !== 0) throw new H2ProtocolError(`frame type ${f.type} on a stream`);
        this.up.out.push(f.raw);
        return;
      case PUSH_PROMISE:
        throw new H2ProtocolError('PUSH_PROMISE from a client');
      case PRIORITY:
        // Its dependency is rewritten on the way, maybe after a delay: the layout is checked now.
        if (f.raw.length !== FRAME_HEADER + 5) throw new H2ProtocolError('a PRIORITY frame not 5 bytes long', FRAME_SIZE_ERROR);
        if (sid === 0) throw new H2ProtocolError('PRIORITY on stream 0');
        break;
      default:
        if (sid === 0) {
          if (f.type <= CONTINUATION) throw new H2ProtocolError(`frame type ${f.type} on stream 0`);
          this.up.out.push(f.raw);
          return;
        }
    }
    if (this.pushed.has(sid)) {
      if (f.type === RST_STREAM) this.pushed.delete(sid);
      this.up.out.push(f.raw);
      return;
    }
    const s = this.byClient.get(sid);
    if (s !== undefined) {
      if (f.type === DATA) s.clientData(f);
      else s.clientOther(f);
    } else if (f.type === DATA) {
      if (this.idle(sid)) throw new H2ProtocolError(`DATA on idle stream ${sid}`);
      this.dropped(sid, payloadOf(f).length, false);
    } else if (f.type === RST_STREAM && this.idle(sid)) {
      throw new H2ProtocolError(`RST_STREAM on idle stream ${sid}`);
    }
  };

  /** A stream neither peer has opened yet: the client's own ids, or the ids the upstream pushes
   *  (a push ended here may still be refused by a client that has not seen its end). */
  private idle(sid: number): boolean {
    return sid > (sid % 2 === 0 ? this.lastPromised : this.lastCid);
  }

  private clientBlock(b: Block): void {
    if (b.type !== HEADERS) throw new H2ProtocolError(`header block of frame type ${b.type} from a client`);
    if (b.sid === 0) throw new H2ProtocolError('HEADERS on stream 0');
    const known = this.byClient.get(b.sid);
    if (known !== undefined) return known.clientBlock(b);
    if (b.sid <= this.lastCid || b.sid % 2 === 0) {
      // A stream the proxy has finished (its trailers, say), or one the client may not open.
      if (b.sid % 2 === 0 || b.sid > this.lastCid) throw new H2ProtocolError(`HEADERS on stream ${b.sid}, not a new client stream`);
      this.up.raw = false;
      return;
    }
    this.lastCid = b.sid;
    const s = new RelayStream(this, b.sid, b);
    if (s.state !== 'done') this.byClient.set(b.sid, s);
  }

  // ---- frames from the upstream ----

  private readonly upstreamFrame = (f: Frame): void => {
    if (this.down.midBlock || f.type === HEADERS || f.type === CONTINUATION || f.type === PUSH_PROMISE) {
      const b = this.down.gather(f);
      if (b !== null) this.upstreamBlock(b);
      return;
    }
    const sid = f.sid;
    switch (f.type) {
      case SETTINGS:
        if (sid !== 0) throw new H2ProtocolError('SETTINGS on a stream');
        if ((f.flags & ACK) === 0) this.settings(f, this.up);
        else {
          this.down.ackedBy();
          if (this.swallowAcks > 0) {
            this.swallowAcks--;
            return;
          }
        }
        this.down.out.push(f.raw);
        if (this.beforeServer !== null) {
          for (const b of this.beforeServer) this.down.out.push(b);
          this.beforeServer = null;
        }
        return;
      case WINDOW_UPDATE:
        if (sid === 0) return this.passCredit(f, this.down);
        break;
      case GOAWAY:
        if (sid !== 0) throw new H2ProtocolError('GOAWAY on a stream');
        return this.upstreamGoaway(f);
      case PING:
        if (sid !== 0) throw new H2ProtocolError('PING on a stream');
        this.down.out.push(f.raw);
        return;
      default:
        if (sid === 0) {
          if (f.type <= CONTINUATION) throw new H2ProtocolError(`frame type ${f.type} on stream 0`);
          this.down.out.push(f.raw);
          return;
        }
    }
    if (this.pushed.has(sid)) {
      if (f.type === RST_STREAM || (f.type === DATA && (f.flags & END_STREAM) !== 0)) this.pushed.delete(sid);
      this.down.out.push(f.raw);
      return;
    }
    const s = this.byUpstream.get(sid);
    if (s !== undefined) {
      if (f.type === DATA) s.upstreamData(f);
      else s.upstreamOther(f);
    } else if (f.type === DATA) {
      const n = payloadOf(f).length;
      if (n > 0) this.up.out.push(windowUpdate(0, n));
    }
  };

  private upstreamBlock(b: Block): void {
    if (b.sid === 0) throw new H2ProtocolError(`header block on stream 0`);
    if (this.pushed.has(b.sid)) {
      if ((b.flags & END_STREAM) !== 0) this.pushed.delete(b.sid);
      return this.forwardBlock('down', b, b.sid);
    }
    const s = this.byUpstream.get(b.sid);
    if (b.type === PUSH_PROMISE) {
      if (b.promised! > this.lastPromised) this.lastPromised = b.promised!;
      // A push rides on the stream that asked for it; where that stream is not the client's
      // to see (answered or reset by the proxy), the push is refused.
      if (s === undefined || s.state !== 'open') {
        this.down.raw = false;
        this.up.out.push(rstStream(b.promised!, CANCEL));
        return;
      }
      this.pushed.add(b.promised!);
      return this.forwardBlock('down', b, s.cid);
    }
    if (s === undefined) {
      this.down.raw = false;
      return;
    }
    s.upstreamBlock(b);
  }

  /** GOAWAY's last stream id is the upstream's; the client hears its own, and the streams the
   *  upstream will not take are refused, or left to the client where its GOAWAY says so. A
   *  stream the proxy answered itself is not the upstream's to refuse: it counts as taken. */
  private upstreamGoaway(f: Frame): void {
    const p = payloadOf(f);
    if (p.length < 8) throw new H2ProtocolError('a GOAWAY frame too short');
    const last = p.readUInt32BE(0) & LAST_SID;
    if (last === LAST_SID) {
      this.down.out.push(f.raw);
      return;
    }
    this.goneAway = true;
    const taken = (s: RelayStream) => s.state === 'local' || (s.uid !== 0 && s.uid <= last);
    let clientLast = 0;
    for (const s of this.byClient.values()) if (taken(s) && s.cid > clientLast) clientLast = s.cid;
    p.writeUInt32BE(clientLast, 0);
    this.down.out.push(f.raw);
    for (const s of [...this.byClient.values()]) if (!taken(s)) s.refuse(s.cid <= clientLast);
  }

  // ---- connection-wide ----

  /** A peer's SETTINGS bound what the other may send it: its frame size at once (a larger
   *  frame is only allowed, never required), its HPACK table once the other side's ACK says its
   *  encoder has taken the new size (tables decoded before then were encoded under the old). */
  settings(f: Frame, towards: Side): void {
    let table: number | null = null;
    for (const [id, value] of settingsOf(f)) {
      if (id === SETTINGS_HEADER_TABLE_SIZE) table = value;
      else if (id === SETTINGS_MAX_FRAME_SIZE) towards.reader.setMax(value);
    }
    towards.unacked.push(table);
  }

  private passCredit(f: Frame, side: Side): void {
    const p = payloadOf(f);
    if (p.length !== 4) throw new H2ProtocolError('a WINDOW_UPDATE frame not 4 bytes long');
    const n = p.readUInt32BE(0) & LAST_SID;
    const left = side.takeOwed(n);
    if (left === n) side.out.push(f.raw);
    else if (left > 0) side.out.push(windowUpdate(0, left));
  }

  /** HEADERS' priority names a stream by the sender's id. */
  private mapDependency(side: 'up' | 'down', raw: Buffer, at: number): void {
    const dep = raw.readUInt32BE(at);
    const id = dep & LAST_SID;
    if (id === 0) return;
    const s = side === 'up' ? this.byClient.get(id) : this.byUpstream.get(id);
    const mapped = s === undefined ? 0 : side === 'up' ? s.uid : s.cid;
    raw.writeUInt32BE(((dep & 0x80000000) | mapped) >>> 0, at);
  }

  /** A protocol error from one side: an event, a GOAWAY to whoever broke the rules, the end. */
  failed(side: 'client' | 'upstream', err: Error): void {
    if (this.destroyed) return;
    const code = err instanceof H2ProtocolError ? err.code : INTERNAL_ERROR;
    this.conn.rejected(side, `HTTP/2: ${err.message}`);
    if (side === 'client') this.down.out.push(goaway(this.lastCid, code, err.message));
    else this.up.out.push(goaway(0, code, err.message));
    void this.flush();
    this.destroy();
    this.conn.close(`malformed HTTP/2 from the ${side}`);
  }
}
