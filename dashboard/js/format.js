// @ts-check
// Numbers, sizes and times as people read them. Pure functions, no DOM.

const SIZE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

/** Bytes with decimal units, as the bandwidth toxic counts them (KB = 1000 bytes). */
export function bytes(/** @type {number} */ n) {
  if (!Number.isFinite(n)) return '—';
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < SIZE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? Math.round(value) : value.toFixed(value < 10 ? 1 : 0)} ${SIZE_UNITS[unit]}`;
}

export function byteRate(/** @type {number} */ n) {
  return `${bytes(n)}/s`;
}

/** A rate per second, one decimal below 10. */
export function perSecond(/** @type {number} */ n) {
  if (!Number.isFinite(n)) return '—';
  return n < 10 && n !== Math.round(n) ? n.toFixed(1) : String(Math.round(n));
}

/**
 * 850 ms, 12.3 s, 4m 05s, 2h 03m.
 * @param {number} ms
 * @returns {string}
 */
export function duration(ms) {
  if (!Number.isFinite(ms)) return '—';
  if (ms < 0) return `-${duration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

const pad = (/** @type {number} */ n, width = 2) => String(n).padStart(width, '0');

/** Local wall-clock time with milliseconds: events a few ms apart stay distinguishable. */
export function clock(/** @type {number} */ ts) {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '—';
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** A date and time for lists of runs and sessions; accepts epoch ms or an ISO string. */
export function dateTime(/** @type {unknown} */ value) {
  const ts = toEpoch(value);
  if (ts === null) return '—';
  const d = new Date(ts);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Epoch ms from a number or a date string, or null. */
export function toEpoch(/** @type {unknown} */ value) {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value !== '') {
    const t = Date.parse(value);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}

/** Any JSON value as one short line, for table cells and summaries. */
export function brief(/** @type {unknown} */ value, max = 120) {
  let text;
  if (value === null || value === undefined) text = '';
  else if (typeof value === 'object') text = JSON.stringify(value);
  else text = String(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** `{ms: 200, bytes: 12}` as `ms=200 bytes=12`. */
export function pairs(/** @type {unknown} */ value) {
  if (value === null || typeof value !== 'object') return brief(value);
  return Object.entries(value).map(([k, v]) => `${k}=${brief(v, 40)}`).join(' ');
}

/** A safe file name from a title. */
export function fileName(/** @type {string} */ title, /** @type {string} */ extension) {
  const base = title.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60);
  return `${base === '' ? 'scenario' : base}.${extension}`;
}
