// The UDP part of `npm run bench`: datagrams per second of a windowed echo (a fixed number of
// datagrams in flight, each reply releasing the next) through direct loopback, a bare Node
// dgram relay, and faultline's UDP proxy with no toxics. As for TCP, the proxies run either in
// the benchmark process or in a child process (bench/child.ts `udp`), and the targets are
// measured round-robin so drift in machine load hits them all.
//
// Run alone with `node dist/bench/udp.js [--quick]`; run.ts includes it in the full report.

import dgram from 'node:dgram';
import { once } from 'node:events';
import { createServer, type FaultlineServer } from '../src/index.js';
import { median } from './measure.js';
import type { Endpoint } from './servers.js';
import { api, spawnChild, type Placement } from './targets.js';
import { runIfMain } from './standalone.js';

const HOST = '127.0.0.1';
/** Kernel buffers for every socket here, as faultline asks for on its listener. */
const BUFFER = 4 * 1024 * 1024;

export type UdpTargetName = 'direct' | 'relay' | 'bare';
export const UDP_TARGETS: readonly UdpTargetName[] = ['direct', 'relay', 'bare'];
export const UDP_LABELS: Record<UdpTargetName, string> = {
  direct: 'direct',
  relay: 'dgram relay',
  bare: 'faultline bare',
};

export interface UdpSettings {
  runs: number;
  runMs: number;
  window: number;
  size: number;
}

export const udpSettings = (quick: boolean): UdpSettings => ({ runs: quick ? 3 : 5, runMs: quick ? 700 : 600, window: 64, size: 100 });

export interface UdpPlacementResults {
  /** Median datagrams per second (round trips, each one datagram out and one back) over the runs. */
  datagramsPerSecond: Record<UdpTargetName, number>;
  runs: Record<UdpTargetName, number[]>;
  /** Datagrams that never came back, over all runs (the kernel dropped them; should be 0). */
  lost: Record<UdpTargetName, number>;
}

export interface UdpResults {
  settings: UdpSettings;
  inProcess: UdpPlacementResults;
  child: UdpPlacementResults;
}

function bind(socket: dgram.Socket, port = 0): Promise<number> {
  socket.bind(port, HOST);
  return once(socket, 'listening').then(() => socket.address().port);
}

const closeSocket = (socket: dgram.Socket): Promise<void> => new Promise((resolve) => socket.close(() => resolve()));

/** Sends every datagram back to where it came from. */
export async function udpEchoServer(): Promise<Endpoint> {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: BUFFER, sendBufferSize: BUFFER });
  socket.on('message', (data, rinfo) => socket.send(data, rinfo.port, rinfo.address));
  return { port: await bind(socket), close: () => closeSocket(socket) };
}

/**
 * The baseline: the simplest correct UDP relay. Each client address:port gets its own upstream
 * socket (connected, so replies are told apart by socket), and what comes back on it goes to
 * that client from the listening socket. Datagrams that arrive before the connect completes
 * wait for it. No idle expiry: a benchmark's clients are few.
 */
export async function udpRelay(upstreamPort: number): Promise<Endpoint> {
  const listener = dgram.createSocket({ type: 'udp4', recvBufferSize: BUFFER });
  const sessions = new Map<string, { socket: dgram.Socket; early: Buffer[] | null }>();
  listener.on('message', (data, rinfo) => {
    const key = `${rinfo.address}:${rinfo.port}`;
    let session = sessions.get(key);
    if (session === undefined) {
      const socket = dgram.createSocket('udp4');
      const created = { socket, early: [] as Buffer[] | null };
      session = created;
      sessions.set(key, created);
      socket.on('error', () => {});
      socket.on('message', (reply) => listener.send(reply, rinfo.port, rinfo.address));
      socket.connect(upstreamPort, HOST, () => {
        for (const early of created.early ?? []) socket.send(early);
        created.early = null;
      });
    }
    if (session.early !== null) session.early.push(data);
    else session.socket.send(data);
  });
  const port = await bind(listener);
  return {
    port,
    async close() {
      await Promise.all([...sessions.values()].map((s) => closeSocket(s.socket)));
      await closeSocket(listener);
    },
  };
}

/** A UDP proxy on 127.0.0.1:0 in the faultline server at `base`; returns its bound port. */
export async function faultlineUdpProxy(base: string, name: string, upstreamPort: number): Promise<number> {
  const proxy = await api(base, 'POST', '/proxies', {
    name, listen: `${HOST}:0`, upstream: `${HOST}:${upstreamPort}`, protocol: 'udp',
  });
  const listen = String(proxy.listen);
  return Number(listen.slice(listen.lastIndexOf(':') + 1));
}

