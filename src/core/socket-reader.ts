// How proxied TCP sockets read: through the socket's `onread` option, which skips the Readable
// machinery per read (push, 'data' listeners, a fresh 64 KB allocation each time).
//
// Small reads land in one buffer every socket shares and are copied out at once, so a socket
// that is idle, or trades small messages, holds no buffer of its own. Once a read is large
// (bulk transfer), the socket reads into a 64 KB buffer of its own with no copy at all: when
// the data was handed to the kernel before the callback returns (the bare path, almost always),
// the same buffer takes the next read; when something keeps it (a toxic's queue, a write the
// kernel has not taken yet), that memory is theirs and the socket takes another from a pool.
// Sharing is safe because the shared buffer is only ever read from inside its own callback.

import net from 'node:net';

const OWN_SIZE = 64 * 1024;
/** A read at least this large moves the socket to a buffer of its own. */
const LARGE = 16 * 1024;
/** A read this small moves it back to the shared one. */
const SMALL = 4 * 1024;
const SHARED = Buffer.allocUnsafeSlow(OWN_SIZE);
/** A socket whose reads are kept (toxics on its path) reads along a larger slab. */
const KEPT_SIZE = 1024 * 1024;
const pool: Buffer[] = [];
const POOL_MAX = 256;

/** Receives a read; returns true when it is done with the bytes (they may be overwritten). */
export type ReadHandler = (data: Buffer) => boolean;

/** Where a socket's reads go. Until a handler is set, reads wait here in order. */
export class ReadSlot {
  private handler: ReadHandler | null = null;
  private early: Buffer[] | null = null;
  private own: Buffer | null = null;
  private next: Buffer = SHARED;

  /** Routes reads to `handler` from now on, after any that arrived before it. */
  set(handler: ReadHandler): void {
    this.handler = handler;
    const early = this.early;
    this.early = null;
    for (const data of early ?? []) handler(data);
  }

  /** The socket's `onread` option. The callback returns true: keep reading (pausing is the
   *  link's business, through socket.pause). */
  readonly options = {
    buffer: (): Buffer => this.next,
    callback: (n: number, buf: Uint8Array): boolean => {
      if (buf === SHARED) {
        const data = Buffer.allocUnsafe(n);
        SHARED.copy(data, 0, 0, n);
        this.deliver(data);
        this.next = n >= LARGE ? (this.own ??= pool.pop() ?? Buffer.allocUnsafeSlow(OWN_SIZE)) : SHARED;
        return true;
      }
      const own = this.own!;
      if (this.deliver(own.subarray(0, n))) {
        if (n <= SMALL) {
          if (pool.length < POOL_MAX) pool.push(own);
          this.own = null;
          this.next = SHARED;
        }
        return true;
      }
      // Kept (a toxic's queue, a write not yet taken): the memory is the chunk's now. Further
      // reads go into the rest of the same buffer while at least a large read's worth is left,
      // so a kept buffer costs one allocation per few reads, not one per read.
      const rest = own.subarray(n);
      this.own = rest.length >= OWN_SIZE / 2 ? rest : null;
      this.next = n <= SMALL ? SHARED : (this.own ??= Buffer.allocUnsafeSlow(KEPT_SIZE));
      return true;
    },
  };

  private deliver(data: Buffer): boolean {
    if (this.handler !== null) return this.handler(data);
    (this.early ??= []).push(data);
    return false;
  }
}

/** Node's own slots for an `onread` socket, found by name on a socket it built. */
const ONREAD_SLOTS = (() => {
  const probe = Object.getOwnPropertySymbols(new net.Socket());
  const find = (name: string) => probe.find((sym) => sym.description === name);
  const [buffer, callback, gen] = [find('kBuffer'), find('kBufferCb'), find('kBufferGen')];
  return buffer && callback && gen ? { buffer, callback, gen } : null;
})();

/**
 * Gives a server-accepted socket the `onread` it could not be created with (the server takes no
 * such option). Call it before the socket reads (the server pauses on connect). Node keeps the
 * option in three symbols on the socket; where a Node version lacks them, the socket is re-made
 * around the same handle instead, which costs a second socket object until it is collected.
 */
export function adoptAccepted(accepted: net.Socket, slot: ReadSlot): net.Socket {
  const handle = (accepted as unknown as { _handle: { useUserBuffer?(buf: Uint8Array): void } | null })._handle;
  if (ONREAD_SLOTS !== null && handle?.useUserBuffer !== undefined) {
    const first = slot.options.buffer();
    Object.assign(accepted, {
      [ONREAD_SLOTS.buffer]: first, [ONREAD_SLOTS.callback]: slot.options.callback, [ONREAD_SLOTS.gen]: slot.options.buffer,
    });
    handle.useUserBuffer(first);
    return accepted;
  }
  (accepted as unknown as { _handle: unknown })._handle = null;
  // Paused, as the server's own socket was, until the connection is joined.
  return new net.Socket({ handle, allowHalfOpen: true, pauseOnCreate: true, onread: slot.options } as net.SocketConstructorOpts);
}

/** Reads are discarded: a socket being closed must keep reading, or its FIN becomes an RST. */
export function discard(): boolean {
  return true;
}
