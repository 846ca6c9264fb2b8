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

/** Discards everything; when the client half-closes, replies with the byte count (8 bytes). */
export async function sinkServer(): Promise<Endpoint> {
  const { server, sockets } = tracked((socket) => {
    let bytes = 0;
    socket.on('data', (data: Buffer) => { bytes += data.length; });
    socket.on('end', () => {
      const reply = Buffer.alloc(8);
      reply.writeBigUInt64BE(BigInt(bytes));
      socket.end(reply);
    });
  });
  return { port: await listen(server), close: closer(server, sockets) };
}

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

/**
 * The baseline: for each client, dial the upstream and join the two with pipe() both ways.
 * Half-open is allowed so a FIN travels through like it does in faultline.
 */
export async function pipeProxy(upstreamPort: number, host = '127.0.0.1'): Promise<Endpoint> {
  const { server, sockets } = tracked((client) => {
    const up = net.connect({ port: upstreamPort, host, allowHalfOpen: true, noDelay: true });
    sockets.add(up);
    up.on('error', () => client.destroy());
    up.on('close', () => sockets.delete(up));
    client.on('error', () => up.destroy());
    client.pipe(up);
    up.pipe(client);
  });
  return { port: await listen(server), close: closer(server, sockets) };
}