/**
 * Windowed echo for `ms`: `window` datagrams of `size` bytes in flight, each reply releasing
 * the next. The clock stops at the last reply. Should the kernel drop a datagram, the window
 * is refilled after 200 ms of silence and the loss counted, so the run still ends.
 */
export async function udpEchoRate(port: number, ms: number, window: number, size: number): Promise<{ perSecond: number; lost: number }> {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: BUFFER, sendBufferSize: BUFFER });
  socket.on('error', () => {});
  await bind(socket);
  socket.connect(port, HOST);
  await once(socket, 'connect');
  const message = Buffer.alloc(size, 0x75);
  let sent = 0;
  let received = 0;
  let lost = 0;
  let stopping = false;
  const start = performance.now();
  const stopAt = start + ms;
  let lastReply = start;
  let progressAt = start;
  const result = await new Promise<{ received: number; end: number }>((resolve) => {
    const finish = (): void => { clearInterval(watchdog); resolve({ received, end: lastReply }); };
    socket.on('message', () => {
      received++;
      lastReply = progressAt = performance.now();
      if (!stopping && lastReply < stopAt) { sent++; socket.send(message); return; }
      stopping = true;
      if (received + lost === sent) finish();
    });
    const watchdog = setInterval(() => {
      const now = performance.now();
      if (now - progressAt < 200) return;
      lost = sent - received;
      if (stopping || now >= stopAt) return finish();
      progressAt = now;
      for (let i = 0; i < window; i++) { sent++; socket.send(message); }
    }, 50);
    for (let i = 0; i < window; i++) { sent++; socket.send(message); }
  });
  await closeSocket(socket);
  return { perSecond: result.received / ((result.end - start) / 1000), lost };
}

/** The three targets in front of one echo server, with the proxies placed as asked. */
async function buildUdpTargets(placement: Placement, echoPort: number): Promise<{ ports: Record<UdpTargetName, number>; close(): Promise<void> }> {
  if (placement === 'inProcess') {
    const relay = await udpRelay(echoPort);
    const server: FaultlineServer = await createServer({ port: 0, seed: 1 });
    const bare = await faultlineUdpProxy(server.url, 'udp_bare', echoPort);
    return {
      ports: { direct: echoPort, relay: relay.port, bare },
      async close() { await server.close(); await relay.close(); },
    };
  }
  // As for TCP, the relay and faultline share one child process, so they get the same core.
  const child = await spawnChild(['udp', String(echoPort)]);
  const relayPort = (child.hello.udpPorts as number[])[0]!;
  const bare = await faultlineUdpProxy(String(child.hello.url), 'udp_bare', echoPort);
  return { ports: { direct: echoPort, relay: relayPort, bare }, close: child.stop };
}

export async function measureUdp(placement: Placement, settings: UdpSettings, log: (line: string) => void): Promise<UdpPlacementResults> {
  const echo = await udpEchoServer();
  const { ports, close } = await buildUdpTargets(placement, echo.port);
  const runs = { direct: [], relay: [], bare: [] } as Record<UdpTargetName, number[]>;
  const lost = { direct: 0, relay: 0, bare: 0 } as Record<UdpTargetName, number>;
  try {
    // Unrecorded warm-up, so no target pays for the JIT or for creating its session.
    for (const t of UDP_TARGETS) await udpEchoRate(ports[t], 200, settings.window, settings.size);
    for (let run = 0; run < settings.runs; run++) {
      for (const t of UDP_TARGETS) {
        const r = await udpEchoRate(ports[t], settings.runMs, settings.window, settings.size);
        runs[t].push(r.perSecond);
        lost[t] += r.lost;
        log(`[${placement}] udp ${t} run ${run + 1}: ${Math.round(r.perSecond)} datagrams/s${r.lost ? ` (${r.lost} lost)` : ''}`);
      }
    }
  } finally {
    await close();
    await echo.close();
  }
  const datagramsPerSecond = { direct: median(runs.direct), relay: median(runs.relay), bare: median(runs.bare) };
  return { datagramsPerSecond, runs, lost };
}

export async function measureAllUdp(quick: boolean, log: (line: string) => void): Promise<UdpResults> {
  const settings = udpSettings(quick);
  const inProcess = await measureUdp('inProcess', settings, log);
  const child = await measureUdp('child', settings, log);
  return { settings, inProcess, child };
}

// `node dist/bench/udp.js [--quick] [--json]`: the UDP part alone.
runIfMain(import.meta.url, {
  measure: measureAllUdp,
  render: async () => {
    const report = await import('./report.js');
    return { format: report.formatUdp, checks: report.udpChecks };
  },
});
