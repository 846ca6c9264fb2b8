// Every proxy by name, and the changes of one proxy: create, update and delete, with
// Toxiproxy's rules for which changes restart a listener.
//
// Every change follows one pattern, under its name's lock (name-locks.ts): check the input,
// prepare what can fail (bind a new listener beside the old one), write the change to the
// journal, and only then commit it in memory, where nothing can fail. A refused change (bad
// input, an address that cannot be bound, a journal that cannot write) leaves the proxy, its
// listener and its live connections exactly as they were, and a 2xx means it is on disk.
// Toxic changes build on this in toxic-changes.ts; populate, reset and restore in collection.ts.

import { FaultlineError, badBody, missingField } from '../errors.js';
import type { AnyToxicDefinition } from '../toxic.js';
import { reportBound } from './address.js';
import { Expiries } from './expiries.js';
import {
  checkIdleTimeout, checkListen, checkMaxConnections, checkName, checkUpstream,
  type ProxyInput,
} from './inputs.js';
import { NameLocks } from './name-locks.js';
import { resolveBind, type Proxy, type ProxyDeps, type Staged } from './proxy.js';
import type { Journal, Reporter, StateChange } from './reporter.js';
import { TcpProxy } from './tcp-proxy.js';
import { UdpProxy } from './udp-proxy.js';

/** Builds a proxy of a protocol the core does not implement itself (`http`, from src/http). */
export type ProxyFactory = (input: ProxyInput & { name: string; upstream: string; listen: string }, deps: ProxyDeps) => Proxy;

export interface CollectionDeps {
  reporter: Reporter;
  random: { fork(label: string): ProxyDeps['random'] };
  findToxic(type: string): AnyToxicDefinition | undefined;
  /** Protocols beyond tcp and udp, by name; the composition root wires them, so the core never
   *  imports the layers above it. */
  protocols?: Readonly<Record<string, ProxyFactory>>;
  /** Where changes are made durable before they take effect; absent, nothing is kept. */
  journal?: Journal;
}

export class ProxyChanges {
  protected readonly proxies = new Map<string, Proxy>();
  protected readonly expiries = new Expiries();
  protected readonly locks = new NameLocks();

  constructor(protected readonly deps: CollectionDeps) {}

