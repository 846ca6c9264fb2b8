// A TCP proxy: a listener on `listen` that dials `upstream` for each accepted client and joins
// the two through a Connection. Connections may be held under a full partition, or dialled
// late by a slow-open toxic.

import net from 'node:net';
import { nanoid } from 'nanoid';
import { FaultlineError } from '../errors.js';
import type { Stream } from '../toxic.js';
import { formatHostPort, parseHostPort, reportBound, resolveListen } from './address.js';
import { Connection, type ConnectionOwner } from './connection.js';
import { Proxy } from './proxy.js';

export class TcpProxy extends Proxy implements ConnectionOwner {
  readonly protocol = 'tcp' as const;
  readonly connections = new Set<Connection>();
  private server: net.Server | null = null;
  private seq = 0;
  /** Clients accepted and not yet connected upstream (dialling, delayed or held). */
  private readonly pending = new Set<net.Socket>();
  private held: Pending[] = [];

  /** Binds the listener; `listen` then reports the address actually bound. */
  async start(): Promise<void> {
    if (this.server !== null) return;
    let bind;
    try {
      bind = await resolveListen(this.listen);
    } catch (err) {
      throw new FaultlineError('ERR_LISTEN', `listen tcp: ${(err as Error).message}`);
    }
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    server.on('connection', (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new FaultlineError('ERR_LISTEN', `listen tcp ${this.listen}: ${err.message}`)));
      server.listen({ host: bind.host === '' ? '::' : bind.host, port: bind.port }, () => resolve());
    });
    server.on('error', (err) => this.reporter.warn(`listener of ${this.name} failed`, { error: err.message }));
    const address = server.address() as net.AddressInfo;
    this.listen = reportBound(bind.host === '' ? '' : address.address, address.port);
    this.server = server;
    this.enabled = true;
  }

  /** Stops listening and closes every live connection. */
  async stop(): Promise<void> {
    this.enabled = false;
    const server = this.server;
    this.server = null;
    for (const conn of this.connections) conn.destroy('proxy stopped');
    for (const client of this.pending) client.destroy();
    this.held = [];
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
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

  /** A full partition: toxics that hold new connections sit on both streams. */
  private partitioned(): boolean {
    const holds = (stream: Stream) => this.toxicsFor(stream).some((t) => t.definition.holdsNewConnections && t.toxicity > 0);
    return holds('upstream') && holds('downstream');
  }

  private releaseHeld(): void {
    if (this.held.length === 0 || this.partitioned()) return;
    const held = this.held;
    this.held = [];
    for (const pending of held) void this.dial(pending);
  }

  private accept(client: net.Socket): void {
    const pending: Pending = {
      id: nanoid(12),
      seq: this.seq++,
      client,
      peer: formatHostPort(client.remoteAddress ?? '?', client.remotePort ?? 0),
    };
    client.on('error', () => {});
    this.pending.add(client);
    client.once('close', () => {
      this.pending.delete(client);
      this.held = this.held.filter((p) => p !== pending);
    });
    // Accepted but not forwarded while fully partitioned, as a SYN would not reach the server.
    if (this.partitioned()) this.held.push(pending);
    else void this.dial(pending);
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
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
    const refuse = (err: Error) => {
      this.reporter.warn(`${this.name}: upstream ${this.upstream} unreachable`, { error: err.message, client: peer });
      client.destroy();
    };
    // The client may give up before the upstream answers.
    const abandon = () => upstream.destroy();
    client.once('close', abandon);
    upstream.once('error', refuse);
    upstream.once('connect', () => {
      upstream.off('error', refuse);
      client.off('close', abandon);
      this.pending.delete(client);
      if (!this.enabled || client.destroyed) {
        upstream.destroy();
        client.destroy();
        return;
      }
      this.connections.add(new Connection(pending.id, pending.seq, peer, client, upstream, this));
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
      this.reporter.fault({
        proxy: this.name, protocol: this.protocol, conn: pending.id, client: pending.peer,
        toxic: toxic.name, type: toxic.type, stream: toxic.stream, action: 'delayed', detail: { ms: delay },
      });
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
}
