// A UDP proxy: one socket on `listen`; each client address:port gets a session with its own
// upstream socket. Sessions end after `idle_timeout` ms without traffic either way.

import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { nanoid } from 'nanoid';
import { FaultlineError } from '../errors.js';
import { formatHostPort, parseHostPort, reportBound, type HostPort } from './address.js';
import { proxiedFds } from './fd-budget.js';
import { Proxy, type Listener, type ProxyDeps } from './proxy.js';
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

  protected async bindListener(bind: HostPort): Promise<Listener> {
    this.target = null;
    await this.resolveTarget();
    const v6 = bind.host === '' || isIP(bind.host) === 6;
    const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', recvBufferSize: RECV_BUFFER });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err) => reject(new FaultlineError('ERR_LISTEN', `listen udp ${formatHostPort(bind.host, bind.port)}: ${err.message}`, { cause: err })));
      socket.bind({ address: bind.host === '' ? '::' : bind.host, port: bind.port }, () => resolve());
    });
    socket.on('error', (err) => this.reporter.warn(`listener of ${this.name} failed`, { error: err.message }));
    const bound = socket.address();
    let open = true;
    return {
      address: reportBound(bind.host === '' ? '' : bound.address, bound.port),
      // Until then datagrams are dropped, as a port nobody serves yet would.
      activate: () => {
        this.socket = socket;
        socket.on('message', (data, rinfo) => this.fromClient(data, rinfo));
      },
      close: async () => {
        if (!open) return;
        open = false;
        if (this.socket === socket) this.socket = null;
        await new Promise<void>((resolve) => socket.close(() => resolve()));
      },
    };
  }

  dropLive(reason: string): void {
    for (const session of this.sessions.values()) session.close(reason);
  }

  protected override listening(on: boolean): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    if (on) this.armSweeper();
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
    if (this.enabled) this.armSweeper();
  }

  /** A new upstream is looked up afresh: the cached address is the old one's. */
  override setUpstream(upstream: string): void {
    if (upstream === this.upstream) return;
    super.setUpstream(upstream);
    this.target = null;
    this.resolving = null;
    void this.resolveTarget();
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
    proxiedFds.release(1);
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
    if (!this.admit(rinfo)) return;
    const created = new UdpSession(
      nanoid(12), this.seq++, rinfo.address, rinfo.port, formatHostPort(rinfo.address, rinfo.port), target, this,
    );
    this.sessions.set(key, created);
    created.fromClient(data);
  }

  private resolving: Promise<void> | null = null;

  /** Whether a new session may start: the proxy's cap, then the descriptors every proxy shares
   *  (one for the session's upstream socket). A refused datagram is dropped, and reported. */
  private admit(rinfo: dgram.RemoteInfo): boolean {
    const live = this.sessions.size;
    const limit = this.maxConnections > 0 && live >= this.maxConnections ? 'max_connections'
      : !proxiedFds.take(1) ? 'file_descriptors' : null;
    if (limit === null) return true;
    this.reporter.fault({
      proxy: this.name, protocol: this.protocol, conn: '', client: formatHostPort(rinfo.address, rinfo.port),
      toxic: limit, type: limit, stream: 'upstream', action: 'refused',
      detail: limit === 'max_connections' ? { max_connections: this.maxConnections, live } : { in_use: proxiedFds.inUse, capacity: proxiedFds.capacity, live },
    });
    return false;
  }

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
