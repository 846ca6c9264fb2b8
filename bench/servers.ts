// The loopback endpoints the benchmark drives: a sink that discards (and acknowledges the byte
// count when the client half-closes), an echo server, an idle-connection holder, and the bare
// Node pipe() proxy that faultline is compared against.

import net from 'node:net';
import { once } from 'node:events';

export interface Endpoint {
  port: number;
  close(): Promise<void>;
}

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1', 4096);
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

function closer(server: net.Server, sockets: Set<net.Socket>): () => Promise<void> {
  return async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

function tracked(handler: (socket: net.Socket) => void): { server: net.Server; sockets: Set<net.Socket> } {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    handler(socket);
  });
  return { server, sockets };
}

/**
 * Discards everything and replies with the byte count (8 bytes) when the stream ends: at the
 * client's half-close, or at END_MARK, the one byte a bulk client sends after its data, which
 * is all DATA_BYTE. Toxiproxy does not carry a half-close (it closes both sockets on the first
 * FIN, dropping a reply still on its way), so a proxy-neutral end needs the mark; checking the
 * last byte of each chunk finds it. The mark is not counted.
 */
export async function sinkServer(): Promise<Endpoint> {
  const { server, sockets } = tracked((socket) => {
    let bytes = 0;
    let replied = false;
    const reply = (): void => {
      if (replied) return;
      replied = true;
      const count = Buffer.alloc(8);
      count.writeBigUInt64BE(BigInt(bytes));
      socket.end(count);
    };
    socket.on('data', (data: Buffer) => {
      if (data[data.length - 1] === END_MARK) {
        bytes += data.length - 1;
        reply();
      } else {
        bytes += data.length;
      }
    });
    socket.on('end', reply);
  });
  return { port: await listen(server), close: closer(server, sockets) };
}

/** What a bulk client sends (measure.ts pumpUntil), and the byte that follows the last of it. */
export const DATA_BYTE = 0x61;
export const END_MARK = 0x7a;

/** Echoes every byte and half-closes when the client does. */
export async function echoServer(): Promise<Endpoint> {
  const { server, sockets } = tracked((socket) => socket.pipe(socket));
  return { port: await listen(server), close: closer(server, sockets) };
}

/** Accepts connections and keeps them open without reading or writing; counts them. */
export async function holdServer(): Promise<Endpoint & { readonly accepted: () => number; dropAll(): void }> {
  let accepted = 0;
  const { server, sockets } = tracked(() => { accepted++; });
  return {
    port: await listen(server),
    accepted: () => accepted,
    dropAll: () => { for (const s of sockets) s.destroy(); },
    close: closer(server, sockets),
  };
}

/** Dials the upstream for one client, each side tearing the other down on error. */
function dialFor(client: net.Socket, sockets: Set<net.Socket>, port: number, host: string): net.Socket {
  const up = net.connect({ port, host, allowHalfOpen: true, noDelay: true });
  sockets.add(up);
  up.on('error', () => client.destroy());
  up.on('close', () => sockets.delete(up));
  client.on('error', () => up.destroy());
  return up;
}

/**
 * The baseline: for each client, dial the upstream and join the two with pipe() both ways.
 * Half-open is allowed so a FIN travels through like it does in faultline.
 */
export async function pipeProxy(upstreamPort: number, host = '127.0.0.1'): Promise<Endpoint> {
  const { server, sockets } = tracked((client) => {
    const up = dialFor(client, sockets, upstreamPort, host);
    client.pipe(up);
    up.pipe(client);
  });
  return { port: await listen(server), close: closer(server, sockets) };
}

/**
 * The accuracy benchmark's reference: about the least a delaying proxy can do in Node. Each
 * chunk from the upstream goes to the client `ms` after it arrived, timed as faultline's stages
 * time a sleep (a timer 1 ms early, then the check phase until due). What it measures beyond
 * `ms` is what the machine, the loopback and the harness cost, not a toxic chain.
 */
export async function delayProxy(upstreamPort: number, ms: number, host = '127.0.0.1'): Promise<Endpoint> {
  const { server, sockets } = tracked((client) => {
    const up = dialFor(client, sockets, upstreamPort, host);
    client.pipe(up);
    up.on('data', (data: Buffer) => {
      const due = performance.now() + ms;
      const send = (): void => {
        if (performance.now() < due) { setImmediate(send); return; }
        if (!client.destroyed) client.write(data);
      };
      if (ms > 1) setTimeout(send, ms - 1);
      else setImmediate(send);
    });
    up.on('end', () => setTimeout(() => client.end(), ms + 1));
  });
  return { port: await listen(server), close: closer(server, sockets) };
}

/**
 * A loopback port that was free a moment ago, for programs that must be told their port (and
 * cannot report one they chose): bind port 0, read it, close. Another process may take it in
 * between, so callers retry on a failed start.
 */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
