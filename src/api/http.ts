// The HTTP front: route matching, body limits, Toxiproxy's guards and headers, and the single
// error funnel. Handlers only throw; this file decides what goes on the wire.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { customAlphabet } from 'nanoid';
import { FaultlineError } from '../errors.js';
import { isBrowser } from './browser-access.js';
import { parseJson } from './input.js';
import { sendEmpty, sendError, sendJson, sendStream, sendText } from './respond.js';
import { ROUTES, type ApiContext, type Route } from './routes.js';
import type { PageHandler } from './static.js';

export const MAX_BODY_BYTES = 1024 * 1024;

// Toxiproxy's request ids are 20-character xids in base32hex.
const requestId = customAlphabet('0123456789abcdefghijklmnopqrstuv', 20);

interface CompiledRoute {
  route: Route;
  pattern: RegExp;
  names: string[];
}

const COMPILED: CompiledRoute[] = ROUTES.map((route) => {
  const names: string[] = [];
  const source = route.path.replace(/:(\w+)/g, (_, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { route, pattern: new RegExp(`^${source}$`), names };
});

export interface ApiServerOptions {
  /** The dashboard's pages, answered before route matching and outside the browser guard. */
  pages?: PageHandler;
  /** Lets a browser's request through the guard (the dashboard, with its token). */
  allowBrowser?: (req: IncomingMessage) => boolean;
}

export function createApiServer(api: ApiContext, onError: (err: unknown) => void, options: ApiServerOptions = {}): Server {
  const server = createServer((req, res) => {
    handle(api, options, req, res).catch((err) => {
      if (sendError(res, err).status >= 500) onError(err);
    });
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;
  server.keepAliveTimeout = 60_000;
  return server;
}

async function handle(api: ApiContext, options: ApiServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (options.pages !== undefined && await options.pages(req, res)) return;
  const path = (req.url ?? '/').split('?')[0]!;
  const matches = COMPILED.map((c) => ({ c, m: c.pattern.exec(path) })).filter((x) => x.m !== null);
  if (matches.length === 0) return sendError(res, new FaultlineError('ERR_ROUTE_NOT_FOUND')), undefined;
  const hit = matches.find((x) => x.c.route.method === req.method);
  if (hit === undefined) {
    res.setHeader('Allow', [...new Set(matches.map((x) => x.c.route.method))].join(', '));
    sendError(res, new FaultlineError('ERR_METHOD_NOT_ALLOWED'));
    return;
  }
  res.setHeader('X-Toxiproxy-Request-Id', requestId());
  // Toxiproxy refuses browsers so that a web page cannot drive a developer's local proxy; only
  // the dashboard, proving itself with its token and origin, gets past.
  if (isBrowser(req) && options.allowBrowser?.(req) !== true) {
    req.resume();
    return sendText(res, 403, 'User agent not allowed\n');
  }
  let raw: Buffer;
  try {
    raw = await readBody(req);
  } catch (err) {
    res.setHeader('Connection', 'close');
    sendError(res, err);
    return;
  }
  const params: Record<string, string> = {};
  try {
    hit.c.names.forEach((name, i) => { params[name] = decodeURIComponent(hit.m![i + 1]!); });
  } catch {
    return sendError(res, new FaultlineError('ERR_ROUTE_NOT_FOUND')), undefined;
  }
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const reply = await hit.c.route.handle(api, { params, query, body: () => parseJson(raw) });
  if ('json' in reply) sendJson(res, reply.status, reply.json, reply.newline);
  else if ('text' in reply) sendText(res, reply.status, reply.text, reply.type);
  else if ('stream' in reply) await sendStream(res, reply.status, reply.type, reply.stream);
  else sendEmpty(res, reply.status);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (part: Buffer) => {
      size += part.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge());
        return;
      }
      parts.push(part);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

function tooLarge(): FaultlineError {
  return new FaultlineError('ERR_BODY_TOO_LARGE', `request body too large: the limit is ${MAX_BODY_BYTES} bytes`);
}
