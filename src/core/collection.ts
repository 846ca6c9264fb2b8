// Every proxy by name, and the operations the API exposes on them, with Toxiproxy's rules:
// which changes restart a listener, populate's create-or-replace, reset, and the order in which
// toxic input is checked (clients' tests depend on which error wins).

import { FaultlineError, badBody, missingField } from '../errors.js';
import { parseAttributes, type AnyToxicDefinition, type Stream } from '../toxic.js';
import { reportBound, resolveListen } from './address.js';
import {
  checkIdleTimeout, checkToxicity, checkUpstream, expiryOf,
  type ProxyInput, type RestoredProxy, type ToxicInput,
} from './inputs.js';
import { Expiries } from './expiries.js';
import type { Reporter } from './reporter.js';
import type { Proxy, ProxyDeps } from './proxy.js';
import { TcpProxy } from './tcp-proxy.js';
import { UdpProxy } from './udp-proxy.js';
import { toxicJSON, type ToxicConfig } from './toxic-config.js';

export interface CollectionDeps {
  reporter: Reporter;
  random: { fork(label: string): ProxyDeps['random'] };
  findToxic(type: string): AnyToxicDefinition | undefined;
}

export type { ProxyInput, RestoredProxy, ToxicInput } from './inputs.js';

export class Collection {
  private readonly proxies = new Map<string, Proxy>();
  private readonly expiries = new Expiries();

  constructor(private readonly deps: CollectionDeps) {}

