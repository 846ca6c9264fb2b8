// What every proxy has, whatever its protocol: a name, addresses, an enabled flag, and its
// toxics in insertion order, with every change applied to the live connections or sessions.

import type { Protocol, RandomSource, Stream } from '../toxic.js';
import type { Chain } from './chain.js';
import type { ConnectionDescription } from './live-base.js';
import type { Reporter } from './reporter.js';
import { toxicJSON, type ToxicConfig } from './toxic-config.js';

export interface ProxyDeps {
  reporter: Reporter;
  /** The proxy's own fork of the seeded source. */
  random: { fork(label: string): RandomSource };
}

/** A TCP connection or a UDP session, as far as toxic changes are concerned. */
export interface LiveConnection {
  describe(): ConnectionDescription;
  bytes(): { up: number; down: number };
  /** The toxic that left this connection half-open, if one did; removing it ends it. */
  readonly orphanedBy: string | null;
  chain(stream: Stream): Chain;
  close(reason: string): void;
  reset(reason: string): void;
}

export abstract class Proxy {
  abstract readonly protocol: Protocol;
  enabled = false;
  protected toxics: ToxicConfig[] = [];

  constructor(readonly name: string, public listen: string, public upstream: string, protected readonly deps: ProxyDeps) {}

  get reporter(): Reporter { return this.deps.reporter; }

  /** Binds the listener; `listen` then reports the address actually bound. */
  abstract start(): Promise<void>;
  /** Stops listening and closes every live connection or session. */
  abstract stop(): Promise<void>;
  protected abstract live(): Iterable<LiveConnection>;
  /** Called after toxics change, for protocol-specific consequences. */
  protected toxicsChanged(): void {}

  /** Toxiproxy's proxy JSON; protocols other than TCP add their own fields. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      listen: this.listen,
      upstream: this.upstream,
      enabled: this.enabled,
      toxics: this.listToxics().map(toxicJSON),
    };
  }

  /** Live connections (TCP) or sessions (UDP), as `GET /connections` shows them. */
  describeLive(): ConnectionDescription[] {
    return [...this.live()].map((c) => c.describe());
  }

  /** Bytes so far on the live connections, for metrics that add closed ones' totals. */
  liveBytes(): { up: number; down: number; count: number } {
    let up = 0;
    let down = 0;
    let count = 0;
    for (const c of this.live()) {
      const b = c.bytes();
      up += b.up;
      down += b.down;
      count++;
    }
    return { up, down, count };
  }

  /** Upstream toxics first, then downstream, each in insertion order, as Toxiproxy lists them. */
  listToxics(): ToxicConfig[] {
    return [...this.toxicsFor('upstream'), ...this.toxicsFor('downstream')];
  }

  getToxic(name: string): ToxicConfig | undefined {
    return this.toxics.find((t) => t.name === name);
  }

  toxicsFor(stream: Stream): readonly ToxicConfig[] {
    return this.toxics.filter((t) => t.stream === stream);
  }

  async addToxic(config: ToxicConfig): Promise<void> {
    this.toxics.push(config);
    await Promise.all([...this.live()].map((c) => c.chain(config.stream).add(config)));
    this.toxicsChanged();
  }

  async updateToxic(config: ToxicConfig): Promise<void> {
    const index = this.toxics.findIndex((t) => t.name === config.name);
    if (index < 0) return;
    this.toxics[index] = config;
    await Promise.all([...this.live()].map((c) => c.chain(config.stream).update(config)));
    this.toxicsChanged();
  }

  async removeToxic(name: string): Promise<void> {
    const config = this.getToxic(name);
    if (config === undefined) return;
    this.toxics = this.toxics.filter((t) => t !== config);
    const reason = `${config.type} toxic removed`;
    await Promise.all([...this.live()].map(async (c) => {
      if (c.orphanedBy === name) return c.reset(reason);
      const ending = await c.chain(config.stream).remove(name);
      if (ending === 'close') c.close(reason);
      else if (ending === 'reset') c.reset(reason);
    }));
    this.toxicsChanged();
  }

  /** The random stream for one toxic on one connection: the same label gives the same rolls. */
  randomFor(seq: number, stream: Stream, toxic: string): RandomSource {
    return this.deps.random.fork(`${seq}/${stream}/${toxic}`);
  }
}
