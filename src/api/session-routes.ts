// Chaos sessions: record the control actions taken on this server (from the dashboard or any
// client) and export them as a scenario that replays them. The recorder lives in
// src/sessions/ and is injected by server.ts; these routes only check input and shape replies.

import { badBody, FaultlineError } from '../errors.js';
import type { Request, Route } from './route-types.js';

/** The session recorder, as the API needs it; it throws FaultlineErrors (404, 409). */
export interface ChaosSessions {
  /** Starts recording; 409 while another session records. */
  start(name?: string): Promise<unknown>;
  /** Ends a recording session and returns its summary. */
  stop(id: string): Promise<unknown>;
  /** Summaries, newest first. */
  list(): Promise<unknown[]>;
  get(id: string): Promise<unknown | null>;
  /** The session as a scenario file's text. */
  scenario(id: string, format: 'yaml' | 'json'): Promise<string>;
  /** Stops it first if it records; false if there is no such session. */
  delete(id: string): Promise<boolean>;
}

const MAX_NAME = 200;

export const SESSION_ROUTES: readonly Route[] = [
  {
    // Body {"name": "..."}, optional; an empty body is fine.
    method: 'POST', path: '/sessions',
    async handle(api, req) {
      const name = nameOf(req);
      return { status: 201, json: await api.sessions.start(name) };
    },
  },
  {
    method: 'GET', path: '/sessions',
    async handle(api) { return { status: 200, json: { sessions: await api.sessions.list() } }; },
  },
  {
    method: 'GET', path: '/sessions/:id',
    async handle(api, req) {
      const session = await api.sessions.get(req.params.id!);
      if (session === null) throw new FaultlineError('ERR_SESSION_NOT_FOUND');
      return { status: 200, json: session };
    },
  },
  {
    method: 'POST', path: '/sessions/:id/stop',
    async handle(api, req) { return { status: 200, json: await api.sessions.stop(req.params.id!) }; },
  },
  {
    // YAML with a header comment by default; `format=json` gives the same scenario as JSON.
    method: 'GET', path: '/sessions/:id/scenario',
    async handle(api, req) {
      const formats = req.query.getAll('format');
      const unknown = [...req.query.keys()].find((k) => k !== 'format');
      if (unknown !== undefined) throw new FaultlineError('ERR_BAD_QUERY', `bad query: unknown parameter ${JSON.stringify(unknown)}; only format is accepted`);
      if (formats.length > 1) throw new FaultlineError('ERR_BAD_QUERY', 'bad query: format given more than once');
      const format = formats[0] ?? 'yaml';
      if (format !== 'yaml' && format !== 'json') {
        throw new FaultlineError('ERR_BAD_QUERY', `bad query: format must be yaml or json, got ${JSON.stringify(format)}`);
      }
      const text = await api.sessions.scenario(req.params.id!, format);
      return { status: 200, text, type: format === 'json' ? 'application/json' : 'text/yaml; charset=utf-8' };
    },
  },
  {
    method: 'DELETE', path: '/sessions/:id',
    async handle(api, req) {
      if (!(await api.sessions.delete(req.params.id!))) throw new FaultlineError('ERR_SESSION_NOT_FOUND');
      return { status: 204 };
    },
  },
];

function nameOf(req: Request): string | undefined {
  let body: unknown;
  try {
    body = req.body();
  } catch (err) {
    // An empty body reads as Toxiproxy's EOF error; here it just means no name.
    if (err instanceof FaultlineError && err.message === 'bad request body: EOF') return undefined;
    throw err;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badBody('expected a JSON object like {"name": "checkout latency"} (or no body)');
  }
  const extra = Object.keys(body).filter((k) => k !== 'name');
  if (extra.length > 0) throw badBody(`unknown field ${JSON.stringify(extra[0])}; only name is accepted`);
  const name = (body as { name?: unknown }).name;
  if (name === undefined) return undefined;
  if (typeof name !== 'string' || name.trim() === '' || name.length > MAX_NAME) {
    throw badBody(`name must be a non-empty string of at most ${MAX_NAME} characters`);
  }
  return name.trim();
}
