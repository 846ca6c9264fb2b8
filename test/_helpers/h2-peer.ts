// Raw HTTP/2 peers for the relay's tests: a client or a server that writes frames by hand, for
// what node:http2 will not send on demand (a refusal crossing a push's end, a header block that
// never ends) and to see exactly which frames arrive, in which order.

import net from 'node:net';
import { once } from 'node:events';
import { FLAG, FrameReader, PREFACE, TYPE, frame, type Frame } from './h2-frames.js';
import { until } from './http.js';

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** A literal header field without indexing, its name a static table index (RFC 7541 6.2.2). */
function lit(index: number, value: string): Buffer {
  return Buffer.concat([Buffer.from([index, value.length]), Buffer.from(value, 'latin1')]);
}

/** A request's header block: GET (or POST) `path` on authority x. */
export function requestBlock(path: string, post = false): Buffer {
  return Buffer.concat([Buffer.from([post ? 0x83 : 0x82, 0x86]), lit(4, path), lit(1, 'x')]);
}

export interface RawPeer {
  reader: FrameReader;
  /** The first frame that passes `check`, within 10 s. */
  wait(what: string, check: (f: Frame) => boolean): Promise<Frame>;
}

/** Reads frames from a socket (a server skips the client's preface first), acknowledging
 *  SETTINGS and answering PING unless `mute`. */
export function rawPeer(socket: net.Socket, server: boolean, onFrame: (f: Frame) => void = () => {}, mute = false): RawPeer {
  let head: Buffer | null = server ? Buffer.alloc(0) : null;
  const reader = new FrameReader((f) => {
    if (mute) return;
    if (f.type === TYPE.SETTINGS && (f.flags & FLAG.ACK) === 0) socket.write(frame(TYPE.SETTINGS, FLAG.ACK, 0));
    if (f.type === TYPE.PING && (f.flags & FLAG.ACK) === 0) socket.write(frame(TYPE.PING, FLAG.ACK, 0, f.payload));
    onFrame(f);
  });
  socket.on('error', () => {});
  socket.on('data', (d: Buffer) => {
    if (head !== null) {
      head = Buffer.concat([head, d]);
      if (head.length < PREFACE.length) return;
      d = head.subarray(PREFACE.length);
      head = null;
    }
    reader.push(d);
  });
  return {
    reader,
    async wait(what, check) {
      let found: Frame | undefined;
      await until(() => (found = reader.frames.find(check)) !== undefined, 10_000, what);
      return found!;
    },
  };
}

/** A client connected to `port` that has sent its preface and SETTINGS, and `first` with them. */
export async function rawClient(port: number, first: Buffer[] = [], mute = false): Promise<RawPeer & { socket: net.Socket }> {
  const socket = net.connect(port, '127.0.0.1');
  const peer = rawPeer(socket, false, () => {}, mute);
  await once(socket, 'connect');
  socket.write(Buffer.concat([PREFACE, frame(TYPE.SETTINGS, 0, 0), ...first]));
  return { socket, ...peer };
}

/** A server that sends its SETTINGS and shows `onFrame` each frame after the client's preface. */
export async function rawUpstream(onFrame: (f: Frame, socket: net.Socket) => void): Promise<{ address: string; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.write(frame(TYPE.SETTINGS, 0, 0));
    rawPeer(socket, true, (f) => onFrame(f, socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () => { for (const s of sockets) s.destroy(); server.close(); },
  };
}
