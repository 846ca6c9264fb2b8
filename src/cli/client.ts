// A tiny HTTP client for the control API. It sends JSON, reads JSON, and turns the server's
// `{"error": .., "status": ..}` bodies into an Error reading `HTTP <status>: <error>` (the
// Go client's wording), and network failures into `cannot reach <url>: <reason>`.

import { createRequire } from 'node:module';
import type { Command } from 'commander';
import type { CliIO } from './output.js';
import { errorText, networkMessage, oneLine } from '../http-messages.js';

// Compiled to dist/src/cli/client.js, so the package root is three levels up.
const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };

export const VERSION: string = pkg.version;
export const DEFAULT_URL = 'http://127.0.0.1:8474';
const TIMEOUT_MS = 30_000;

/** Prepends `http://` when the address has no scheme, and drops trailing slashes. */
export function normalizeUrl(url: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`;
  return withScheme.replace(/\/+$/, '');
}

/** `--url`, else FAULTLINE_URL, else TOXIPROXY_URL, else the default; empty values are unset. */
export function resolveUrl(flag: string | undefined, env: CliIO['env']): string {
  const pick = [flag, env.FAULTLINE_URL, env.TOXIPROXY_URL].find((v) => v !== undefined && v !== '');
  return normalizeUrl(pick ?? DEFAULT_URL);
}

export class ApiClient {
  readonly baseUrl: string;

  constructor(baseUrl: string) {
    this.baseUrl = normalizeUrl(baseUrl);
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  delete(path: string): Promise<void> {
    return this.request<void>('DELETE', path);
  }

  /** Resolves with the parsed JSON body (undefined when empty); rejects with a one-line Error. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.baseUrl}${path}`;
    const headers: Record<string, string> = {
      'User-Agent': `faultline-cli/${VERSION}`,
      Accept: 'application/json',
    };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      text = await res.text();
    } catch (err) {
      throw new Error(networkMessage(this.baseUrl, err, TIMEOUT_MS));
    }
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${errorText(res, text)}`);
    if (text.trim() === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new Error(`invalid JSON from ${method} ${path}: ${oneLine(text)}`);
    }
  }
}

/** The client for a command, from its `--url` (on it or any parent) and the environment. */
export function clientFor(cmd: Command, io: CliIO): ApiClient {
  const { url } = cmd.optsWithGlobals<{ url?: string }>();
  return new ApiClient(resolveUrl(url, io.env));
}

/** Whether `--json` was given anywhere on the command line. */
export function wantsJson(cmd: Command): boolean {
  return cmd.optsWithGlobals<{ json?: boolean }>().json === true;
}

/** Encodes one path segment (a proxy or toxic name). */
export function seg(name: string): string {
  return encodeURIComponent(name);
}
