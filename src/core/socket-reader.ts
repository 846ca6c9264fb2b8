// How proxied TCP sockets read. Every one reads into a single shared buffer through the socket's
// `onread` option, and each read is copied out of it at once into a buffer of its exact size.
// That skips the Readable machinery per read (push, 'data' listeners), lets one read take up to
// 256 KB when the kernel holds that much (Node's default is 64 KB), and costs an idle socket no
// buffer at all: one memcpy per read buys all three. Sharing is safe because a read's callback
// runs to completion before any other socket's read lands in the buffer.

import net from 'node:net';

const READ_BUFFER = Buffer.allocUnsafeSlow(256 * 1024);

/** Where a socket's reads go. Until a handler is set, reads wait here in order. */
export class ReadSlot {
  private handler: ((data: Buffer) => void) | null = null;
  private early: Buffer[] = [];

  /** Routes reads to `handler` from now on, after any that arrived before it. */
  set(handler: (data: Buffer) => void): void {
    this.handler = handler;
    const early = this.early;
    this.early = [];
    for (const data of early) handler(data);
  }

  /** The socket's `onread` option. */
  readonly options = {
    buffer: READ_BUFFER,
    // True: keep reading. Pausing is the link's business (socket.pause), not the read's.
    callback: (n: number, buf: Uint8Array): boolean => {
      const data = Buffer.allocUnsafe(n);
      data.set(buf.subarray(0, n));
      if (this.handler !== null) this.handler(data);
      else this.early.push(data);
      return true;
    },
  };
}

/**
 * A server-accepted socket, re-made around the same handle so it reads through `slot`: the
 * server cannot give its sockets an `onread`. Call it before the socket reads (the server pauses
 * on connect); the original object is left without a handle and is never used again.
 */
export function adoptAccepted(accepted: net.Socket, slot: ReadSlot): net.Socket {
  const handle = (accepted as unknown as { _handle: unknown })._handle;
  (accepted as unknown as { _handle: unknown })._handle = null;
  // Paused, as the server's own socket was, until the connection is joined.
  return new net.Socket({ handle, allowHalfOpen: true, pauseOnCreate: true, onread: slot.options } as net.SocketConstructorOpts);
}

/** Reads are discarded: a socket being closed must keep reading, or its FIN becomes an RST. */
export function discard(): void {}
