// A toxic on a proxy, as the client sees it: its fields as the server last reported them,
// `update` and `remove`, and disposal (`await using`) that removes it.

import './dispose.js';
import type { Api } from './api.js';
import { changesBody, type ToxicAttributes, type ToxicChanges, type ToxicType } from './toxic-types.js';
import type { AttributeValue, Stream } from '../toxic.js';

/** A toxic as the API shows it (Toxiproxy's shape, plus `expires_at` when it has a ttl). */
export interface ToxicJson {
  name: string;
  type: string;
  stream: string;
  toxicity: number;
  attributes: Record<string, unknown>;
  expires_at?: string;
}

/** What a toxic handle needs from its client. */
export interface HandleContext {
  api: Api;
  /** Opens the event stream before a change, so the faults it causes are all seen. */
  beforeChange(): Promise<void>;
}

export class ToxicHandle<T extends ToxicType = ToxicType> implements AsyncDisposable {
  #json: ToxicJson;
  readonly #context: HandleContext;

  /** The proxy's name. */
  readonly proxy: string;

  constructor(context: HandleContext, proxy: string, json: ToxicJson) {
    this.#context = context;
    this.proxy = proxy;
    this.#json = json;
  }

  get name(): string { return this.#json.name; }
  get type(): T { return this.#json.type as T; }
  get stream(): Stream { return this.#json.stream as Stream; }
  get toxicity(): number { return this.#json.toxicity; }
  /** Every attribute, defaults included (bandwidth's UDP-only `queue` is absent on TCP); typed
   *  by the toxic's type when the handle's type is known. */
  get attributes(): Readonly<ToxicType extends T ? Record<string, AttributeValue> : ToxicAttributes<T>> {
    return this.#json.attributes as never;
  }
  /** ISO time at which the toxic removes itself, when it has a ttl. */
  get expiresAt(): string | undefined { return this.#json.expires_at; }

  private get path(): string {
    return `/proxies/${encodeURIComponent(this.proxy)}/toxics/${encodeURIComponent(this.name)}`;
  }

  /** Changes attributes (merged into the current ones), toxicity or ttl, on live connections too. */
  async update(changes: ToxicChanges<T>): Promise<this> {
    const body = changesBody(this.type, changes as Record<string, unknown>);
    await this.#context.beforeChange();
    this.#json = await this.#context.api.post<ToxicJson>(this.path, body);
    return this;
  }

  /** Reads the toxic's current state from the server. */
  async refresh(): Promise<this> {
    this.#json = await this.#context.api.get<ToxicJson>(this.path);
    return this;
  }

  /** Removes the toxic. Resolves too if it was gone already (its ttl ran out, a reset, the
   *  proxy deleted), so cleanup never fails a test that passed. */
  async remove(): Promise<void> {
    await this.#context.beforeChange();
    await this.#context.api.deleteIfPresent(this.path);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.remove();
  }

  toJSON(): ToxicJson & { proxy: string } {
    return { proxy: this.proxy, ...this.#json };
  }
}
