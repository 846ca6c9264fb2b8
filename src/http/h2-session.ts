// An HTTP/2 client connection (prior knowledge, or an h2c upgrade the proxy answers): Node's
// HTTP/2 server session runs over a stream fed by the client's byte chain, so TCP toxics sit
// beneath it, and every stream is forwarded on one HTTP/2 session to the upstream
// (h2-stream.ts). An h2c upgrade is answered only once the upstream has shown it speaks
// HTTP/2 (its SETTINGS arrived); otherwise the request goes to it as it came, and the
// connection stays HTTP/1.1, as it would have without the proxy.

import http2 from 'node:http2';
import type { ClientHttp2Session, IncomingHttpHeaders, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import { Duplex } from 'node:stream';
import type { HttpConnection, ProtocolSession } from './connection.js';
import { Exchange, pathOf } from './exchange.js';
import type { Head } from './h1-parse.js';
import { afterPreface, SWITCHING, upgradeFrames } from './h2c.js';
import { H2Exchange, type StreamHost } from './h2-stream.js';

/** How long the upstream may take to show it speaks HTTP/2 before an h2c upgrade is declined. */
const PROBE_MS = 5_000;
const EMPTY: Buffer = Buffer.alloc(0);

/** The proxy's HTTP/2 server, never listening: each connection is handed to it. */
export class H2Server {
  private readonly server = http2.createServer({ maxSessionMemory: 64, maxHeaderListPairs: 2000 });
  private opening: H2Session | null = null;

  constructor() {
    this.server.on('session', (session) => this.opening?.attach(session));
  }

  open(socket: Duplex, owner: H2Session): void {
    this.opening = owner;
    try {
      this.server.emit('connection', socket);
    } finally {
      this.opening = null;
    }
  }
}

/** An h2c upgrade request, and how to go on as HTTP/1.1 if the upstream cannot do HTTP/2. */
export interface H2Upgrade {
  head: Head;
  body: Buffer;
  decline(early: Buffer): void;
}

export class H2Session implements ProtocolSession, StreamHost {
  destroyed = false;
  private duplex: Duplex | null = null;
  private server: ServerHttp2Session | null = null;
  private upstream: ClientHttp2Session | null = null;
  private opening: Promise<ClientHttp2Session> | null = null;
  private readable: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** h2c: client bytes held until the 101 has gone and stream 1 can be placed after the
   *  client's preface; null once the server session takes them directly. */
  private early: Buffer | null = null;
  private stream1: Buffer | null = null;
  private probing = false;

  constructor(readonly conn: HttpConnection, private readonly h2: H2Server, upgrade: H2Upgrade | null = null) {
    if (upgrade === null) this.startServer();
    else {
      this.early = EMPTY;
      void this.tryUpgrade(upgrade);
    }
  }

  // ---- ProtocolSession ----

  fromClient(data: Buffer): void | Promise<void> {
    if (this.destroyed) return;
    if (this.early === null) return this.push(data);
    this.early = Buffer.concat([this.early, data]);
    if (this.stream1 !== null) this.placeStream1();
  }

  clientEnded(): void {
    if (this.duplex !== null && this.early === null) this.duplex.push(null);
    else this.conn.endClient('client closed');
  }

  destroy(): void {
    this.destroyed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.server?.destroy();
    this.upstream?.destroy();
    this.duplex?.destroy();
  }

  // ---- StreamHost ----

  upstreamSession(): Promise<ClientHttp2Session> {
    this.opening ??= this.conn.upstream().then((socket) => {
      const session = http2.connect(`http://${this.conn.info().upstream}`, { createConnection: () => socket, maxSessionMemory: 64, maxHeaderListPairs: 2000 });
      session.on('error', (err: Error & { code?: string }) => {
        if (!this.probing && !this.destroyed) this.conn.rejected('upstream', `HTTP/2: ${err.code ?? ''} ${err.message}`.trim());
      });
      session.on('close', () => this.upstreamGone());
      session.on('goaway', () => this.server?.close());
      this.upstream = session;
      return session;
    });
    return this.opening;
  }

  after(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  /** Node's server hands over the session it made for this connection. */
  attach(session: ServerHttp2Session): void {
    this.server = session;
    session.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, raw: string[]) => this.onStream(stream, headers, flags, raw));
    session.on('error', (err: Error & { code?: string }) => {
      if (this.destroyed) return;
      this.conn.rejected('client', `HTTP/2: ${err.code ?? ''} ${err.message}`.trim());
      this.conn.close('malformed HTTP/2 from the client');
    });
    session.on('close', () => {
      this.upstream?.close();
      if (!this.destroyed) this.conn.endClient('HTTP/2 session closed');
    });
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, raw: string[]): void {
    if (this.destroyed) return;
    const contentType = text(headers['content-type']);
    const grpcType = /^application\/grpc/i.test(contentType) ? contentType : null;
    const ex = new Exchange({
      method: text(headers[':method']), path: pathOf(text(headers[':path'])), http: '2', grpc: grpcType !== null, streamId: stream.id ?? 0,
      header: (name) => { const v = headers[name]; return v === undefined ? undefined : text(v); },
    }, this.conn);
    new H2Exchange(this, stream, ex, grpcType, (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0, raw);
  }

  /** The upstream session ended: the client is told to go away (GOAWAY), and its streams end
   *  as their upstream streams did. */
  private upstreamGone(): void {
    if (this.destroyed || this.probing) return;
    if (this.server !== null && !this.server.closed) this.server.close();
  }

  private startServer(): void {
    this.duplex = new Duplex({
      read: () => {
        const wake = this.wake;
        this.wake = null;
        this.readable = null;
        wake?.();
      },
      write: (chunk: Buffer, _encoding, done) => {
        const wait = this.conn.toClient(chunk);
        if (wait === undefined) done();
        else void wait.then(() => done());
      },
      final: (done) => {
        this.conn.endClient('HTTP/2 session ended');
        done();
      },
    });
    this.duplex.on('error', () => {});
    this.h2.open(this.duplex, this);
  }

  private push(data: Buffer): void | Promise<void> {
    if (this.duplex!.push(data)) return;
    this.readable ??= new Promise((resolve) => { this.wake = resolve; });
    return this.readable;
  }

  private async tryUpgrade(upgrade: H2Upgrade): Promise<void> {
    this.probing = true;
    try {
      const session = await this.upstreamSession();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no SETTINGS from the upstream')), PROBE_MS);
        session.once('remoteSettings', () => { clearTimeout(timer); resolve(); });
        session.once('close', () => { clearTimeout(timer); reject(new Error('closed')); });
      });
    } catch {
      this.probing = false;
      if (this.destroyed || this.conn.closing) return;
      this.destroyed = true;
      this.upstream?.destroy();
      upgrade.decline(this.early ?? EMPTY);
      return;
    }
    this.probing = false;
    if (this.destroyed) return;
    void this.conn.toClient(SWITCHING);
    this.stream1 = upgradeFrames(upgrade.head, upgrade.body);
    this.startServer();
    this.placeStream1();
  }

  /** Once the client's preface and SETTINGS are in, stream 1 goes right after them. */
  private placeStream1(): void {
    const early = this.early!;
    const end = afterPreface(early);
    if (end === null) return;
    if (end < 0) {
      this.conn.rejected('client', 'no HTTP/2 connection preface after 101 Switching Protocols');
      this.conn.close('malformed HTTP/2 from the client');
      return;
    }
    this.early = null;
    void this.push(early.subarray(0, end));
    void this.push(this.stream1!);
    if (early.length > end) void this.push(early.subarray(end));
  }
}

function text(value: string | string[] | undefined): string {
  return value === undefined ? '' : Array.isArray(value) ? value.join(', ') : value;
}
