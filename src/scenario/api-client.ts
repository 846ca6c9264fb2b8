// The runner's client for one faultline server's REST API. The runner drives every server, the
// embedded one included, over HTTP, so the same code drives remote servers. JSON in and out;
// failures read as the CLI's do (src/http-messages.ts); the error keeps the status, so a
// rollback can tell "already gone" (404) from a real failure.

import { errorText, networkMessage, oneLine } from '../http-messages.js';

export interface ToxicJson {
  name: string;
  type: string;
  stream: string;
  toxicity: number;
  attributes: Record<string, unknown>;
  /** ISO time, present when the toxic carries a ttl. */
  expires_at?: string;
}

export interface ProxyJson {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  toxics: ToxicJson[];
}

export type ProxyFields = { enabled?: boolean; upstream?: string; listen?: string };

export interface ToxicBody {
  name: string;
  type: string;
  stream: string;
  toxicity: number;
  attributes: Record<string, unknown>;
  ttl?: number;
}

/** One row of a server's event log, as GET /events returns it. */
export interface EventJson {
  id: string;
  /** Epoch ms. */
  ts: number;
  kind: string;
  proxy?: string;
  toxic?: string;
  type?: string;
  stream?: string;
  action?: string;
  detail?: Record<string, unknown>;
}

export class ApiError extends Error {
  /** The HTTP status, or null when the server could not be reached or timed out. */
  readonly status: number | null;

  constructor(message: string, status: number | null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

const DEFAULT_TIMEOUT_MS = 5_000;
const seg = (name: string) => encodeURIComponent(name);

export class ScenarioApi {
  readonly baseUrl: string;

  /** `server` is the scenario's name for it (`default`, `edge`, ...), used in messages. */
  constructor(readonly server: string, baseUrl: string, readonly timeoutMs = DEFAULT_TIMEOUT_MS) {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(baseUrl) ? baseUrl : `http://${baseUrl}`;
    this.baseUrl = withScheme.replace(/\/+$/, '');
  }

  /** Resolves with the parsed JSON body (undefined when empty); rejects with an ApiError. */
  async request<T>(method: string, path: string, body?: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'faultline-scenario' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      throw new ApiError(networkMessage(this.baseUrl, err, timeoutMs), null);
    }
    if (!res.ok) throw new ApiError(`HTTP ${res.status}: ${errorText(res, text)}`, res.status);
    if (text.trim() === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(`invalid JSON from ${method} ${path}: ${oneLine(text)}`, res.status);
    }
  }

  /** GET /version: the `faultline` version, or the Toxiproxy API version for other servers. */
  async version(timeoutMs?: number): Promise<string> {
    const json = await this.request<{ version?: string; faultline?: string }>('GET', '/version', undefined, timeoutMs);
    return json?.faultline ?? json?.version ?? 'unknown';
  }

  /** The proxy, or null when the server has none of that name. */
  async getProxy(name: string): Promise<ProxyJson | null> {
    try {
      return await this.request<ProxyJson>('GET', `/proxies/${seg(name)}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return null;
      throw err;
    }
  }

  createProxy(body: { name: string; listen: string; upstream: string; enabled: boolean; protocol: string }): Promise<ProxyJson> {
    return this.request<ProxyJson>('POST', '/proxies', body);
  }

  updateProxy(name: string, fields: ProxyFields, timeoutMs?: number): Promise<ProxyJson> {
    return this.request<ProxyJson>('POST', `/proxies/${seg(name)}`, fields, timeoutMs);
  }

  deleteProxy(name: string, timeoutMs?: number): Promise<void> {
    return this.request<void>('DELETE', `/proxies/${seg(name)}`, undefined, timeoutMs);
  }

  getToxic(proxy: string, toxic: string): Promise<ToxicJson> {
    return this.request<ToxicJson>('GET', `/proxies/${seg(proxy)}/toxics/${seg(toxic)}`);
  }

  addToxic(proxy: string, body: ToxicBody, timeoutMs?: number): Promise<ToxicJson> {
    return this.request<ToxicJson>('POST', `/proxies/${seg(proxy)}/toxics`, body, timeoutMs);
  }

  updateToxic(proxy: string, toxic: string, body: Partial<ToxicBody>, timeoutMs?: number): Promise<ToxicJson> {
    return this.request<ToxicJson>('POST', `/proxies/${seg(proxy)}/toxics/${seg(toxic)}`, body, timeoutMs);
  }

  removeToxic(proxy: string, toxic: string, timeoutMs?: number): Promise<void> {
    return this.request<void>('DELETE', `/proxies/${seg(proxy)}/toxics/${seg(toxic)}`, undefined, timeoutMs);
  }

  /** One page of GET /events (newest first); `next` is the cursor of the older page. */
  events(query: Record<string, string | number>, timeoutMs?: number): Promise<{ events: EventJson[]; next: string | null }> {
    const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
    return this.request('GET', `/events?${qs}`, undefined, timeoutMs);
  }

  /** Stores a finished run's record (PUT /scenarios/runs/{id}). */
  async putRun(record: { id: string }, timeoutMs?: number): Promise<void> {
    await this.request<unknown>('PUT', `/scenarios/runs/${seg(record.id)}`, record, timeoutMs);
  }
}

/** Whether an error means the thing is already gone (a toxic expired, a proxy deleted). */
export function isNotFound(err: unknown): boolean {
  return err instanceof ApiError && err.status === 404;
}
