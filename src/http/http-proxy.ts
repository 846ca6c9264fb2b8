// An http proxy: a TCP listener whose connections speak HTTP/1.1 or HTTP/2 (prior knowledge or
// an h2c upgrade), with request toxics decided per exchange and the TCP toxics acting on each
// connection's byte streams beneath. It is one more kind of Proxy: the Collection creates,
// changes, persists and restores it like the others, through the factory server.ts gives it.

import net from 'node:net';
import { nanoid } from 'nanoid';
import { FaultlineError } from '../errors.js';
import { isRequestToxic, type FaultDetail, type RandomSource } from '../toxic.js';
import { formatHostPort, reportBound, type HostPort } from '../core/address.js';
import { proxiedFds } from '../core/fd-budget.js';
import { adoptAccepted, ReadSlot } from '../core/socket-reader.js';
import { Proxy, type Listener } from '../core/proxy.js';
import type { ToxicConfig } from '../core/toxic-config.js';
import { HttpConnection, type HttpOwner } from './connection.js';
import { RouteStats, type ExchangeRecord } from './route-stats.js';
import { sniffer } from './sniff.js';

export class HttpProxy extends Proxy implements HttpOwner {
  readonly protocol = 'http' as const;
  readonly connections = new Set<HttpConnection>();
  readonly routes = new RouteStats();
  private seq = 0;
  /** Requests each request toxic has matched, for `first`; kept across its updates. */
  private readonly counters = new Map<string, { n: number }>();
  private requestList: readonly ToxicConfig[] = [];

  protected async bindListener(bind: HostPort): Promise<Listener> {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    let waiting: net.Socket[] | null = [];
    server.on('connection', (socket) => {
      if (waiting === null) this.accept(socket);
      else waiting.push(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new FaultlineError('ERR_LISTEN', `listen tcp ${formatHostPort(bind.host, bind.port)}: ${err.message}`, { cause: err })));
      server.listen({ host: bind.host === '' ? '::' : bind.host, port: bind.port }, () => resolve());
    });
    server.on('error', (err) => this.reporter.warn(`listener of ${this.name} failed`, { error: err.message }));
    const bound = server.address() as net.AddressInfo;
    return {
      address: reportBound(bind.host === '' ? '' : bound.address, bound.port),
      activate: () => {
        const early = waiting ?? [];
        waiting = null;
        for (const socket of early) this.accept(socket);
      },
      close: async () => {
        if (server.listening) server.close();
        for (const socket of waiting ?? []) socket.destroy();
        waiting = [];
      },
    };
  }

  dropLive(reason: string): void {
    for (const conn of this.connections) conn.destroy(reason);
  }

  protected live(): Iterable<HttpConnection> {
    return this.connections;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), protocol: this.protocol };
  }

  /** Request toxics apply from the next request on; byte-stream toxics join live chains. */
  override async addToxic(config: ToxicConfig): Promise<void> {
    if (!isRequestToxic(config.definition)) return super.addToxic(config);
    this.counters.delete(config.name);
    this.toxics.push(config);
    this.toxicsChanged();
  }

  override async removeToxic(name: string): Promise<void> {
    this.counters.delete(name);
    await super.removeToxic(name);
  }

  protected override toxicsChanged(): void {
    this.requestList = this.toxics.filter((t) => isRequestToxic(t.definition));
  }

  // ---- HttpOwner ----

  requestToxics(): readonly ToxicConfig[] {
    return this.requestList;
  }

  matched(toxic: string): { n: number } {
    let count = this.counters.get(toxic);
    if (count === undefined) this.counters.set(toxic, (count = { n: 0 }));
    return count;
  }

  /** A toxic's stream on one connection: the same seed and requests give the same rolls. */
  requestRandom(seq: number, toxic: string): RandomSource {
    return this.deps.random.fork(`${seq}/request/${toxic}`);
  }

  record(exchange: ExchangeRecord): void {
    this.routes.record(exchange);
  }

  closed(conn: HttpConnection): void {
    this.connections.delete(conn);
  }

  private accept(accepted: net.Socket): void {
    const peer = formatHostPort(accepted.remoteAddress ?? '?', accepted.remotePort ?? 0);
    const id = nanoid(12);
    accepted.on('error', () => {});
    if (!this.admit(accepted, id, peer)) return;
    const reads = new ReadSlot();
    const socket = adoptAccepted(accepted, reads);
    socket.on('error', () => {});
    socket.once('close', () => proxiedFds.release(2));
    this.connections.add(new HttpConnection(id, this.seq++, peer, socket, reads, this, sniffer()));
  }

  /** The proxy's max_connections, then the descriptors every proxy shares; a refused client is
   *  reset at once, and reported, as on a TCP proxy. */
  private admit(client: net.Socket, id: string, peer: string): boolean {
    const live = this.connections.size;
    const refusal: { limit: string; detail: FaultDetail } | null = this.maxConnections > 0 && live >= this.maxConnections
      ? { limit: 'max_connections', detail: { max_connections: this.maxConnections } }
      : !proxiedFds.take(2) ? { limit: 'file_descriptors', detail: { in_use: proxiedFds.inUse, capacity: proxiedFds.capacity } } : null;
    if (refusal === null) return true;
    client.resetAndDestroy();
    this.reporter.fault({
      proxy: this.name, protocol: this.protocol, conn: id, client: peer,
      toxic: refusal.limit, type: refusal.limit, stream: 'upstream', action: 'refused', detail: { ...refusal.detail, live },
    });
    return false;
  }
}
