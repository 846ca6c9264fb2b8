// Who may use the API from a browser. Toxiproxy refuses every browser so that a web page cannot
// drive a developer's local proxy. The dashboard is a browser page, so a browser request passes
// when it proves it is that page: it carries the token the server wrote into the page (another
// site cannot read our page, so it cannot know the token) and it comes from the server's own
// origin. A custom header also means a cross-site request needs a CORS preflight, which we never
// grant. The Host must be one a rebinding site cannot use: otherwise a site could point its own
// DNS name at our address, become "same origin" with us, and read the token out of the page. On
// a loopback bind that means a loopback Host; beyond loopback, an IP address literal (rebinding
// needs a name), `localhost`, or a name the operator allowed (as Vite's allowedHosts does).

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

export const TOKEN_HEADER = 'x-faultline-token';

export interface BrowserAccess {
  readonly token: string;
  /** The server listens on loopback only, so a browser's Host must name loopback. */
  readonly loopbackOnly: boolean;
  /** Host names a browser may also use, lowercase; `.example.com` covers it and its subdomains. */
  readonly allowedHosts: readonly string[];
  /** The page is served without the token (exec allowed beyond loopback): the user brings it. */
  readonly withholdToken?: boolean;
}

/** 192 random bits, URL- and header-safe. */
export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

/** Why a given token cannot be used, or null. It travels in a header and a URL query. */
export function tokenProblem(token: string): string | null {
  if (!/^[\x21-\x7e]{1,512}$/.test(token)) return 'the token must be 1 to 512 printable ASCII characters without spaces';
  return null;
}

const LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?';
const HOST_NAME = new RegExp(`^\\.?${LABEL}(?:\\.${LABEL})*$`);

/** Why a name cannot go in the allowed-hosts list, or null. A wildcard for every name would
 *  reopen the hole the list closes, so there is none. */
export function allowedHostProblem(name: string): string | null {
  if (name.includes('*')) return 'there is no wildcard: list each name, or .example.com for a domain and its subdomains';
  if (name.length > 254 || !HOST_NAME.test(name.toLowerCase())) {
    return 'expected a host name such as chaos.internal, or .example.com for a domain and its subdomains, ' +
      'without a scheme, port, path or spaces';
  }
  return null;
}

/** Compares in constant time; hashing first makes the lengths equal and keeps them secret. */
export function tokenMatches(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

/** 127.0.0.0/8, ::1 (and IPv4-mapped 127/8), or `localhost`; any other name or address is not. */
export function isLoopbackHost(host: string): boolean {
  let name: string;
  try {
    name = new URL(`http://${isIP(host) === 6 ? `[${host}]` : host}/`).hostname;
  } catch {
    return false;
  }
  if (name === 'localhost') return true;
  if (name === '[::1]' || name.startsWith('[::ffff:7f')) return true;
  return isIP(name) === 4 && name.startsWith('127.');
}

/** The hostname of a Host header (`127.0.0.1:8474`, `[::1]:8474`), or null when malformed. */
function hostOf(req: IncomingMessage): string | null {
  const host = req.headers.host;
  // Only host[:port]: userinfo or a path would let the URL parser pick another hostname.
  if (host === undefined || host === '' || /[@/\\?#\s]/.test(host)) return null;
  try {
    return new URL(`http://${host}/`).hostname;
  } catch {
    return null;
  }
}

function listed(name: string, allowed: readonly string[]): boolean {
  return allowed.some((a) => a.startsWith('.') ? name === a.slice(1) || name.endsWith(a) : name === a);
}

/** Whether a browser may use this Host: one naming loopback on a loopback bind; beyond it an IP
 *  address literal or `localhost`; on either, a name in the allowed list. */
export function hostAllowed(req: IncomingMessage, access: BrowserAccess): boolean {
  const name = hostOf(req);
  if (name === null) return false;
  if (listed(name, access.allowedHosts)) return true;
  const bare = name.replace(/^\[|\]$/g, '');
  if (access.loopbackOnly) return isLoopbackHost(bare);
  return name === 'localhost' || isIP(bare) !== 0;
}

/** Why the dashboard's page is refused for this Host (the 403's message), or null. */
export function hostRefusal(req: IncomingMessage, access: BrowserAccess): string | null {
  if (hostAllowed(req, access)) return null;
  const name = hostOf(req);
  if (name === null) return 'host not allowed: the request has no valid Host header';
  // Only a name that --allowed-host would take is worth suggesting (not an IPv6 literal).
  const allow = allowedHostProblem(name) === null
    ? `, or start the server with --allowed-host ${name} (or FAULTLINE_ALLOWED_HOSTS) to allow the name` : '';
  return access.loopbackOnly
    ? `host not allowed: ${name}; this server listens on loopback, so open the dashboard at localhost, 127.0.0.1 or [::1]${allow}`
    : `host not allowed: ${name} is not an IP address, localhost or an allowed host; open the dashboard by one of those${allow}`;
}

/** Origin, when sent, must be this very server; without one, Sec-Fetch-Site must not say
 *  another site (a browser's same-origin GET may omit Origin). */
export function sameOrigin(req: IncomingMessage): boolean {
  const host = req.headers.host?.toLowerCase();
  if (host === undefined) return false;
  const origin = req.headers.origin;
  if (origin !== undefined) {
    const o = origin.toLowerCase();
    return o === `http://${host}` || o === `https://${host}`;
  }
  const site = req.headers['sec-fetch-site'];
  return site === undefined || site === 'same-origin';
}

/** A `Mozilla/` User-Agent, as Toxiproxy checks, or any Origin: a page's script may replace its
 *  User-Agent in some browsers, but cannot drop the Origin of a request that changes state. */
export function isBrowser(req: IncomingMessage): boolean {
  return (req.headers['user-agent'] ?? '').startsWith('Mozilla/') || req.headers.origin !== undefined;
}

/** A browser's REST request: the token in its header, from our own origin, to an allowed Host. */
export function browserAllowed(req: IncomingMessage, access: BrowserAccess): boolean {
  const given = req.headers[TOKEN_HEADER];
  return tokenMatches(typeof given === 'string' ? given : undefined, access.token) &&
    sameOrigin(req) && hostAllowed(req, access);
}

/**
 * A WebSocket upgrade to the event stream. The hub has checked Origin against Host already.
 * Browsers always send Origin on a WebSocket upgrade and cannot set headers on one, so a page
 * brings the token as `?token=`. An upgrade without Origin is not a browser, and only a browser
 * page can be the cross-site attacker the token defends against, so scripts and tests subscribe
 * without one, as they did before there was a dashboard.
 */
export function streamAllowed(req: IncomingMessage, access: BrowserAccess): boolean {
  if (req.headers.origin === undefined) return true;
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const fromQuery = q < 0 ? null : new URLSearchParams(url.slice(q + 1)).get('token');
  const fromHeader = req.headers[TOKEN_HEADER];
  const given = fromQuery ?? (typeof fromHeader === 'string' ? fromHeader : undefined);
  return tokenMatches(given, access.token) && hostAllowed(req, access);
}
