// A dns proxy: UDP and TCP listeners at one address (listen.ts), forwarding each query to the
// upstream resolver over the transport it came by (one shared UDP socket, one TCP connection per
// client connection), with DNS toxics decided per query (flow.ts). It is one more kind of Proxy:
// the Collection creates, changes, persists and restores it like the others, through the
// factory server.ts gives it. Byte-stream toxics do not apply: dns_delay and dns_drop are the
// network's faults here, per query.

import type dgram from 'node:dgram';
import type net from 'node:net';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { isDnsToxic, type FaultAction, type FaultDetail, type RandomSource } from '../toxic.js';
import { formatHostPort, parseHostPort, reportBound, type HostPort } from '../core/address.js';
import { proxiedFds } from '../core/fd-budget.js';
import type { ConnectionDescription } from '../core/live-base.js';
import { Proxy, type Listener, type LiveConnection } from '../core/proxy.js';
import type { ToxicConfig } from '../core/toxic-config.js';
import { runQuery, type Exchange, type FlowHost, type Source } from './flow.js';
import { bindUdpAndTcp } from './listen.js';
import { parseQuery } from './message.js';
import { DnsTcpClient, type TcpClientOwner } from './tcp-client.js';
import { MAX_IN_FLIGHT, MAX_PER_CLIENT, UdpClients, UdpExchange, type UdpSide } from './udp-exchange.js';
import { UdpUpstream, type Target } from './upstream-udp.js';

const SWEEP_MS = 250;

export class DnsProxy extends Proxy implements FlowHost, TcpClientOwner, UdpSide {
  readonly protocol = 'dns' as const;
  readonly tcpClients = new Set<DnsTcpClient>();
  epoch = 0;
  private udp: dgram.Socket | null = null;
  private upstreamUdp: UdpUpstream | null = null;
  private resolved: Target | null = null;
  private resolving: Promise<void> | null = null;
  private readonly udpClients = new UdpClients();
  private readonly randoms = new Map<string, RandomSource>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private sweeper: NodeJS.Timeout | null = null;
  private dnsList: readonly ToxicConfig[] = [];
  private ids: RandomSource | null = null;

  protected async bindListener(bind: HostPort): Promise<Listener> {
    await this.resolveTarget();
    const { udp, tcp, address, port } = await bindUdpAndTcp(bind);
    let waiting: net.Socket[] | null = [];
    tcp.on('connection', (socket) => { if (waiting === null) this.accept(socket); else waiting.push(socket); });
    tcp.on('error', (err) => this.reporter.warn(`tcp listener of ${this.name} failed`, { error: err.message }));
    udp.on('error', (err) => this.reporter.warn(`udp listener of ${this.name} failed`, { error: err.message }));
    let open = true;
    return {
      address: reportBound(bind.host === '' ? '' : address, port),
      // Until then datagrams are dropped and connections wait, as on a port nobody serves yet.
      activate: () => {
        this.udp = udp;
        udp.on('message', (message, rinfo) => this.fromClient(message, rinfo));
        const early = waiting ?? [];
        waiting = null;
        for (const socket of early) this.accept(socket);
      },
      close: async () => {
        if (!open) return;
        open = false;
        if (this.udp === udp) this.udp = null;
        for (const socket of waiting ?? []) socket.destroy();
        waiting = [];
        tcp.close();
        await new Promise<void>((resolve) => udp.close(() => resolve()));
      },
    };
  }

  dropLive(reason: string): void {
    this.epoch++;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.upstreamUdp?.close('stopped');
    this.upstreamUdp = null;
    this.udpClients.clear();
    for (const client of this.tcpClients) client.destroy(reason);
  }

  protected live(): Iterable<LiveConnection> {
    return [];
  }

  override describeLive(): ConnectionDescription[] {
    return [...this.tcpClients].map((c) => c.describe());
  }

  override liveBytes(): { up: number; down: number; count: number } {
    let up = 0;
    let down = 0;
    for (const c of this.tcpClients) {
      const b = c.bytes();
      up += b.up;
      down += b.down;
    }
    return { up, down, count: this.tcpClients.size };
  }