  list(): Proxy[] {
    return [...this.proxies.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get(name: string): Proxy {
    const proxy = this.proxies.get(name);
    if (proxy === undefined) throw new FaultlineError('ERR_PROXY_NOT_FOUND');
    return proxy;
  }

  /** Every protocol a proxy may have here. */
  get protocolNames(): string[] {
    return ['tcp', 'udp', ...Object.keys(this.deps.protocols ?? {})];
  }

  create(input: ProxyInput): Promise<Proxy> {
    checkProxyInput(input, undefined, this.protocolNames);
    return this.locks.run(input.name!, () => this.open(input, false));
  }

  /** A partial update: missing fields keep their values. A new address restarts the listener. */
  update(name: string, input: ProxyInput): Promise<Proxy> {
    return this.locks.run(name, async () => {
      const proxy = this.get(name);
      if (input.protocol !== undefined && input.protocol !== proxy.protocol) {
        throw badBody(`protocol cannot change (${proxy.protocol} to ${input.protocol}); delete the proxy and create it again`);
      }
      const idle = checkIdleTimeout(proxy.protocol, input.idle_timeout);
      const max = checkMaxConnections(input.max_connections);
      if (input.upstream !== undefined) checkUpstream(input.upstream);
      if (input.listen !== undefined) checkListen(input.listen);
      const upstream = input.upstream ?? proxy.upstream;
      const wanted = input.enabled ?? proxy.enabled;
      const bind = await resolveBind(input.listen ?? proxy.listen);
      // Toxiproxy's Differs: the resolved listen address or the upstream changed.
      const relisten = reportBound(bind.host, bind.port) !== proxy.listen;
      const moved = relisten || upstream !== proxy.upstream;
      const staged = wanted && (relisten || !proxy.enabled) ? await proxy.stage(bind, proxy) : null;
      // Disabled, a moved address is kept as written: nothing was bound to resolve it.
      const listen = staged?.listener.address ?? (relisten ? input.listen ?? proxy.listen : proxy.listen);
      const { max_connections: _max, ...now } = proxy.toJSON();
      const body = {
        ...now, listen, upstream, enabled: wanted,
        ...(idle !== undefined ? { idle_timeout: idle } : {}), ...maxField(max ?? proxy.maxConnections),
      };
      await this.persist([{ kind: 'proxy:updated', proxy: name, body }], staged);
      if (moved) proxy.dropLive('proxy moved');
      proxy.setUpstream(upstream);
      if (max !== undefined) proxy.maxConnections = max;
      if (idle !== undefined && proxy instanceof UdpProxy) proxy.setIdleTimeout(idle);
      if (staged !== null) proxy.adopt(staged.listener);
      else if (!wanted && proxy.enabled) await proxy.stop();
      proxy.listen = listen;
      this.changed(proxy, 'proxy:updated');
      return proxy;
    });
  }

  delete(name: string): Promise<void> {
    return this.locks.run(name, async () => {
      this.get(name);
      await this.persist([{ kind: 'proxy:deleted', proxy: name }]);
      await this.remove(name);
    });
  }

  async close(): Promise<void> {
    this.expiries.clearAll();
    await Promise.all(this.list().map((p) => p.stop()));
  }

  // ---- for the other collection files ----

  /** Writes `changes` before they take effect; if that fails, `staged` is undone and the
   *  change refused with a 503 naming the store's error. */
  protected async persist(changes: readonly StateChange[], staged?: Staged | null): Promise<void> {
    if (this.deps.journal === undefined) return;
    try {
      await this.deps.journal(changes);
    } catch (err) {
      await staged?.abort();
      throw new FaultlineError('ERR_STATE_NOT_SAVED', `the change could not be saved, so it was not made: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Creates a proxy whose name is free (the caller holds its lock). Restored proxies are
   *  on disk already, so only new ones are written. */
  protected async open(input: ProxyInput, restored: boolean): Promise<Proxy> {
    const proxy = this.build(input);
    if (this.proxies.has(proxy.name)) throw new FaultlineError('ERR_PROXY_EXISTS');
    if (input.enabled ?? true) await proxy.start();
    if (!restored) {
      try {
        await this.persist([{ kind: 'proxy:created', proxy: proxy.name, body: proxy.toJSON() }]);
      } catch (err) {
        await proxy.stop();
        throw err;
      }
    }
    this.proxies.set(proxy.name, proxy);
    this.changed(proxy, 'proxy:created', restored);
    return proxy;
  }

  /** Takes a proxy out and stops it, once its removal is on disk. */
  protected async remove(name: string): Promise<void> {
    const proxy = this.get(name);
    this.proxies.delete(name);
    for (const toxic of proxy.listToxics()) this.expiries.clear(name, toxic.name);
    await proxy.stop();
    this.deps.reporter.changed({ kind: 'proxy:deleted', proxy: name });
  }

  protected build(input: ProxyInput): Proxy {
    checkProxyInput(input, undefined, this.protocolNames);
    const deps: ProxyDeps = { reporter: this.deps.reporter, random: this.deps.random.fork(`proxy/${input.name}`) };
    const idle = checkIdleTimeout(input.protocol ?? 'tcp', input.idle_timeout);
    const factory = input.protocol === undefined ? undefined : this.deps.protocols?.[input.protocol];
    const named = { ...input, name: input.name!, upstream: input.upstream!, listen: input.listen ?? '' };
    const proxy = input.protocol === 'udp'
      ? new UdpProxy(input.name!, input.listen ?? '', input.upstream!, deps, idle)
      : factory !== undefined ? factory(named, deps) : new TcpProxy(input.name!, input.listen ?? '', input.upstream!, deps);
    proxy.maxConnections = input.max_connections ?? 0;
    return proxy;
  }

  protected changed(proxy: Proxy, kind: 'proxy:created' | 'proxy:updated', restored = false): void {
    const body = proxy.toJSON();
    this.deps.reporter.changed({ kind, proxy: proxy.name, body, ...(restored ? { restored: true as const } : {}) });
  }
}

/** Every check of a new proxy that needs no state: the fields, in Toxiproxy's order. */
export function checkProxyInput(input: ProxyInput, index?: number, protocols: readonly string[] = ['tcp', 'udp']): void {
  if (!input.name) throw missingField('name', index);
  checkName(input.name);
  if (!input.upstream) throw missingField('upstream', index);
  checkUpstream(input.upstream);
  if (input.listen !== undefined) checkListen(input.listen);
  const where = index === undefined ? '' : ` at proxy ${index}`;
  if (input.protocol !== undefined && !protocols.includes(input.protocol)) {
    const names = protocols.length > 2 ? `${protocols.slice(0, -1).join(', ')} or ${protocols.at(-1)}` : protocols.join(' or ');
    throw badBody(`protocol must be ${names}, got ${JSON.stringify(input.protocol)}${where}`);
  }
  checkIdleTimeout(input.protocol ?? 'tcp', input.idle_timeout);
  checkMaxConnections(input.max_connections);
}

function maxField(max: number): Record<string, number> {
  return max > 0 ? { max_connections: max } : {};
}
