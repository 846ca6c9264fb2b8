// What every proxy has, whatever its protocol: a name, addresses, an enabled flag, and its
// toxics in insertion order, with every change applied to the live connections or sessions.
// The listening socket is a Listener of its own, so a change can bind a new address while the
// old one still serves, and drop the new one if the change is refused.

import { FaultlineError } from '../errors.js';
import type { Protocol, RandomSource, Stream } from '../toxic.js';
import { parseHostPort, resolveListen, type HostPort } from './address.js';
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

/** A bound listening socket whose traffic belongs to one proxy. */
export interface Listener {
  /** As Toxiproxy reports a bound address: `127.0.0.1:41601`, `[::]:41601`. */
  readonly address: string;
  /** Starts handing traffic to the proxy; until then accepted clients wait (TCP) or datagrams
   *  are dropped (UDP), so a listener bound for a change that is refused served nobody. */
  activate(): void;
  /** Frees the address at once. Connections it accepted are not its to close. Idempotent. */
  close(): Promise<void>;
}

/** A listener bound for a change not yet made: `abort` puts everything back. */
export interface Staged {
  readonly listener: Listener;
  abort(): Promise<void>;
}

export abstract class Proxy {
  abstract readonly protocol: Protocol;
  protected toxics: ToxicConfig[] = [];
  protected listener: Listener | null = null;
  /** Live connections (or UDP sessions) allowed at once; 0 means no limit. */
  maxConnections = 0;

  constructor(readonly name: string, public listen: string, public upstream: string, protected readonly deps: ProxyDeps) {}

  get reporter(): Reporter { return this.deps.reporter; }

  get enabled(): boolean { return this.listener !== null; }

  /** Binds `bind` for this proxy; throws ERR_LISTEN with the OS's reason. */
  protected abstract bindListener(bind: HostPort): Promise<Listener>;
  /** Ends every live connection or session, and any client not yet joined to its upstream. */
  abstract dropLive(reason: string): void;
  protected abstract live(): Iterable<LiveConnection>;
  /** Called after toxics change, for protocol-specific consequences. */
  protected toxicsChanged(): void {}
  /** Called when a listener is adopted and when the proxy stops. */
  protected listening(_on: boolean): void {}

  /** Resolves `listen` and binds it; `listen` then reports the address actually bound. */
  async start(): Promise<void> {
    if (this.listener !== null) return;
    this.adopt(await this.bindListener(await resolveBind(this.listen)));
  }

  /** Stops listening and closes every live connection or session. */
  async stop(): Promise<void> {
    const listener = this.listener;
    this.listener = null;
    this.dropLive('proxy stopped');
    this.listening(false);
    await listener?.close();
  }

  /** New connections dial `upstream`; live ones are the caller's to keep or drop. */
  setUpstream(upstream: string): void {
    this.upstream = upstream;
  }

  /** Serves from `listener` from now on; the one it replaces is closed. */
  adopt(listener: Listener): void {
    const old = this.listener;
    this.listener = listener;
    this.listen = listener.address;
    if (old !== null && old !== listener) void old.close();
    listener.activate();
    this.listening(true);
  }

  /**
   * Binds `bind` for this proxy while `current` (this proxy, or the one a populate replaces)
   * keeps serving. When the address overlaps current's (the same port on a wildcard, or the
   * same fixed port under a new upstream), current's listening socket is closed first and
   * bound again if the new bind fails, so a refused change leaves things as they were. Live
   * connections are never touched here.
   */
  async stage(bind: HostPort, current: Proxy | null): Promise<Staged> {
    const staged = (listener: Listener, freed: Proxy | null): Staged => ({
      listener,
      abort: async () => {
        await listener.close();
        await freed?.retakeAddress();
      },
    });
    try {
      return staged(await this.bindListener(bind), null);
    } catch (err) {
      if (current?.listener == null || !addressInUse(err) || portIn(current.listen) !== bind.port) throw err;
    }
    await current.listener!.close();
    try {
      return staged(await this.bindListener(bind), current);
    } catch (err) {
      await current.retakeAddress();
      throw err;
    }
  }

  /** Binds the address again after a change that freed it was refused. Should someone else
   *  have taken it meanwhile, the proxy ends disabled, and says so. */
  private async retakeAddress(): Promise<void> {
    if (this.listener === null) return;
    try {
      const listener = await this.bindListener(parseHostPort(this.listen));
      this.listener = listener;
      listener.activate();
    } catch (err) {
      this.reporter.warn(`${this.name}: could not listen on ${this.listen} again; the proxy is now disabled`, { error: (err as Error).message });
      await this.stop();
    }
  }

  /** Toxiproxy's proxy JSON; protocols other than TCP add their own fields. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      listen: this.listen,
      upstream: this.upstream,
      enabled: this.enabled,
      toxics: this.listToxics().map(toxicJSON),
      // Shown only when set, so a Toxiproxy client sees Toxiproxy's shape.
      ...(this.maxConnections > 0 ? { max_connections: this.maxConnections } : {}),
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

/** A listen address resolved to the literal to bind; a lookup failure is Toxiproxy's 500. */
export async function resolveBind(listen: string): Promise<HostPort> {
  try {
    return await resolveListen(listen);
  } catch (err) {
    throw new FaultlineError('ERR_LISTEN', `listen: ${(err as Error).message}`, { cause: err });
  }
}

function addressInUse(err: unknown): boolean {
  return err instanceof FaultlineError && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
}

function portIn(address: string): number {
  try {
    return parseHostPort(address).port;
  } catch {
    return -1;
  }
}