  protected override listening(on: boolean): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    if (!on) return;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), protocol: this.protocol };
  }

  /** A new upstream is looked up afresh; queries in flight to the old one are dropped. */
  override setUpstream(upstream: string): void {
    if (upstream === this.upstream) return;
    super.setUpstream(upstream);
    this.resolved = null;
    this.resolving = null;
    this.upstreamUdp?.close('stopped');
    this.upstreamUdp = null;
    void this.resolveTarget();
  }

  // Toxics act from the next query on: there are no chains to change.
  override async addToxic(config: ToxicConfig): Promise<void> {
    this.randoms.set(config.name, this.deps.random.fork(`dns/${config.name}`));
    this.toxics.push(config);
    this.toxicsChanged();
  }

  override async updateToxic(config: ToxicConfig): Promise<void> {
    const index = this.toxics.findIndex((t) => t.name === config.name);
    if (index < 0) return;
    this.toxics[index] = config;
    this.toxicsChanged();
  }

  override async removeToxic(name: string): Promise<void> {
    this.toxics = this.toxics.filter((t) => t.name !== name);
    this.randoms.delete(name);
    this.toxicsChanged();
  }

  protected override toxicsChanged(): void {
    this.dnsList = this.toxics.filter((t) => isDnsToxic(t.definition));
  }

  // ---- FlowHost ----

  get hasToxics(): boolean { return this.dnsList.length > 0; }

  dnsToxics(): readonly ToxicConfig[] { return this.dnsList; }

  /** A toxic's stream, forked when it was added: the same seed and queries give the same rolls. */
  random(toxic: string): RandomSource {
    let r = this.randoms.get(toxic);
    if (r === undefined) this.randoms.set(toxic, (r = this.deps.random.fork(`dns/${toxic}`)));
    return r;
  }

  report(x: Exchange, source: Source, action: FaultAction, detail: FaultDetail): void {
    const question = x.query.question;
    this.fault(x.client, x.conn, source, action, {
      name: question?.match ?? '', qtype: question?.type ?? '', transport: x.transport, query_id: x.query.id, ...detail,
    });
  }

  later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => { this.timers.delete(timer); fn(); }, ms);
    this.timers.add(timer);
  }

  // ---- TcpClientOwner, UdpSide ----

  target(): Target | null { return this.resolved; }

  firstId(): number {
    this.ids ??= this.deps.random.fork('dns/ids');
    return this.ids.int(0, 0xffff);
  }

  query(x: Exchange): void { runQuery(this, x); }

  malformed(client: string, conn: string, reason: string, bytes: number): void {
    this.fault(client, conn, { name: 'malformed_query', type: 'malformed_query' }, 'rejected', { reason, bytes, transport: conn === '' ? 'udp' : 'tcp' });
  }

  closed(client: DnsTcpClient): void {
    if (this.tcpClients.delete(client)) proxiedFds.release(2);
  }

  sendToClient(answer: Buffer, port: number, address: string): void {
    this.udp?.send(answer, port, address);
  }

  forwardUdp(message: Buffer, done: (answer: Buffer | null, reason: string) => void): boolean {
    if (this.upstreamUdp === null) {
      const target = this.resolved;
      if (target === null) {
        void this.resolveTarget();
        done(null, 'upstream unresolved');
        return true;
      }
      this.upstreamUdp = new UdpUpstream(target, MAX_IN_FLIGHT, this.firstId(), (m, context) =>
        this.reporter.warn(`${this.name}: ${m}`, { ...context, upstream: this.upstream }));
    }
    return this.upstreamUdp.send(message, done);
  }

  released(key: string): void {
    this.udpClients.release(key);
  }

  /** Upstream errors (ICMP unreachable) of the current UDP upstream socket, for metrics. */
  get upstreamErrors(): number {
    return this.upstreamUdp?.errors ?? 0;
  }

  private fromClient(message: Buffer, rinfo: dgram.RemoteInfo): void {
    const query = parseQuery(message);
    if (typeof query === 'string') return this.malformed(formatHostPort(rinfo.address, rinfo.port), '', query, message.length);
    const key = `${rinfo.address} ${rinfo.port}`;
    const refused = this.udpClients.admit(key);
    if (refused !== null) {
      const detail: FaultDetail = refused === 'outstanding_queries' ? { max_per_client: MAX_PER_CLIENT } : { max_in_flight: MAX_IN_FLIGHT };
      return this.fault(formatHostPort(rinfo.address, rinfo.port), '', { name: refused, type: refused }, 'refused', { ...detail, transport: 'udp' });
    }
    runQuery(this, new UdpExchange(this, message, query, rinfo, key));
  }

  private fault(client: string, conn: string, source: Source, action: FaultAction, detail: FaultDetail): void {
    const stream = 'stream' in source ? source.stream : source.type === 'upstream_failed' || source.type === 'malformed_answer' ? 'downstream' : 'upstream';
    this.reporter.fault({ proxy: this.name, protocol: 'dns', conn, client, toxic: source.name, type: source.type, stream, action, detail });
  }

  private sweep(): void {
    const now = performance.now();
    this.upstreamUdp?.expire(now);
    for (const client of this.tcpClients) client.sweep(now);
  }

  /** The proxy's max_connections, then the descriptors every proxy shares (the client's and
   *  its upstream connection's); a refused client is reset at once, and reported. */
  private accept(socket: net.Socket): void {
    const client = formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    socket.on('error', () => {});
    const live = this.tcpClients.size;
    const limit = this.maxConnections > 0 && live >= this.maxConnections ? 'max_connections' : !proxiedFds.take(2) ? 'file_descriptors' : null;
    if (limit !== null) {
      socket.resetAndDestroy();
      const detail: FaultDetail = limit === 'max_connections' ? { max_connections: this.maxConnections } : { in_use: proxiedFds.inUse, capacity: proxiedFds.capacity };
      return this.fault(client, '', { name: limit, type: limit }, 'refused', { ...detail, live, transport: 'tcp' });
    }
    this.tcpClients.add(new DnsTcpClient(socket, client, this));
  }

  /** Looks the upstream up once (an address literal needs no lookup); failures are warned
   *  about, and queries get SERVFAIL until a lookup succeeds. */
  private resolveTarget(): Promise<void> {
    if (this.resolved !== null) return Promise.resolve();
    this.resolving ??= (async () => {
      try {
        const { host, port } = parseHostPort(this.upstream);
        const family = isIP(host);
        const found = family !== 0 ? { address: host, family } : await lookup(host);
        this.resolved = { host: found.address, port, family: found.family === 6 ? 6 : 4 };
      } catch (err) {
        this.reporter.warn(`${this.name}: cannot resolve upstream ${this.upstream}`, { error: (err as Error).message });
      } finally {
        this.resolving = null;
      }
    })();
    return this.resolving;
  }
}
