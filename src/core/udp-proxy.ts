// A UDP proxy: one socket on `listen`; each client address:port gets a session with its own
// upstream socket. Sessions end after `idle_timeout` ms without traffic either way.

import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { nanoid } from 'nanoid';
import { FaultlineError } from '../errors.js';
import { formatHostPort, parseHostPort, reportBound, resolveListen } from './address.js';
import { Proxy, type ProxyDeps } from './proxy.js';
import { UdpSession, type SessionOwner } from './udp-session.js';

export const DEFAULT_IDLE_TIMEOUT = 60_000;
/** Kernel receive buffer asked for, so bursts are not lost before we read them. */
const RECV_BUFFER = 4 * 1024 * 1024;

interface Target { host: string; port: number; family: 4 | 6 }

export class UdpProxy extends Proxy implements SessionOwner {
  readonly protocol = 'udp' as const;
  readonly sessions = new Map<string, UdpSession>();
  private socket: dgram.Socket | null = null;
  private sweeper: NodeJS.Timeout | null = null;
  private target: Target | null = null;
  private seq = 0;
  /** Upstream errors of sessions already closed; the live ones keep their own count. */
  private closedUpstreamErrors = 0;

  constructor(name: string, listen: string, upstream: string, deps: ProxyDeps, public idleTimeout = DEFAULT_IDLE_TIMEOUT) {
    super(name, listen, upstream, deps);
  }

  async start(): Promise<void> {
    if (this.socket !== null) return;
    let bind;
    try {
      bind = await resolveListen(this.listen);
    } catch (err) {
      throw new FaultlineError('ERR_LISTEN', `listen udp: ${(err as Error).message}`);
    }
    this.target = null;
    await this.resolveTarget();
    const v6 = bind.host === '' || isIP(bind.host) === 6;
    const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', recvBufferSize: RECV_BUFFER });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err) => reject(new FaultlineError('ERR_LISTEN', `listen udp ${this.listen}: ${err.message}`)));
      socket.bind({ address: bind.host === '' ? '::' : bind.host, port: bind.port }, () => resolve());
    });
    socket.on('error', (err) => this.reporter.warn(`listener of ${this.name} failed`, { error: err.message }));
    socket.on('message', (data, rinfo) => this.fromClient(data, rinfo));
    const address = socket.address();
    this.listen = reportBound(bind.host === '' ? '' : address.address, address.port);
    this.socket = socket;
    this.enabled = true;
    this.armSweeper();
  }

  async stop(): Promise<void> {
    this.enabled = false;
    const socket = this.socket;
    this.socket = null;
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    for (const session of this.sessions.values()) session.close('proxy stopped');
    if (socket !== null) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), protocol: this.protocol, idle_timeout: this.idleTimeout, sessions: this.sessions.size };
  }

  /** Upstream errors (ICMP unreachable and the like) over every session so far, for metrics. */
  get upstreamErrors(): number {
    let total = this.closedUpstreamErrors;
    for (const session of this.sessions.values()) total += session.upstreamErrors;
    return total;
  }

  setIdleTimeout(ms: number): void {
    this.idleTimeout = ms;
    if (this.socket !== null) this.armSweeper();
  }

  protected live(): Iterable<UdpSession> {
    return this.sessions.values();
  }

  // ---- SessionOwner ----

  sendToClient(data: Buffer, port: number, address: string, failed?: (err: Error) => void): void {
    if (failed === undefined) return void this.socket?.send(data, port, address);
    this.socket?.send(data, port, address, (err) => { if (err) failed(err); });
  }

  sessionClosed(session: UdpSession): void {
    this.closedUpstreamErrors += session.upstreamErrors;
    this.sessions.delete(`${session.clientAddress}\0${session.clientPort}`);
  }

  private fromClient(data: Buffer, rinfo: dgram.RemoteInfo): void {
    const key = `${rinfo.address}\0${rinfo.port}`;
    const session = this.sessions.get(key);
    if (session !== undefined) return session.fromClient(data);
    const target = this.target;
    if (target === null) {
      // The upstream could not be resolved at start; try again, and drop this datagram as a
      // network without a route would.
      void this.resolveTarget();
      return;
    }
    const created = new UdpSession(
      nanoid(12), this.seq++, rinfo.address, rinfo.port, formatHostPort(rinfo.address, rinfo.port), target, this,
    );
    this.sessions.set(key, created);
    created.fromClient(data);
  }

  private resolving: Promise<void> | null = null;

  /** Resolves the upstream before the first session. Errors are warned about, not thrown. */
  resolveTarget(): Promise<void> {
    if (this.resolving !== null) return this.resolving;
    const run = this.lookupTarget();
    // Cleared once settled, not inside lookupTarget: for an IP literal it settles before the
    // assignment below, and a stale promise would make every later start skip the lookup.
    this.resolving = run;
    void run.then(() => { if (this.resolving === run) this.resolving = null; });
    return run;
  }

  private async lookupTarget(): Promise<void> {
    try {
      const { host, port } = parseHostPort(this.upstream);
      const family = isIP(host);
      const address = family !== 0 ? { address: host, family } : await lookup(host);
      this.target = { host: address.address, port, family: address.family === 6 ? 6 : 4 };
    } catch (err) {
      this.reporter.warn(`${this.name}: cannot resolve upstream ${this.upstream}`, { error: (err as Error).message });
    }
  }

  /** Idle sessions are found by a sweep rather than a timer per datagram, off the data path. */
  private armSweeper(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    const every = Math.min(1000, Math.max(10, Math.floor(this.idleTimeout / 4)));
    this.sweeper = setInterval(() => {
      const cutoff = performance.now() - this.idleTimeout;
      for (const session of this.sessions.values()) {
        if (session.lastActivity <= cutoff) session.close('idle');
      }
    }, every);
    this.sweeper.unref();
  }
}