  list(): Proxy[] {
    return [...this.proxies.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get(name: string): Proxy {
    const proxy = this.proxies.get(name);
    if (proxy === undefined) throw new FaultlineError('ERR_PROXY_NOT_FOUND');
    return proxy;
  }

  create(input: ProxyInput): Promise<Proxy> {
    return this.open(input, false);
  }

  /** A partial update: missing fields keep their values. A new address restarts the listener. */
  async update(name: string, input: ProxyInput): Promise<Proxy> {
    const proxy = this.get(name);
    if (input.protocol !== undefined && input.protocol !== proxy.protocol) {
      throw badBody(`protocol cannot change (${proxy.protocol} to ${input.protocol}); delete the proxy and create it again`);
    }
    // Every check (the listen address's included) comes before the first change, so a refused
    // update leaves the proxy as it was.
    const idle = checkIdleTimeout(proxy.protocol, input.idle_timeout);
    const upstream = input.upstream ?? proxy.upstream;
    if (input.upstream !== undefined) checkUpstream(upstream);
    const listen = input.listen ?? proxy.listen;
    const wanted = input.enabled ?? proxy.enabled;
    const moved = await this.differs(proxy, listen, upstream);
    if (idle !== undefined && proxy instanceof UdpProxy) proxy.setIdleTimeout(idle);
    if (moved) {
      await proxy.stop();
      proxy.listen = listen;
      proxy.upstream = upstream;
    }
    try {
      if (wanted && !proxy.enabled) await proxy.start();
      else if (!wanted && proxy.enabled) await proxy.stop();
    } finally {
      this.changed(proxy, 'proxy:updated');
    }
    return proxy;
  }

  async delete(name: string): Promise<void> {
    const proxy = this.get(name);
    this.proxies.delete(name);
    for (const toxic of proxy.listToxics()) this.expiries.clear(name, toxic.name);
    await proxy.stop();
    this.deps.reporter.changed({ kind: 'proxy:deleted', proxy: name });
  }

  /**
   * Creates or replaces proxies in order after validating them all. An identical entry is left
   * untouched (toxics, connections and enabled state kept; a UDP one takes a new idle_timeout);
   * a differing one is replaced. Stops at the first failure, keeping what was done, as
   * Toxiproxy does. With `replace`, identical entries are replaced too: a config applied at
   * start must win over the stored state, whose disabled flag and toxics it does not name.
   */
  async populate(inputs: ProxyInput[], options: { replace?: boolean } = {}): Promise<{ proxies: Proxy[]; error?: FaultlineError }> {
    inputs.forEach((input, i) => {
      if (!input.name) throw missingField('name', i + 1);
      if (!input.upstream) throw missingField('upstream', i + 1);
      checkUpstream(input.upstream);
      if (input.protocol !== undefined && input.protocol !== 'tcp' && input.protocol !== 'udp') {
        throw badBody(`protocol must be tcp or udp, got ${JSON.stringify(input.protocol)} at proxy ${i + 1}`);
      }
      checkIdleTimeout(input.protocol ?? 'tcp', input.idle_timeout);
    });
    const done: Proxy[] = [];
    for (const input of inputs) {
      try {
        const existing = this.proxies.get(input.name!);
        if (existing !== undefined) {
          const protocol = input.protocol ?? 'tcp';
          if (options.replace !== true && protocol === existing.protocol
            && !(await this.differs(existing, input.listen ?? '', input.upstream!))) {
            this.retime(existing, input.idle_timeout);
            done.push(existing);
            continue;
          }
          await this.delete(existing.name);
        }
        done.push(await this.create(input));
      } catch (err) {
        if (err instanceof FaultlineError) return { proxies: done, error: err };
        throw err;
      }
    }
    return { proxies: done };
  }

  /** Re-enables every proxy and removes every toxic. */
  async reset(): Promise<void> {
    for (const proxy of this.list()) {
      if (!proxy.enabled) {
        await proxy.start();
        this.changed(proxy, 'proxy:updated');
      }
    }
    for (const proxy of this.list()) {
      for (const toxic of proxy.listToxics()) await this.removeToxic(proxy.name, toxic.name);
    }
  }

  /**
   * Brings back proxies and toxics kept across a restart: listeners re-bound on their old
   * addresses, toxics re-applied in order, ttls still counting from their original expiry.
   * A proxy whose address is now taken comes back disabled rather than lost. Returns warnings.
   */
  async restore(saved: readonly RestoredProxy[]): Promise<string[]> {
    const warnings: string[] = [];
    for (const entry of saved) {
      let proxy: Proxy;
      try {
        proxy = await this.open(entry, true);
      } catch (err) {
        if (!(err instanceof FaultlineError) || err.code !== 'ERR_LISTEN') throw err;
        warnings.push(`proxy ${entry.name} restored disabled: ${err.message}`);
        proxy = await this.open({ ...entry, enabled: false }, true);
      }
      for (const toxic of entry.toxics) {
        if (toxic.expiresAt != null && toxic.expiresAt <= Date.now()) {
          this.deps.reporter.changed({ kind: 'toxic:expired', proxy: proxy.name, toxic: toxic.name ?? '' });
          continue;
        }
        try {
          await this.insertToxic(proxy.name, toxic, true);
        } catch (err) {
          warnings.push(`toxic ${toxic.name} on ${proxy.name} not restored: ${(err as Error).message}`);
        }
      }
    }
    return warnings;
  }

  async close(): Promise<void> {
    this.expiries.clearAll();
    await Promise.all(this.list().map((p) => p.stop()));
  }

  // ---- toxics ----

  getToxic(proxyName: string, toxicName: string): ToxicConfig {
    const toxic = this.get(proxyName).getToxic(toxicName);
    if (toxic === undefined) throw new FaultlineError('ERR_TOXIC_NOT_FOUND');
    return toxic;
  }

  addToxic(proxyName: string, input: ToxicInput): Promise<ToxicConfig> {
    return this.insertToxic(proxyName, input, false);
  }

  /** `restored` marks the events of state brought back at start, so the log tells them from
   *  what a client did. */
  private async insertToxic(proxyName: string, input: ToxicInput, restored: boolean): Promise<ToxicConfig> {
    const proxy = this.get(proxyName);
    const streamLabel = input.stream ?? 'downstream';
    const stream = streamLabel.toLowerCase();
    if (stream !== 'upstream' && stream !== 'downstream') throw new FaultlineError('ERR_INVALID_STREAM');
    const type = input.type ?? '';
    const name = input.name || `${type}_${streamLabel}`;
    const definition = this.deps.findToxic(type);
    if (definition === undefined) throw new FaultlineError('ERR_INVALID_TOXIC_TYPE');
    if (!definition.protocols.includes(proxy.protocol)) {
      throw new FaultlineError('ERR_UNSUPPORTED_PROTOCOL', `toxic ${type} does not apply to ${proxy.protocol} proxies`);
    }
    if (proxy.getToxic(name) !== undefined) throw new FaultlineError('ERR_TOXIC_EXISTS');
    const config: ToxicConfig = {
      name, type, stream: stream as Stream, streamLabel, definition,
      toxicity: checkToxicity(input.toxicity ?? 1),
      attributes: parseAttributes(definition, input.attributes, undefined, proxy.protocol),
      expiresAt: input.expiresAt !== undefined ? input.expiresAt : expiryOf(input.ttl) ?? null,
    };
    await proxy.addToxic(config);
    this.schedule(proxy.name, config);
    const body = toxicJSON(config);
    this.deps.reporter.changed({ kind: 'toxic:added', proxy: proxy.name, toxic: name, body, ...(restored ? { restored: true as const } : {}) });
    return config;
  }

  /** Merges attributes into the current ones; toxicity changes only if given. */
  async updateToxic(proxyName: string, toxicName: string, input: ToxicInput): Promise<ToxicConfig> {
    const proxy = this.get(proxyName);
    const current = this.getToxic(proxyName, toxicName);
    const config: ToxicConfig = {
      ...current,
      toxicity: input.toxicity === undefined ? current.toxicity : checkToxicity(input.toxicity),
      attributes: parseAttributes(current.definition, input.attributes, current.attributes, proxy.protocol),
      expiresAt: input.ttl === undefined ? current.expiresAt : expiryOf(input.ttl) ?? null,
    };
    await proxy.updateToxic(config);
    this.schedule(proxy.name, config);
    this.deps.reporter.changed({ kind: 'toxic:updated', proxy: proxy.name, toxic: toxicName, body: toxicJSON(config) });
    return config;
  }

  async removeToxic(proxyName: string, toxicName: string, kind: 'toxic:removed' | 'toxic:expired' = 'toxic:removed'): Promise<void> {
    const proxy = this.get(proxyName);
    this.getToxic(proxyName, toxicName);
    this.expiries.clear(proxyName, toxicName);
    await proxy.removeToxic(toxicName);
    this.deps.reporter.changed({ kind, proxy: proxy.name, toxic: toxicName });
  }

  private schedule(proxyName: string, config: ToxicConfig): void {
    this.expiries.set(proxyName, config.name, config.expiresAt, () => {
      this.removeToxic(proxyName, config.name, 'toxic:expired').catch((err: unknown) => {
        this.deps.reporter.warn(`could not expire toxic ${config.name} on ${proxyName}`, { error: String(err) });
      });
    });
  }

  // ---- helpers ----

  private build(input: ProxyInput): Proxy {
    if (!input.name) throw missingField('name');
    if (!input.upstream) throw missingField('upstream');
    checkUpstream(input.upstream);
    const deps: ProxyDeps = { reporter: this.deps.reporter, random: this.deps.random.fork(`proxy/${input.name}`) };
    const protocol = input.protocol ?? 'tcp';
    if (protocol !== 'tcp' && protocol !== 'udp') throw badBody(`protocol must be tcp or udp, got ${JSON.stringify(protocol)}`);
    const idle = checkIdleTimeout(protocol, input.idle_timeout);
    return protocol === 'udp'
      ? new UdpProxy(input.name, input.listen ?? '', input.upstream, deps, idle)
      : new TcpProxy(input.name, input.listen ?? '', input.upstream, deps);
  }

  /** Toxiproxy's Differs: the resolved listen address or the upstream changed. */
  private async differs(proxy: Proxy, listen: string, upstream: string): Promise<boolean> {
    if (upstream !== proxy.upstream) return true;
    let resolved;
    try {
      resolved = await resolveListen(listen);
    } catch (err) {
      throw new FaultlineError('ERR_LISTEN', (err as Error).message);
    }
    return reportBound(resolved.host, resolved.port) !== proxy.listen;
  }

  private async open(input: ProxyInput, restored: boolean): Promise<Proxy> {
    const proxy = this.build(input);
    if (this.proxies.has(proxy.name)) throw new FaultlineError('ERR_PROXY_EXISTS');
    if (input.enabled ?? true) await proxy.start();
    this.proxies.set(proxy.name, proxy);
    this.changed(proxy, 'proxy:created', restored);
    return proxy;
  }

  /** A kept UDP proxy takes populate's idle_timeout, and the change is reported (and stored). */
  private retime(proxy: Proxy, idle: number | undefined): void {
    if (idle === undefined || !(proxy instanceof UdpProxy) || proxy.idleTimeout === idle) return;
    proxy.setIdleTimeout(idle);
    this.changed(proxy, 'proxy:updated');
  }

  private changed(proxy: Proxy, kind: 'proxy:created' | 'proxy:updated', restored = false): void {
    const body = proxy.toJSON();
    this.deps.reporter.changed({ kind, proxy: proxy.name, body, ...(restored ? { restored: true as const } : {}) });
  }
}
