// The upstream connection of an HTTP/1.1 session: dialled when the first request is forwarded,
// read through a ReadSlot as a TCP connection's sockets are, its responses handed to the
// response side and its end or failure passed on to the client's connection.

import type net from 'node:net';
import { ReadSlot } from '../core/socket-reader.js';
import { feed, writeSocket } from './byte-link.js';
import type { HttpConnection } from './connection.js';
import { MORE, type Step } from './h1-output.js';

export class H1Upstream {
  private socket: net.Socket | null = null;
  private readonly reads = new ReadSlot();

  constructor(
    private readonly conn: HttpConnection,
    private readonly onData: (data: Buffer) => void | Promise<void>,
    private readonly onEnd: () => void,
  ) {}

  /** Writes request bytes, dialling first if need be; a promise while it must wait. */
  send(data: Buffer): Step {
    const socket = this.socket;
    if (socket === null) return this.conn.upstream(this.reads).then((s) => writeSocket(this.attach(s), data));
    return writeSocket(socket, data) ?? MORE;
  }

  /** Passes the client's FIN on, if the upstream was ever dialled. */
  end(): void {
    if (this.socket !== null && !this.socket.destroyed) this.socket.end();
  }

  private attach(socket: net.Socket): net.Socket {
    if (this.socket !== null) return this.socket;
    this.socket = socket;
    feed(socket, this.reads, this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (this.conn.closing) return;
      if (err.code === 'ECONNRESET') this.conn.reset('upstream reset');
      else this.conn.destroy(`upstream error: ${err.code ?? err.message}`);
    });
    return socket;
  }
}
