// A TCP proxy: a listener on `listen` that dials `upstream` for each accepted client and joins
// the two through a Connection. Connections may be held under a full partition, or dialled
// late by a slow-open toxic.

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { nanoid } from 'nanoid';
import { FaultlineError } from '../errors.js';
import type { FaultAction, FaultDetail, Stream } from '../toxic.js';
import { formatHostPort, parseHostPort, reportBound, type HostPort } from './address.js';
import { Connection, type ConnectionOwner } from './connection.js';
import { proxiedFds } from './fd-budget.js';
import { adoptAccepted, ReadSlot } from './socket-reader.js';
import { Proxy, type Listener } from './proxy.js';
import type { ToxicConfig } from './toxic-config.js';

/**
 * How long dialling the upstream may take. Without a limit, an upstream that drops SYNs (a
 * firewall, a dead host) leaves the client hanging for the OS's whole SYN retry budget, about
 * two minutes on Linux, with nothing logged; 10 s is well past any healthy connect.
 */
export const DIAL_TIMEOUT_MS = 10_000;

export class TcpProxy extends Proxy implements ConnectionOwner {
  /** The dial limit in force; a test lowers it to see a blackholed dial end in good time. */
  static dialTimeoutMs = DIAL_TIMEOUT_MS;
  readonly protocol = 'tcp' as const;
  readonly connections = new Set<Connection>();
  private seq = 0;
  /** Clients accepted and not yet connected upstream (dialling, delayed or held). */
  private readonly pending = new Set<net.Socket>();
  private held: Pending[] = [];

