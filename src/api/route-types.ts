// The shapes shared by the route tables and the HTTP front.

import type { Collection } from '../core/collection.js';
import type { AnyToxicDefinition } from '../toxic.js';

export interface ApiContext {
  readonly collection: Collection;
  readonly toxics: readonly AnyToxicDefinition[];
  readonly version: string;
  readonly events: EventLog;
  readonly metrics: { readonly contentType: string; text(): Promise<string> };
  readonly runs: ScenarioRuns;
  /** Chaos sessions (src/sessions/recorder.ts, injected by server.ts). */
  readonly sessions: import('./session-routes.js').ChaosSessions;
  /** The folder `GET /scenarios/files` lists; none when absent. */
  readonly scenariosDir?: string;
  /** http proxies' per-route figures, for GET /routes; none when absent. */
  readonly httpRoutes?: () => ReadonlyArray<{ proxy: string; routes: readonly unknown[] }>;
}

/** Game-day runs on the server itself (src/scenario/server-runs.ts, injected by server.ts). */
export interface ScenarioRuns {
  /** Parses and starts a run; `issues` ('line:col: path: message' each) when it is invalid.
   *  `token`: the request carries the server's token, which a scenario with exec probes needs
   *  (on a server that allows exec at all); throws a 403 otherwise, before anything starts. */
  start(text: string, from: { token: boolean }): Promise<{ record: unknown } | { issues: string[] }>;
  /** Summaries, newest first. */
  list(): Promise<unknown[]>;
  get(id: string): Promise<unknown | null>;
  /** The run's self-contained HTML report; null when there is no such run. */
  report(id: string): Promise<string | null>;
  /** Aborts a running run and waits for its rollback and final record. */
  abort(id: string): Promise<'aborted' | 'finished' | 'not_found'>;
  /** Stores a finished run's record sent by a client (checked by run-record-input.ts); throws
   *  ERR_RUN_RUNNING when a run in progress has its id. */
  put(record: { id: string } & Record<string, unknown>): Promise<'created' | 'replaced'>;
}

/** The persisted event log, as the API needs it; server.ts adapts the store to it. */
export interface EventLog {
  /** Throws (a 400) if the filter is bad; lets a stream check before its 200 goes out. */
  check(params: URLSearchParams): void;
  /** One page, newest first. Throws (a 400) on a bad filter. */
  query(params: URLSearchParams): Promise<{ events: unknown[]; next: string | null }>;
  /** Every matching event, newest first, handed over in batches; checks the filter first. */
  export(params: URLSearchParams, write: (events: unknown[]) => Promise<void>): Promise<void>;
}

export interface Request {
  params: Record<string, string>;
  /** The parsed JSON body; throws Toxiproxy's `bad request body` error. Read lazily, because
   *  some routes check the proxy exists before they look at the body. */
  body(): unknown;
  query: URLSearchParams;
  /** The request carries the server's token in X-Faultline-Token. Most routes need none
   *  (Toxiproxy's clients send none); starting commands on the server does. */
  token: boolean;
}

export type Reply =
  | { status: number; json: unknown; newline?: boolean }
  | { status: number; text: string; type: string }
  | { status: 204 }
  /** A body written piece by piece (large exports), with back-pressure. */
  | { status: number; type: string; stream(write: (text: string) => Promise<void>): Promise<void> };

export interface Route {
  method: string;
  path: string;
  handle(api: ApiContext, req: Request): Promise<Reply>;
}

