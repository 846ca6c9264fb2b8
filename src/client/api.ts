// The client's HTTP side: JSON requests to a faultline (or Toxiproxy) API, and the one error
// class for the answers that are errors. The message is the server's own text, from the error
// table (src/errors.ts), so a test can compare it as it would Toxiproxy's.

import { ERRORS, type ErrorCode } from '../errors.js';
import { networkMessage, oneLine } from '../http-messages.js';

const TIMEOUT_MS = 30_000;

/** An error the API answered with: `status`, `code` (from the error table) and the server's
 *  message (`proxy not found`, `bad request body: attribute latency must be at least 0, ...`). */
export class FaultlineApiError extends Error {
  readonly status: number;
  /** The server's `code`. Toxiproxy sends none; it is then found from the status and message
   *  in faultline's table, which spells Toxiproxy's messages, or left undefined. */
  readonly code: ErrorCode | undefined;
  /** The request that failed, e.g. `POST /proxies/redis/toxics`. */
  readonly request: string;
  /** The parsed body (or its text when it was not JSON). */
  readonly body: unknown;

  constructor(status: number, message: string, code: ErrorCode | undefined, request: string, body: unknown) {
    super(message);
    this.name = 'FaultlineApiError';
    this.status = status;
    this.code = code;
    this.request = request;
    this.body = body;
  }
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

/** The code of a message Toxiproxy sent without one. */
function codeOf(status: number, message: string): ErrorCode | undefined {
  for (const [code, entry] of Object.entries(ERRORS) as [ErrorCode, { status: number; message: string }][]) {
    if (entry.status === status && (message === entry.message || message.startsWith(`${entry.message}:`))) return code;
  }
  return undefined;
}

export class Api {
  constructor(readonly url: string, private readonly userAgent: string) {}

  get<T>(at: string): Promise<T> {
    return this.request<T>('GET', at);
  }

  post<T>(at: string, body: unknown): Promise<T> {
    return this.request<T>('POST', at, body);
  }

  delete(at: string): Promise<void> {
    return this.request<void>('DELETE', at);
  }

  /** Deletes, treating "already gone" (a 404 for it or for its proxy) as done. */
  async deleteIfPresent(at: string): Promise<void> {
    try {
      await this.delete(at);
    } catch (err) {
      if (!(err instanceof FaultlineApiError && err.status === 404)) throw err;
    }
  }

  async request<T>(method: string, at: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { 'User-Agent': this.userAgent, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.url + at, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      text = await res.text();
    } catch (err) {
      throw new Error(networkMessage(this.url, err, TIMEOUT_MS), { cause: err });
    }
    let json: unknown;
    try {
      json = text.trim() === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const fields = (typeof json === 'object' && json !== null ? json : {}) as { error?: unknown; code?: unknown };
      const message = typeof fields.error === 'string' ? fields.error : oneLine(text) || res.statusText || `HTTP ${res.status}`;
      const code = isErrorCode(fields.code) ? fields.code : codeOf(res.status, message);
      throw new FaultlineApiError(res.status, message, code, `${method} ${at}`, json ?? text);
    }
    if (json === undefined && text.trim() !== '') throw new Error(`invalid JSON from ${method} ${at}: ${oneLine(text).slice(0, 200)}`);
    return json as T;
  }
}
