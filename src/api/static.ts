// The dashboard's static files at /dashboard/ (and `/` redirects there), served by the API's
// own server, so the page needs no other server, no CDN and no build step. Files are read from
// disk, where an edit shows at the next load; a small cache keyed by path and checked against
// mtime and size saves re-reading them. HTML gets the server's token and version written into
// its meta tags. These routes skip the Toxiproxy browser guard, because a browser must be able
// to load the page; the page can do nothing until it uses the token (see browser-access.ts).

import { createHash } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { extname, join, sep } from 'node:path';
import { FaultlineError } from '../errors.js';
import { hostRefusal, type BrowserAccess } from './browser-access.js';
import { sendError } from './respond.js';

export interface DashboardOptions {
  /** The folder holding index.html and its assets. */
  dir: string;
  /** Written into `<meta name="faultline-version" content="">`. */
  version: string;
  /** Its token goes into `<meta name="faultline-token" content="">`. */
  access: BrowserAccess;
}

/** Answers the request and returns true when it is one of the dashboard's paths. */
export type PageHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

const MAX_FILE_BYTES = 8 * 1024 * 1024;
const CACHE_ENTRIES = 64;

// The page, not the server, decides whether it may be framed: never, since it holds the token.
const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
} as const;

interface Cached { mtimeMs: number; size: number; body: Buffer; etag: string }

export function dashboardPages(options: DashboardOptions): PageHandler {
  const cache = new Map<string, Cached>();
  const values = { 'faultline-token': options.access.withholdToken === true ? '' : options.access.token, 'faultline-version': options.version };

  async function load(file: string): Promise<Cached | null> {
    let info;
    try {
      info = await stat(file);
    } catch {
      return null;
    }
    if (!info.isFile() || info.size > MAX_FILE_BYTES) return null;
    const hit = cache.get(file);
    if (hit !== undefined && hit.mtimeMs === info.mtimeMs && hit.size === info.size) return hit;
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      return null;
    }
    if (extname(file) === '.html') body = Buffer.from(inject(body.toString('utf8'), values));
    const entry = { mtimeMs: info.mtimeMs, size: info.size, body, etag: `"${createHash('sha1').update(body).digest('base64url')}"` };
    cache.delete(file);
    if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
    cache.set(file, entry);
    return entry;
  }

  return async (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path !== '/' && path !== '/dashboard' && !path.startsWith('/dashboard/')) return false;
    req.resume();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      sendError(res, new FaultlineError('ERR_METHOD_NOT_ALLOWED'));
      return true;
    }
    // Every client, not just a `Mozilla/` one: the page carries the token, and a browser's
    // script can change its User-Agent.
    const refusal = hostRefusal(req, options.access);
    if (refusal !== null) {
      sendError(res, new FaultlineError('ERR_HOST_NOT_ALLOWED', refusal));
      return true;
    }
    if (path === '/' || path === '/dashboard') {
      res.writeHead(302, { Location: `/dashboard/${q < 0 ? '' : url.slice(q)}`, 'Content-Length': 0, 'Cache-Control': 'no-cache' });
      res.end();
      return true;
    }
    const file = await locate(options.dir, path.slice('/dashboard/'.length));
    const entry = file === null ? null : await load(file);
    if (file === null || entry === null) {
      sendError(res, new FaultlineError('ERR_ROUTE_NOT_FOUND'));
      return true;
    }
    const headers = { 'Cache-Control': 'no-cache', ETag: entry.etag, ...SECURITY_HEADERS };
    if (notModified(req, entry.etag)) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    res.writeHead(200, {
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Length': entry.body.length,
      ...headers,
    });
    // Node sends no body for HEAD, whatever is written.
    res.end(entry.body);
    return true;
  };
}

/** The real path of a file under `dir` for the part of the URL after /dashboard/, or null. */
async function locate(dir: string, rest: string): Promise<string | null> {
  // The charting library comes from the server's own dependencies, not from this folder.
  if (rest === 'vendor/uplot.js') return vendorFile('uplot/dist/uPlot.iife.min.js');
  if (rest === 'vendor/uplot.css') return vendorFile('uplot/dist/uPlot.min.css');
  const names: string[] = [];
  for (const raw of (rest === '' ? 'index.html' : rest).split('/')) {
    let name: string;
    try {
      name = decodeURIComponent(raw);
    } catch {
      return null;
    }
    // '.' and '..' (plain or percent-encoded), dotfiles, empty segments, and any separator or
    // NUL smuggled in by encoding: none of them names a file of the page.
    if (name === '' || name.startsWith('.') || /[/\\\0]/.test(name)) return null;
    names.push(name);
  }
  let root: string;
  let real: string;
  try {
    root = await realpath(dir);
    real = await realpath(join(root, ...names));
  } catch {
    return null;
  }
  // A symlink inside the folder must not lead out of it.
  return real.startsWith(root + sep) ? real : null;
}

const requireFromHere = createRequire(import.meta.url);

function vendorFile(spec: string): string | null {
  try {
    return requireFromHere.resolve(spec);
  } catch {
    return null;
  }
}

function notModified(req: IncomingMessage, etag: string): boolean {
  const header = req.headers['if-none-match'];
  if (header === undefined) return false;
  return header.split(',').map((t) => t.trim()).some((t) => t === '*' || t === etag || t === `W/${etag}`);
}

/** Fills `content=""` of `<meta name="NAME" content="">` for each name present. */
export function inject(html: string, values: Readonly<Record<string, string>>): string {
  let out = html;
  for (const [name, value] of Object.entries(values)) {
    out = out.replace(new RegExp(`(<meta\\s+name="${name}"\\s+content=)""`, 'i'), (_, head: string) => `${head}"${escapeAttribute(value)}"`);
  }
  return out;
}

function escapeAttribute(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
