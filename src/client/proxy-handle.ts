// A proxy as the client sees it: where to connect, enable/disable/update/remove, its toxics,
// and one typed method per toxic type, installed from the registry when this module loads.

import './dispose.js';
import { ToxicHandle, type HandleContext, type ToxicJson } from './toxic-handle.js';
import {
  TOXIC_METHODS, toxicBody, type CamelCase, type ToxicOptions, type ToxicType,
} from './toxic-types.js';
import type { Protocol } from '../toxic.js';

/** A proxy as the API shows it. */
export interface ProxyJson {
  name: string;
  /** The address bound, port included: `127.0.0.1:41601`. */
  listen: string;
  upstream: string;
  enabled: boolean;
  toxics: ToxicJson[];
  /** Present on UDP proxies. */
  protocol?: Protocol;
  max_connections?: number;
  idle_timeout?: number;
}

/** Fields `update` may change, as the API names them. */
export interface ProxyChanges {
  upstream?: string;
  listen?: string;
  enabled?: boolean;
  max_connections?: number;
  idle_timeout?: number;
}

export interface ProxyContext extends HandleContext {
  /** The API's host name, to connect to a proxy listening on a wildcard address. */
  apiHost: string;
  /** The proxy was deleted through its handle. */
  forget(name: string): void;
}

/** One method per toxic type: `latency({ latency, jitter, stream?, toxicity?, ttl?, name? })`,
 *  `slowClose(...)`, `resetPeer(...)`, ... each adding the toxic and resolving with its handle. */
export type ToxicMethods = {
  [T in ToxicType as CamelCase<T>]: (options?: ToxicOptions<T>) => Promise<ToxicHandle<T>>;
};

export class BaseProxyHandle implements AsyncDisposable {
  #json: ProxyJson;
  readonly #context: ProxyContext;

  constructor(context: ProxyContext, json: ProxyJson) {
    this.#context = context;
    this.#json = json;
  }

  get name(): string { return this.#json.name; }
  /** The address the proxy is bound to, as the server reports it. */
  get listen(): string { return this.#json.listen; }
  get upstream(): string { return this.#json.upstream; }
  get enabled(): boolean { return this.#json.enabled; }
  get protocol(): Protocol { return this.#json.protocol ?? 'tcp'; }

  /** Where the code under test connects. A proxy bound to a wildcard address (0.0.0.0, ::) is
   *  reached at the API's host. */
  get host(): string {
    const host = splitHostPort(this.#json.listen).host;
    return host === '' || host === '0.0.0.0' || host === '::' ? this.#context.apiHost : host;
  }

  get port(): number {
    return splitHostPort(this.#json.listen).port;
  }

  /** `host:port` (IPv6 in brackets), ready for a connection string. */
  get address(): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  private get path(): string {
    return `/proxies/${encodeURIComponent(this.name)}`;
  }

  /** Accepts connections again. */
  enable(): Promise<this> {
    return this.update({ enabled: true });
  }

  /** Closes the listener and every live connection; new ones are refused. */
  disable(): Promise<this> {
    return this.update({ enabled: false });
  }

  async update(changes: ProxyChanges): Promise<this> {
    await this.#context.beforeChange();
    this.#json = await this.#context.api.post<ProxyJson>(this.path, changes);
    return this;
  }

  /** Reads the proxy's current state from the server. */
  async refresh(): Promise<this> {
    this.#json = await this.#context.api.get<ProxyJson>(this.path);
    return this;
  }

  /** Deletes the proxy (its listener and connections go). Resolves too if it was gone already. */
  async remove(): Promise<void> {
    await this.#context.beforeChange();
    await this.#context.api.deleteIfPresent(this.path);
    this.#context.forget(this.name);
  }

  /** The proxy's toxics now. */
  async toxics(): Promise<ToxicHandle[]> {
    const list = await this.#context.api.get<ToxicJson[]>(`${this.path}/toxics`);
    return list.map((json) => new ToxicHandle(this.#context, this.name, json));
  }

  /** One toxic by name; a FaultlineApiError (404) if there is none. */
  async toxic(name: string): Promise<ToxicHandle> {
    const json = await this.#context.api.get<ToxicJson>(`${this.path}/toxics/${encodeURIComponent(name)}`);
    return new ToxicHandle(this.#context, this.name, json);
  }

  /** Adds a toxic named by its type; the typed methods (`latency(...)`) call this. */
  async addToxic<T extends ToxicType>(spec: { type: T } & ToxicOptions<T>): Promise<ToxicHandle<T>> {
    const body = toxicBody(spec.type, spec as Record<string, unknown>);
    await this.#context.beforeChange();
    const json = await this.#context.api.post<ToxicJson>(`${this.path}/toxics`, body);
    return new ToxicHandle<T>(this.#context, this.name, json);
  }

  /**
   * Applies a toxic for the duration of `fn` and removes it however `fn` ends, resolving with
   * what `fn` returns. If `fn` throws, its error is the one thrown, even if removal fails too.
   */
  async withToxic<T extends ToxicType, R>(spec: { type: T } & ToxicOptions<T>, fn: (toxic: ToxicHandle<T>) => R | Promise<R>): Promise<R> {
    const toxic = await this.addToxic(spec);
    let result: R;
    try {
      result = await fn(toxic);
    } catch (err) {
      await toxic.remove().catch(() => {});
      throw err;
    }
    await toxic.remove();
    return result;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.remove();
  }

  toJSON(): ProxyJson {
    return this.#json;
  }
}

/** A proxy handle: the methods above plus one per toxic type. */
export type ProxyHandle = BaseProxyHandle & ToxicMethods;

for (const [type, method] of TOXIC_METHODS) {
  // A toxic whose method name is already a handle member would silently lose one of them.
  if (method in BaseProxyHandle.prototype) throw new Error(`toxic ${type}: its method name ${method} is taken on a proxy handle`);
  Object.defineProperty(BaseProxyHandle.prototype, method, {
    value(this: BaseProxyHandle, options: object = {}) {
      return this.addToxic({ ...options, type } as Parameters<BaseProxyHandle['addToxic']>[0]);
    },
    writable: true,
    configurable: true,
  });
}

function splitHostPort(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon);
  return { host: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host, port: Number(listen.slice(colon + 1)) };
}
