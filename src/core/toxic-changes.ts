// The toxic changes of a proxy, under the proxy's name lock and written to the journal before
// they reach the live connections, with Toxiproxy's order of checks (clients' tests depend on
// which error wins). A toxic's ttl removes it by itself later, through the same path.

import { FaultlineError } from '../errors.js';
import { attributeProtocol, parseAttributes, toxicApplies, type Stream } from '../toxic.js';
import { checkName, checkToxicity, expiryOf, type ToxicInput } from './inputs.js';
import type { Proxy } from './proxy.js';
import { ProxyChanges } from './proxy-changes.js';
import { toxicJSON, type ToxicConfig } from './toxic-config.js';

export class ToxicChanges extends ProxyChanges {
  getToxic(proxyName: string, toxicName: string): ToxicConfig {
    const toxic = this.get(proxyName).getToxic(toxicName);
    if (toxic === undefined) throw new FaultlineError('ERR_TOXIC_NOT_FOUND');
    return toxic;
  }

  addToxic(proxyName: string, input: ToxicInput): Promise<ToxicConfig> {
    return this.locks.run(proxyName, () => this.insertToxic(this.get(proxyName), input, false));
  }

  /** Merges attributes into the current ones; toxicity changes only if given. */
  updateToxic(proxyName: string, toxicName: string, input: ToxicInput): Promise<ToxicConfig> {
    return this.locks.run(proxyName, async () => {
      const proxy = this.get(proxyName);
      const current = this.getToxic(proxyName, toxicName);
      const config: ToxicConfig = {
        ...current,
        toxicity: input.toxicity === undefined ? current.toxicity : checkToxicity(input.toxicity),
        attributes: parseAttributes(current.definition, input.attributes, current.attributes, attributeProtocol(current.definition, proxy.protocol)),
        expiresAt: input.ttl === undefined ? current.expiresAt : expiryOf(input.ttl) ?? null,
      };
      const body = toxicJSON(config);
      await this.persist([{ kind: 'toxic:updated', proxy: proxy.name, toxic: toxicName, body }]);
      await proxy.updateToxic(config);
      this.schedule(proxy.name, config);
      this.deps.reporter.changed({ kind: 'toxic:updated', proxy: proxy.name, toxic: toxicName, body });
      return config;
    });
  }

  removeToxic(proxyName: string, toxicName: string): Promise<void> {
    return this.locks.run(proxyName, async () => {
      this.getToxic(proxyName, toxicName);
      await this.persist([{ kind: 'toxic:removed', proxy: proxyName, toxic: toxicName }]);
      await this.takeToxic(this.get(proxyName), toxicName, 'toxic:removed');
    });
  }

  /** Checks and adds a toxic (the caller holds the proxy's lock). `restored` toxics are on
   *  disk already, and their events say so, so the log tells them from what a client did. */
  protected async insertToxic(proxy: Proxy, input: ToxicInput, restored: boolean): Promise<ToxicConfig> {
    const streamLabel = input.stream ?? 'downstream';
    const stream = streamLabel.toLowerCase();
    if (stream !== 'upstream' && stream !== 'downstream') throw new FaultlineError('ERR_INVALID_STREAM');
    const type = input.type ?? '';
    const name = input.name || `${type}_${streamLabel}`;
    const definition = this.deps.findToxic(type);
    if (definition === undefined) throw new FaultlineError('ERR_INVALID_TOXIC_TYPE');
    checkName(name, 'toxic name');
    if (!toxicApplies(definition, proxy.protocol)) {
      throw new FaultlineError('ERR_UNSUPPORTED_PROTOCOL', `toxic ${type} does not apply to ${proxy.protocol} proxies`);
    }
    if (proxy.getToxic(name) !== undefined) throw new FaultlineError('ERR_TOXIC_EXISTS');
    const config: ToxicConfig = {
      name, type, stream: stream as Stream, streamLabel, definition,
      toxicity: checkToxicity(input.toxicity ?? 1),
      attributes: parseAttributes(definition, input.attributes, undefined, attributeProtocol(definition, proxy.protocol)),
      expiresAt: input.expiresAt !== undefined ? input.expiresAt : expiryOf(input.ttl) ?? null,
    };
    const body = toxicJSON(config);
    if (!restored) await this.persist([{ kind: 'toxic:added', proxy: proxy.name, toxic: name, body }]);
    await proxy.addToxic(config);
    this.schedule(proxy.name, config);
    this.deps.reporter.changed({ kind: 'toxic:added', proxy: proxy.name, toxic: name, body, ...(restored ? { restored: true as const } : {}) });
    return config;
  }

  /** Takes a toxic off the proxy and its live connections, once that is on disk. */
  protected async takeToxic(proxy: Proxy, toxicName: string, kind: 'toxic:removed' | 'toxic:expired'): Promise<void> {
    this.expiries.clear(proxy.name, toxicName);
    await proxy.removeToxic(toxicName);
    this.deps.reporter.changed({ kind, proxy: proxy.name, toxic: toxicName });
  }

  private schedule(proxyName: string, config: ToxicConfig): void {
    this.expiries.set(proxyName, config.name, config.expiresAt, () => void this.expire(proxyName, config.name));
  }

  /**
   * A ttl ran out. The toxic goes even if the journal cannot say so: its stored expiry is past,
   * so a restart drops it anyway, and keeping a fault past its ttl would be the worse failure.
   */
  private expire(proxyName: string, toxicName: string): Promise<void> {
    return this.locks.run(proxyName, async () => {
      const proxy = this.proxies.get(proxyName);
      if (proxy?.getToxic(toxicName) === undefined) return;
      try {
        await this.persist([{ kind: 'toxic:expired', proxy: proxyName, toxic: toxicName }]);
      } catch (err) {
        this.deps.reporter.warn(`toxic ${toxicName} on ${proxyName} expired; its removal is not stored`, { error: (err as Error).message });
      }
      await this.takeToxic(proxy, toxicName, 'toxic:expired');
    }).catch((err: unknown) => {
      this.deps.reporter.warn(`could not expire toxic ${toxicName} on ${proxyName}`, { error: String(err) });
    });
  }
}
