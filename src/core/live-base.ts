// What a TCP connection and a UDP session share: their identity, the random streams of their
// toxics, and how they report faults and their own lifecycle.

import { performance } from 'node:perf_hooks';
import type { FaultAction, FaultDetail, Protocol, RandomSource, Stream } from '../toxic.js';
import type { Chain } from './chain.js';
import type { ConnectionInfo, Reporter } from './reporter.js';
import type { ToxicConfig } from './toxic-config.js';

/** The proxy a connection or session belongs to, as the connection sees it. */
export interface LiveOwner {
  readonly name: string;
  readonly upstream: string;
  readonly reporter: Reporter;
  randomFor(seq: number, stream: Stream, toxic: string): RandomSource;
  toxicsFor(stream: Stream): readonly ToxicConfig[];
}

export abstract class LiveBase {
  abstract readonly protocol: Protocol;
  readonly openedAt = Date.now();
  /** When the connection was established, on the performance.now() clock. */
  readonly connectedAt = performance.now();

  constructor(readonly id: string, readonly seq: number, readonly client: string, protected readonly owner: LiveOwner) {}

  info(): ConnectionInfo {
    return { proxy: this.owner.name, protocol: this.protocol, conn: this.id, client: this.client, upstream: this.owner.upstream };
  }

  randomFor(stream: Stream, toxic: string): RandomSource {
    return this.owner.randomFor(this.seq, stream, toxic);
  }

  report(config: ToxicConfig, action: FaultAction, detail: FaultDetail): void {
    this.owner.reporter.fault({
      proxy: this.owner.name, protocol: this.protocol, conn: this.id, client: this.client,
      toxic: config.name, type: config.type, stream: config.stream, action, detail,
    });
  }

  /** A toxic threw: a bug, not a fault we meant to inject. Warn and end this connection. */
  failed(config: ToxicConfig, err: unknown): void {
    this.owner.reporter.warn(`toxic ${config.name} failed; ending the ${this.protocol === 'tcp' ? 'connection' : 'session'}`, {
      proxy: this.owner.name, conn: this.id, error: err instanceof Error ? err.message : String(err),
    });
    this.abort('toxic failed');
  }

  protected abstract abort(reason: string): void;
  abstract chain(stream: Stream): Chain;
  /** Bytes received from the client (up) and from the upstream (down) so far. */
  abstract bytes(): { up: number; down: number };

  /** What `GET /connections` shows of a live connection or session. */
  describe(): ConnectionDescription {
    const { up, down } = this.bytes();
    return {
      conn: this.id,
      protocol: this.protocol,
      client: this.client,
      opened_at: new Date(this.openedAt).toISOString(),
      age_ms: Math.round(performance.now() - this.connectedAt),
      bytes_up: up,
      bytes_down: down,
      toxics: { upstream: this.chain('upstream').activeToxics(), downstream: this.chain('downstream').activeToxics() },
    };
  }
}

export interface ConnectionDescription {
  conn: string;
  protocol: Protocol;
  client: string;
  opened_at: string;
  age_ms: number;
  bytes_up: number;
  bytes_down: number;
  /** The toxics active on it (rolled in by their toxicity), per stream. */
  toxics: { upstream: string[]; downstream: string[] };
}
