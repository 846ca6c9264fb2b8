// A dns proxy listens on UDP and TCP at one address, as DNS servers do, so a client that gets a
// truncated answer over UDP asks again over TCP at the same address. Port 0 binds UDP on an
// ephemeral port and then TCP on the same one, trying again on a fresh port when TCP's is
// taken; a fixed port must be free for both, or neither is kept.

import dgram from 'node:dgram';
import net from 'node:net';
import { isIP } from 'node:net';
import { FaultlineError } from '../errors.js';
import { formatHostPort, type HostPort } from '../core/address.js';

/** Kernel receive buffer asked for, so bursts are not lost before they are read. */
const RECV_BUFFER = 4 * 1024 * 1024;
const ATTEMPTS = 20;

export interface Bound {
  udp: dgram.Socket;
  tcp: net.Server;
  /** The address bound (`::` for every interface). */
  address: string;
  port: number;
}

export async function bindUdpAndTcp(bind: HostPort): Promise<Bound> {
  for (let attempt = 1; ; attempt++) {
    const udp = await bindUdp(bind);
    const { address, port } = udp.address();
    try {
      const tcp = await listenTcp({ host: bind.host, port });
      return { udp, tcp, address, port };
    } catch (err) {
      udp.close();
      const taken = (err as FaultlineError).cause as NodeJS.ErrnoException | undefined;
      if (bind.port !== 0 || taken?.code !== 'EADDRINUSE' || attempt >= ATTEMPTS) throw err;
    }
  }
}

function listenError(transport: string, bind: HostPort, err: Error): FaultlineError {
  return new FaultlineError('ERR_LISTEN', `listen ${transport} ${formatHostPort(bind.host, bind.port)}: ${err.message}`, { cause: err });
}

async function bindUdp(bind: HostPort): Promise<dgram.Socket> {
  const v6 = bind.host === '' || isIP(bind.host) === 6;
  const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', recvBufferSize: RECV_BUFFER });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', (err) => reject(listenError('udp', bind, err)));
    socket.bind({ address: bind.host === '' ? '::' : bind.host, port: bind.port }, () => resolve());
  });
  return socket;
}

async function listenTcp(bind: HostPort): Promise<net.Server> {
  // Half-open: a client may send its last query and FIN before the answers are back.
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(listenError('tcp', bind, err)));
    server.listen({ host: bind.host === '' ? '::' : bind.host, port: bind.port }, () => resolve());
  });
  return server;
}
