// The library's test-facing client: `startFaultline()` runs a server in this process,
// `connectFaultline()` talks to a running one, and both give the same client, which talks to
// its server only over the API and the event stream, so a test behaves the same either way.

import './dispose.js';
import { nanoid } from 'nanoid';
import { Api } from './api.js';
import { FaultEventStream, type FaultEvents } from './event-stream.js';
import { BaseProxyHandle, type ProxyContext, type ProxyHandle, type ProxyJson } from './proxy-handle.js';
import { createServer, VERSION, type FaultlineServer, type ServerOptions } from '../server.js';
import type { Protocol } from '../toxic.js';

export const DEFAULT_URL = 'http://127.0.0.1:8474';

export interface ProxyOptions {
  /** Default `proxy-<random>`. A proxy of the same name is replaced. */
  name?: string;
  /** `host:port` of the real service. */
  upstream: string;
  /** Default an ephemeral port: `127.0.0.1:0` on a server on this machine (a loopback API URL),
   *  `0.0.0.0:0` on any other, so the proxy is reachable where the API is. */
  listen?: string;
  /** `tcp` (the default), `udp`, `http` or `dns`. */
  protocol?: Protocol;
  /** Default true. */
  enabled?: boolean;
  /** Live connections (UDP: sessions) allowed at once; 0 means no limit. */
  max_connections?: number;
  /** UDP only: milliseconds without traffic after which a session ends. */
  idle_timeout?: number;
}

export interface FaultlineClient extends AsyncDisposable {
  /** The API's base URL. */
  readonly url: string;
  /** The server `startFaultline` runs in this process; null for `connectFaultline`. */
  readonly server: FaultlineServer | null;
  /** Fault events from the server's live stream, and `waitFor`. */
  readonly events: FaultEvents;
  /** Creates a proxy, replacing one of the same name. */
  proxy(options: ProxyOptions): Promise<ProxyHandle>;
  /** An existing proxy; a FaultlineApiError (404) if there is none. */
  getProxy(name: string): Promise<ProxyHandle>;
  /** Every proxy on the server. */
  proxies(): Promise<ProxyHandle[]>;
  /** Enables every proxy and removes every toxic (Toxiproxy's `POST /reset`); `events.waitFor`
   *  then looks back no further than this. */
  reset(): Promise<void>;
  /**
   * Closes the event stream. A started server is stopped. A connected client deletes the
   * proxies it created and did not remove, leaving the server as it found it.
   */
  close(): Promise<void>;
}

class Client implements FaultlineClient {
  readonly events: FaultEventStream;
  private readonly api: Api;
  private readonly context: ProxyContext;
  private readonly created = new Set<string>();
  private readonly loopback: boolean;
  private closing: Promise<void> | null = null;

  constructor(readonly url: string, readonly server: FaultlineServer | null) {
    this.api = new Api(url, `faultline-client/${VERSION}`);
    this.events = new FaultEventStream(`${url.replace(/^http/i, 'ws')}/events/stream?kind=fault:injected`);
    const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
    this.loopback = host === 'localhost' || host === '::1' || /^127\./.test(host);
    this.context = {
      api: this.api,
      apiHost: host,
      beforeChange: () => this.events.beforeChange(),
      forget: (name) => this.created.delete(name),
    };
  }

  async proxy(options: ProxyOptions): Promise<ProxyHandle> {
    if (typeof options?.upstream !== 'string') throw new TypeError('proxy: upstream ("host:port") is required');
    const body = {
      ...options,
      name: options.name ?? `proxy-${nanoid(10)}`,
      listen: options.listen ?? (this.loopback ? '127.0.0.1:0' : '0.0.0.0:0'),
    };
    await this.events.beforeChange();
    let json: ProxyJson;
    try {
      json = await this.api.post<ProxyJson>('/proxies', body);
    } catch (err) {
      if ((err as { status?: unknown }).status !== 409) throw err;
      await this.api.deleteIfPresent(`/proxies/${encodeURIComponent(body.name)}`);
      json = await this.api.post<ProxyJson>('/proxies', body);
    }
    this.created.add(json.name);
    return this.handle(json);
  }

  async getProxy(name: string): Promise<ProxyHandle> {
    return this.handle(await this.api.get<ProxyJson>(`/proxies/${encodeURIComponent(name)}`));
  }

  async proxies(): Promise<ProxyHandle[]> {
    const all = await this.api.get<Record<string, ProxyJson>>('/proxies');
    return Object.values(all).map((json) => this.handle(json));
  }

  async reset(): Promise<void> {
    await this.events.beforeChange();
    await this.api.post('/reset', undefined);
    this.events.markReset();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        if (this.server === null) {
          for (const name of this.created) await this.api.deleteIfPresent(`/proxies/${encodeURIComponent(name)}`);
        }
      } finally {
        this.created.clear();
        await this.events.close();
        await this.server?.close();
      }
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private handle(json: ProxyJson): ProxyHandle {
    return new BaseProxyHandle(this.context, json) as ProxyHandle;
  }
}

/** Starts a faultline server in this process (127.0.0.1, an ephemeral port, an in-memory event
 *  log unless `options` say otherwise) and returns a client for it; `close()` stops it. */
export async function startFaultline(options: ServerOptions = {}): Promise<FaultlineClient> {
  const server = await createServer(options);
  return new Client(server.url, server);
}

/**
 * A client for a running server at `url`, else `FAULTLINE_URL`, else `TOXIPROXY_URL`, else
 * http://127.0.0.1:8474 (`http://` is added when there is no scheme). Fails at once, with the
 * reason, when no server answers there.
 */
export async function connectFaultline(url?: string): Promise<FaultlineClient> {
  const base = faultlineUrl(url);
  const client = new Client(base, null);
  await new Api(base, `faultline-client/${VERSION}`).get('/version');
  return client;
}

/** The URL `connectFaultline` uses for `url`; empty values count as unset. */
export function faultlineUrl(url?: string, env: Record<string, string | undefined> = process.env): string {
  const pick = [url, env.FAULTLINE_URL, env.TOXIPROXY_URL].find((v) => v !== undefined && v !== '') ?? DEFAULT_URL;
  return (/^[a-z][a-z0-9+.-]*:\/\//i.test(pick) ? pick : `http://${pick}`).replace(/\/+$/, '');
}
