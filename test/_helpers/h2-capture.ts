// Captures what node:http2 (nghttp2) puts on the wire, from the other end of a raw socket: the
// header blocks a real client sends to a server that only records bytes, and those a real
// server sends back to a client that writes frames by hand.

import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { FLAG, FrameReader, PREFACE, TYPE, frame, type HeaderBlock } from './h2-frames.js';

async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Runs `send` with a node:http2 client session connected to a raw server, and returns the
 *  first `count` header blocks the client sent, in wire order. */
export async function captureClientBlocks(
  count: number,
  send: (session: http2.ClientHttp2Session, authority: string) => void,
  options: http2.ClientSessionOptions = {},
): Promise<HeaderBlock[]> {
  const reader = new FrameReader();
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    socket.write(frame(TYPE.SETTINGS, 0, 0));
    let head = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      if (head.length < PREFACE.length) {
        head = Buffer.concat([head, chunk]);
        if (head.length < PREFACE.length) return;
        if (!head.subarray(0, PREFACE.length).equals(PREFACE)) throw new Error('no HTTP/2 client preface');
        chunk = head.subarray(PREFACE.length);
      }
      reader.push(chunk);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const authority = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const session = http2.connect(`http://${authority}`, options);
  session.on('error', () => {});
  try {
    send(session, authority);
    await waitFor(() => reader.blocks.length >= count, 10_000, `${count} header blocks from the client`);
    return reader.blocks.slice(0, count);
  } finally {
    session.destroy();
    for (const s of sockets) s.destroy();
    server.close();
  }
}

export interface RawExchange {
  /** The server's header blocks in wire order (responses and trailers). */
  blocks: HeaderBlock[];
  /** Every frame type the server sent, in order (a GOAWAY would mean it refused something). */
  frameTypes: number[];
}

/** Opens a raw connection to an HTTP/2 server, sends one request per block (streams 1, 3, 5 ...,
 *  each HEADERS with END_STREAM), and collects the server's frames until every stream has
 *  ended with a header block carrying END_STREAM (its trailers). */
export async function rawExchange(port: number, requestBlocks: Buffer[]): Promise<RawExchange> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  const reader = new FrameReader((f) => {
    if (f.type === TYPE.SETTINGS && !(f.flags & FLAG.ACK)) socket.write(frame(TYPE.SETTINGS, FLAG.ACK, 0));
  });
  socket.on('data', (chunk: Buffer) => reader.push(chunk));
  await once(socket, 'connect');
  socket.write(Buffer.concat([
    PREFACE,
    frame(TYPE.SETTINGS, 0, 0),
    ...requestBlocks.map((block, i) => frame(TYPE.HEADERS, FLAG.END_STREAM | FLAG.END_HEADERS, 1 + 2 * i, block)),
  ]));
  const ended = () => reader.blocks.filter((b) => b.flags & FLAG.END_STREAM).length;
  try {
    await waitFor(() => ended() >= requestBlocks.length || reader.frames.some((f) => f.type === TYPE.GOAWAY),
      10_000, `${requestBlocks.length} ended streams from the server`);
    return { blocks: reader.blocks, frameTypes: reader.frames.map((f) => f.type) };
  } finally {
    socket.destroy();
  }
}
