// A query that came over UDP, as the query flow sees it, and the bounds on UDP clients: at most
// MAX_PER_CLIENT queries in flight from one address:port, and MAX_IN_FLIGHT for the proxy.
// One object per query, its methods on the prototype: the path without toxics allocates little.

import type dgram from 'node:dgram';
import { formatHostPort } from '../core/address.js';
import type { Exchange } from './flow.js';
import type { Query } from './message.js';

export const MAX_PER_CLIENT = 256;
export const MAX_IN_FLIGHT = 10_000;

/** What a UDP exchange needs of its proxy. */
export interface UdpSide {
  /** Counts proxy stops: an exchange from before the last one has nothing left to free. */
  readonly epoch: number;
  sendToClient(answer: Buffer, port: number, address: string): void;
  forwardUdp(message: Buffer, done: (answer: Buffer | null, reason: string) => void): boolean;
  released(key: string): void;
}

/** In-flight counts of UDP queries, per client and in all. */
export class UdpClients {
  private readonly byClient = new Map<string, number>();
  private total = 0;

  /** Takes a slot for the client `key`, or says which bound refused it. */
  admit(key: string): null | 'outstanding_queries' | 'pending_queries' {
    if (this.total >= MAX_IN_FLIGHT) return 'pending_queries';
    const n = this.byClient.get(key) ?? 0;
    if (n >= MAX_PER_CLIENT) return 'outstanding_queries';
    this.byClient.set(key, n + 1);
    this.total++;
    return null;
  }

  release(key: string): void {
    const n = this.byClient.get(key);
    if (n === undefined) return;
    if (n <= 1) this.byClient.delete(key);
    else this.byClient.set(key, n - 1);
    this.total--;
  }

  clear(): void {
    this.byClient.clear();
    this.total = 0;
  }
}

export class UdpExchange implements Exchange {
  readonly transport = 'udp' as const;
  readonly conn = '';
  private readonly epoch: number;
  private over = false;

  constructor(
    private readonly side: UdpSide, readonly message: Buffer, readonly query: Query,
    private readonly rinfo: dgram.RemoteInfo, private readonly key: string,
  ) {
    this.epoch = side.epoch;
  }

  get client(): string {
    return formatHostPort(this.rinfo.address, this.rinfo.port);
  }

  respond(answer: Buffer): void {
    if (this.epoch === this.side.epoch) this.side.sendToClient(answer, this.rinfo.port, this.rinfo.address);
  }

  forward(done: (answer: Buffer | null, reason: string) => void): boolean {
    return this.side.forwardUdp(this.message, done);
  }

  finish(): void {
    if (this.over) return;
    this.over = true;
    if (this.epoch === this.side.epoch) this.side.released(this.key);
  }
}
