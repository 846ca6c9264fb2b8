// The proxy collection the API drives: every proxy and toxic change (proxy-changes.ts,
// toxic-changes.ts), plus the changes that span proxies, with Toxiproxy's rules: populate's
// create-or-replace, reset, and bringing back what was stored before a restart. Each proxy's
// part of them runs under that proxy's name lock and is on disk before it takes effect.

import { FaultlineError } from '../errors.js';
import { reportBound } from './address.js';
import { checkIdleTimeout, checkMaxConnections, type ProxyInput, type RestoredProxy } from './inputs.js';
import { resolveBind, type Proxy } from './proxy.js';
import { checkProxyInput } from './proxy-changes.js';
import type { StateChange } from './reporter.js';
import { ToxicChanges } from './toxic-changes.js';
import { UdpProxy } from './udp-proxy.js';

export type { CollectionDeps } from './proxy-changes.js';
export type { ProxyInput, RestoredProxy, ToxicInput } from './inputs.js';

export class Collection extends ToxicChanges {
  /**
   * Creates or replaces proxies in order after validating them all. An identical entry is left
   * untouched (toxics, connections and enabled state kept; it takes a new idle_timeout or
   * max_connections); a differing one is replaced. Stops at the first failure, keeping what
   * was done, as Toxiproxy does. With `replace`, identical entries are replaced too: a config
   * applied at start must win over the stored state, whose disabled flag and toxics it does
   * not name.
   */
  async populate(inputs: ProxyInput[], options: { replace?: boolean } = {}): Promise<{ proxies: Proxy[]; error?: FaultlineError }> {
    inputs.forEach((input, i) => checkProxyInput(input, i + 1, this.protocolNames));
    const done: Proxy[] = [];
    for (const input of inputs) {
      try {
        done.push(await this.locks.run(input.name!, () => this.populateOne(input, options.replace === true)));
      } catch (err) {
        if (err instanceof FaultlineError) return { proxies: done, error: err };
        throw err;
      }
    }
    return { proxies: done };
  }

  /** Re-enables every proxy and removes every toxic. */
  async reset(): Promise<void> {
    for (const { name } of this.list()) {
      await this.locks.run(name, async () => {
        const proxy = this.proxies.get(name);
        if (proxy === undefined) return;
        const staged = proxy.enabled ? null : await proxy.stage(await resolveBind(proxy.listen), null);
        const toxics = proxy.listToxics().map((t) => t.name);
        const changes: StateChange[] = toxics.map((toxic) => ({ kind: 'toxic:removed', proxy: name, toxic }));
        if (staged !== null) changes.unshift({ kind: 'proxy:updated', proxy: name, body: { ...proxy.toJSON(), listen: staged.listener.address, enabled: true } });
        if (changes.length === 0) return;
        await this.persist(changes, staged);
        if (staged !== null) {
          proxy.adopt(staged.listener);
          this.changed(proxy, 'proxy:updated');
        }
        for (const toxic of toxics) await this.takeToxic(proxy, toxic, 'toxic:removed');
      });
    }
  }

  /**
   * Brings back proxies and toxics kept across a restart: listeners re-bound on their old
   * addresses, toxics re-applied in order, ttls still counting from their original expiry.
   * A proxy whose address is now taken comes back disabled rather than lost (and is tried
   * again at the next start). One stored under a name the API no longer accepts is dropped,
   * so nothing is left that no request can reach. Returns warnings.
   */
  async restore(saved: readonly RestoredProxy[]): Promise<string[]> {
    const warnings: string[] = [];
    for (const entry of saved) {
      try {
        checkProxyInput(entry, undefined, this.protocolNames);
      } catch (err) {
        warnings.push(`proxy ${JSON.stringify(String(entry.name).slice(0, 80))} not restored and dropped: ${(err as Error).message}`);
        await this.persist([{ kind: 'proxy:deleted', proxy: entry.name ?? '' }]).catch(() => {});
        continue;
      }
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
          const change = { kind: 'toxic:expired', proxy: proxy.name, toxic: toxic.name ?? '' } as const;
          await this.persist([change]).catch(() => {});
          this.deps.reporter.changed(change);
          continue;
        }
        try {
          await this.insertToxic(proxy, toxic, true);
        } catch (err) {
          warnings.push(`toxic ${toxic.name} on ${proxy.name} not restored: ${(err as Error).message}`);
        }
      }
    }
    return warnings;
  }

  /** One populate entry, under its name's lock. */
  private async populateOne(input: ProxyInput, replace: boolean): Promise<Proxy> {
    const existing = this.proxies.get(input.name!);
    if (existing === undefined) return this.open(input, false);
    if (!replace && (input.protocol ?? 'tcp') === existing.protocol && input.upstream === existing.upstream) {
      // Toxiproxy's Differs: the resolved listen address or the upstream changed.
      const bind = await resolveBind(input.listen ?? '');
      if (reportBound(bind.host, bind.port) === existing.listen) {
        await this.retune(existing, input);
        return existing;
      }
    }
    return this.replace(existing, input);
  }

  /** A new proxy in place of `existing`, bound beside it before it goes, so a failed bind or
   *  write leaves `existing` serving as it was. */
  private async replace(existing: Proxy, input: ProxyInput): Promise<Proxy> {
    const proxy = this.build(input);
    const staged = input.enabled ?? true ? await proxy.stage(await resolveBind(proxy.listen), existing) : null;
    const body = { ...proxy.toJSON(), listen: staged?.listener.address ?? proxy.listen, enabled: staged !== null };
    await this.persist([{ kind: 'proxy:deleted', proxy: proxy.name }, { kind: 'proxy:created', proxy: proxy.name, body }], staged);
    await this.remove(existing.name);
    if (staged !== null) proxy.adopt(staged.listener);
    this.proxies.set(proxy.name, proxy);
    this.changed(proxy, 'proxy:created');
    return proxy;
  }

  /** A kept proxy takes populate's idle_timeout (UDP) and max_connections. */
  private async retune(proxy: Proxy, input: ProxyInput): Promise<void> {
    const idle = proxy instanceof UdpProxy ? checkIdleTimeout('udp', input.idle_timeout) : undefined;
    const max = checkMaxConnections(input.max_connections);
    const newIdle = idle !== undefined && proxy instanceof UdpProxy && proxy.idleTimeout !== idle;
    const newMax = max !== undefined && max !== proxy.maxConnections;
    if (!newIdle && !newMax) return;
    const { max_connections: _max, ...now } = proxy.toJSON();
    const maxNow = newMax ? max! : proxy.maxConnections;
    const body = { ...now, ...(newIdle ? { idle_timeout: idle } : {}), ...(maxNow > 0 ? { max_connections: maxNow } : {}) };
    await this.persist([{ kind: 'proxy:updated', proxy: proxy.name, body }]);
    if (newIdle) (proxy as UdpProxy).setIdleTimeout(idle!);
    if (newMax) proxy.maxConnections = max!;
    this.changed(proxy, 'proxy:updated');
  }
}