  protected async bindListener(bind: HostPort): Promise<Listener> {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    // Clients that arrive before the proxy adopts this listener wait here, paused.
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
      // server.close frees the address at once; its callback would wait for every connection.
      close: async () => {
        if (server.listening) server.close();
        for (const socket of waiting ?? []) socket.destroy();
        waiting = [];
      },
    };
  }

  dropLive(reason: string): void {
    for (const conn of this.connections) conn.destroy(reason);
    for (const client of this.pending) client.destroy();
    this.held = [];
  }

  protected live(): Iterable<Connection> {
    return this.connections;
  }

  protected override toxicsChanged(): void {
    this.releaseHeld();
  }

  // ---- ConnectionOwner ----

  closed(conn: Connection): void {
    this.connections.delete(conn);
  }

  /**
   * The toxics that hold this connection back: those that hold new connections and are rolled
   * active on it, provided such toxics sit on both streams (a full partition for it); none
   * otherwise. Toxicity is rolled per connection from the very source its stages will roll, so
   * the connection held here is the one whose stages see the partition active.
   */
  private holding(pending: Pending): ToxicConfig[] {
    const rolled = (stream: Stream) => this.toxicsFor(stream).filter((t) =>
      t.definition.holdsNewConnections === true && this.randomFor(pending.seq, stream, t.name).chance(t.toxicity));
    const up = rolled('upstream');
    const down = up.length > 0 ? rolled('downstream') : [];
    return down.length > 0 ? [...up, ...down] : [];
  }

  /** Holds `pending`, reporting each toxic that newly holds it. */
  private hold(pending: Pending, by: ToxicConfig[]): void {
    if (pending.held === undefined) {
      pending.held = { since: performance.now(), by: [] };
      this.held.push(pending);
    }
    for (const toxic of by) {
      if (pending.held.by.some((t) => t.name === toxic.name)) continue;
      pending.held.by.push(toxic);
      this.report(pending, toxic, 'held', { connection: true });
    }
  }

  private releaseHeld(): void {
    const held = this.held;
    this.held = [];
    for (const pending of held) {
      const by = this.holding(pending);
      if (by.length > 0) {
        this.held.push(pending);
        this.hold(pending, by);
        continue;
      }
      const ms = Math.round(performance.now() - (pending.held?.since ?? 0));
      for (const toxic of pending.held?.by ?? []) this.report(pending, toxic, 'released', { connection: true, ms });
      void this.dial(pending);
    }
  }

  private report(pending: Pending, toxic: ToxicConfig, action: FaultAction, detail: FaultDetail): void {
    this.reporter.fault({
      proxy: this.name, protocol: this.protocol, conn: pending.id, client: pending.peer,
      toxic: toxic.name, type: toxic.type, stream: toxic.stream, action, detail,
    });
  }

  private accept(accepted: net.Socket): void {
    const peer = formatHostPort(accepted.remoteAddress ?? '?', accepted.remotePort ?? 0);
    const id = nanoid(12);
    accepted.on('error', ignore);
    if (!this.admit(accepted, id, peer)) return;
    const reads = new ReadSlot();
    const client = adoptAccepted(accepted, reads);
    const pending: Pending = { id, seq: this.seq++, client, peer, reads };
    if (client !== accepted) client.on('error', ignore);
    this.pending.add(client);
    client.once('close', () => {
      // Both descriptors go back when the client's socket closes: the upstream's closes with it.
      proxiedFds.release(2);
      this.pending.delete(client);
      if (this.held.length > 0) this.held = this.held.filter((p) => p !== pending);
    });
    // Accepted but not forwarded while fully partitioned, as a SYN would not reach the server.
    const by = this.holding(pending);
    if (by.length > 0) this.hold(pending, by);
    else void this.dial(pending);
  }

  /**
   * Whether a new client may be proxied: the proxy's own cap, then the descriptors every proxy
   * shares (one here, one for the upstream), which keep a reserve for the API. A refused client
   * is reset at once, and reported.
   */
  private admit(client: net.Socket, id: string, peer: string): boolean {
    const live = this.connections.size + this.pending.size;
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

  private async dial(pending: Pending): Promise<void> {
    const { client, peer } = pending;
    const delay = this.connectDelay(pending);
    if (delay > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        client.once('close', () => { clearTimeout(timer); resolve(); });
      });
    }
    if (client.destroyed || !this.enabled) return;
    let target;
    try {
      target = parseHostPort(this.upstream);
    } catch {
      client.destroy();
      return;
    }
    // Timed from here, after any slow-open delay: only the connect itself is limited.
    const upstreamReads = new ReadSlot();
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true, onread: upstreamReads.options });
    const limit = TcpProxy.dialTimeoutMs;
    const refuse = (err: Error) => {
      clearTimeout(timer);
      client.off('close', abandon);
      upstream.destroy();
      this.reporter.warn(`${this.name}: upstream ${this.upstream} unreachable`, { error: err.message, client: peer });
      client.destroy();
    };
    const timer = setTimeout(() => {
      upstream.off('error', refuse);
      refuse(new Error(`connect timed out after ${limit} ms`));
    }, limit);
    // The client may give up before the upstream answers.
    const abandon = () => {
      clearTimeout(timer);
      upstream.destroy();
    };
    client.once('close', abandon);
    upstream.once('error', refuse);
    upstream.once('connect', () => {
      clearTimeout(timer);
      upstream.off('error', refuse);
      client.off('close', abandon);
      this.pending.delete(client);
      if (!this.enabled || client.destroyed) {
        upstream.destroy();
        client.destroy();
        return;
      }
      const reads = { client: pending.reads, upstream: upstreamReads };
      this.connections.add(new Connection(pending.id, pending.seq, peer, client, upstream, reads, this));
    });
  }

  /** The dial delay that slow-connect toxics active on this connection add up to. */
  private connectDelay(pending: Pending): number {
    let total = 0;
    for (const toxic of this.toxics) {
      const delay = toxic.definition.connectDelay?.(toxic.attributes) ?? 0;
      // Same stream as the stage's own roll, so the decision here and there agree.
      if (delay <= 0 || !this.randomFor(pending.seq, toxic.stream, toxic.name).chance(toxic.toxicity)) continue;
      total += delay;
      this.report(pending, toxic, 'delayed', { ms: delay });
    }
    return total;
  }
}

/** A client accepted but not yet joined to an upstream. */
interface Pending {
  id: string;
  seq: number;
  client: net.Socket;
  peer: string;
  reads: ReadSlot;
  /** Set while a full partition holds it: since when, and by which toxics. */
  held?: { since: number; by: ToxicConfig[] };
}

function ignore(): void {}
