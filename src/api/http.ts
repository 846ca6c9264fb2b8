// The HTTP front: route matching, body limits, Toxiproxy's guards and headers, and the single
// error funnel. Handlers only throw; this file decides what goes on the wire.

import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { customAlphabet } from 'nanoid';
import { badBody, FaultlineError } from '../errors.js';
import { isBrowser, TOKEN_HEADER, tokenMatches } from './browser-access.js';
import { parseJson } from './input.js';
import { sendEmpty, sendError, sendJson, sendStream, sendText } from './respond.js';
import { ROUTES, type ApiContext, type Route } from './routes.js';
import type { PageHandler } from './static.js';

export const MAX_BODY_BYTES = 1024 * 1024;
/** Past the limit, how much more of a body is read and thrown away before the 413 goes out. A
 *  client that writes its whole body before reading (Node's http.request, fetch) would get a
 *  reset connection instead of the 413 if the server closed while it was still writing. A
 *  body declared larger than this is answered at once, and cut. */
export const DRAIN_BYTES = 64 * 1024 * 1024;
/** And for how long, so a slow sender cannot hold the connection open with it. */
export const DRAIN_MS = 10_000;

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
  /** The server's token (X-Faultline-Token); routes see whether a request carries it. */
  token?: string;
  /** How much of an oversized body is drained, and for how long; DRAIN_BYTES and DRAIN_MS. */
  drain?: { bytes: number; ms: number };
}

export function createApiServer(api: ApiContext, onError: (err: unknown) => void, options: ApiServerOptions = {}): Server {
  const server = createServer((req, res) => {
    // A write to a connection the client has dropped may emit 'error' on the response; with no
    // listener that would be an uncaught exception, ending the process.
    res.on('error', () => {});
    handle(api, options, req, res).catch((err) => {
      try {
        if (sendError(res, err).status >= 500) onError(err);
      } catch (failed) {
        res.destroy();
        onError(failed);
      }
    });
  });
  // Requests Node's parser refuses (a header past its limit, a byte it does not allow, a
  // request that timed out) never reach a route; they still get a JSON error saying why.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => refuseMalformed(err, socket));
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;
  server.keepAliveTimeout = 60_000;
  return server;
}

function refuseMalformed(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const error = new FaultlineError(
    err.code === 'HPE_HEADER_OVERFLOW' ? 'ERR_HEADERS_TOO_LARGE'
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'ERR_REQUEST_TIMEOUT' : 'ERR_MALFORMED_REQUEST',
  );
  const body = `${JSON.stringify({ error: error.message, status: error.status, code: error.code })}\n`;
  socket.end(`HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  socket.once('finish', () => socket.destroy());
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
    raw = await readBody(req, options.drain ?? { bytes: DRAIN_BYTES, ms: DRAIN_MS });
  } catch (err) {
    res.setHeader('Connection', 'close');
    sendError(res, err);
    return;
  }
  const given = req.headers[TOKEN_HEADER];
  const token = options.token !== undefined && typeof given === 'string' && tokenMatches(given, options.token);
  const params: Record<string, string> = {};
  try {
    hit.c.names.forEach((name, i) => { params[name] = decodeURIComponent(hit.m![i + 1]!); });
  } catch {
    return sendError(res, new FaultlineError('ERR_ROUTE_NOT_FOUND')), undefined;
  }
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const reply = await hit.c.route.handle(api, { params, query, token, body: () => parseJson(raw) });
  if ('json' in reply) sendJson(res, reply.status, reply.json, reply.newline);
  else if ('text' in reply) sendText(res, reply.status, reply.text, reply.type);
  else if ('stream' in reply) await sendStream(res, reply.status, reply.type, reply.stream);
  else sendEmpty(res, reply.status);
}

/**
 * The body, up to MAX_BODY_BYTES. A larger one is read on and thrown away, up to DRAIN_BYTES
 * and DRAIN_MS, before the 413 is sent (its Connection: close then finds nothing unread, so the
 * close is clean); past either bound, or declared past DRAIN_BYTES, the 413 goes out at once and
 * the connection may be cut under a client still writing.
 */
function readBody(req: IncomingMessage, drain: { bytes: number; ms: number }): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > drain.bytes) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    let over = declared > MAX_BODY_BYTES;
    let timer: NodeJS.Timeout | undefined;
    const stop = (err: Error | null) => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      if (err === null) return resolve(Buffer.concat(parts));
      // Whatever still arrives is discarded until the socket closes.
      req.resume();
      reject(err);
    };
    const overLimit = () => {
      over = true;
      parts.length = 0;
      timer = setTimeout(() => stop(tooLarge()), drain.ms);
    };
    const onData = (part: Buffer) => {
      size += part.length;
      if (size > drain.bytes) return stop(tooLarge());
      if (over) return;
      if (size > MAX_BODY_BYTES) return overLimit();
      parts.push(part);
    };
    const onEnd = () => stop(over ? tooLarge() : null);
    const onError = () => stop(badBody('the request was cut off before its body ended'));
    if (over) overLimit();
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

function tooLarge(): FaultlineError {
  return new FaultlineError('ERR_BODY_TOO_LARGE', `request body too large: the limit is ${MAX_BODY_BYTES} bytes`);
}
