// @ts-check
// REST calls to the server that served the page. Every call carries the page's token, which is
// what lets a browser past the API's browser guard; errors become ApiError with the server's
// own message, so the UI can show it as is.

/** @param {string} name */
function meta(name) {
  return document.querySelector(`meta[name="${name}"]`)?.getAttribute('content') ?? '';
}

export const version = meta('faultline-version');
let token = meta('faultline-token') || broughtToken();

/**
 * A server that allows exec beyond loopback serves the page without its token: the user opens
 * /dashboard/#token=..., kept for this tab only. A fragment never reaches the server's logs,
 * and it is taken off the address bar at once.
 */
function broughtToken() {
  const given = new URLSearchParams(location.hash.slice(1)).get('token');
  if (given !== null) {
    sessionStorage.setItem('faultline-token', given);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return given ?? sessionStorage.getItem('faultline-token') ?? '';
}

/** The token every request carries (the stream's URL too). */
export function currentToken() {
  return token;
}

/**
 * Reads the token from a fresh copy of the page. A server restarted without --token makes a new
 * one, and the old page would be locked out; the page is ours (same origin), so asking it again
 * gives nothing away. Returns true when the token changed.
 */
export async function refreshToken() {
  try {
    const res = await fetch(location.pathname, { cache: 'no-store', credentials: 'same-origin' });
    if (!res.ok) return false;
    const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
    const fresh = doc.querySelector('meta[name="faultline-token"]')?.getAttribute('content') ?? '';
    if (fresh === '' || fresh === token) return false;
    token = fresh;
    return true;
  } catch {
    return false;
  }
}

export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {number} status
   * @param {unknown} body the parsed error body, when it was JSON
   */
  constructor(message, status, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }

  /** Scenario validation lists every problem; other errors have none. */
  get issues() {
    const body = /** @type {{issues?: unknown}} */ (this.body ?? {});
    return Array.isArray(body.issues) ? body.issues.map(String) : [];
  }
}

/**
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body] sent as JSON when given
 * @returns {Promise<Response>} a successful response
 */
export async function request(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { 'X-Faultline-Token': token };
  /** @type {RequestInit} */
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(`cannot reach the server: ${err instanceof Error ? err.message : String(err)}`, 0, null);
  }
  if (res.ok) return res;
  const text = await res.text().catch(() => '');
  /** @type {unknown} */
  let parsed = null;
  let message = text.trim() || `HTTP ${res.status} ${res.statusText}`;
  try {
    parsed = JSON.parse(text);
    const error = /** @type {{error?: unknown}} */ (parsed).error;
    if (typeof error === 'string') message = error;
  } catch {
    // a plain-text error (the browser guard answers in text): its text is the message
  }
  throw new ApiError(message, res.status, parsed);
}

/**
 * JSON from a route, or null for an empty answer (204).
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function json(method, path, body) {
  const res = await request(method, path, body);
  const text = await res.text();
  return text === '' ? null : JSON.parse(text);
}

export const get = (/** @type {string} */ path) => json('GET', path);
export const post = (/** @type {string} */ path, /** @type {unknown} */ body) => json('POST', path, body);
export const del = (/** @type {string} */ path) => json('DELETE', path);

/** @param {string} path */
export async function text(path) {
  return (await request('GET', path)).text();
}

/** A path segment from a name: proxies and toxics may hold any character. */
export const seg = (/** @type {string} */ s) => encodeURIComponent(s);

/**
 * A list from an answer that is either an array or an object holding one under `key`.
 * @param {unknown} value
 * @param {string} key
 * @returns {any[]}
 */
export function listOf(value, key) {
  if (Array.isArray(value)) return value;
  if (value !== null && typeof value === 'object') {
    const inner = /** @type {Record<string, unknown>} */ (value)[key];
    if (Array.isArray(inner)) return inner;
  }
  return [];
}

/**
 * Saves text as a file in the browser's downloads.
 * @param {string} content
 * @param {string} name
 * @param {string} type
 */
export function download(content, name, type) {
  const url = URL.createObjectURL(new Blob([content], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
