// @ts-check
// One shape for every line of the event log, whether it came live from the stream
// ({type:'event', kind, event}) or from the stored log (GET /events, whose state changes are
// stored under their own kind), plus the one-line summary each row shows.

import { pairs } from './format.js';

/** @import { LogEntry } from './types' */

const str = (/** @type {unknown} */ v) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/**
 * @param {string} kind the stream's kind (state:changed for every proxy or toxic change)
 * @param {Record<string, unknown>} e
 * @returns {LogEntry}
 */
export function fromStream(kind, e) {
  // A state change is shown under what changed (toxic:added...), as the stored log keeps it.
  const shown = kind === 'state:changed' && typeof e.kind === 'string' ? e.kind : kind;
  return entry(shown, e, kind === 'fault:folded' ? Number(e.count) || 0 : 0);
}

/**
 * @param {Record<string, unknown>} e a GET /events row
 * @returns {LogEntry}
 */
export function fromStored(e) {
  const detail = /** @type {Record<string, unknown>} */ (e.detail ?? {});
  return entry(str(e.kind), e, e.kind === 'fault:folded' ? Number(detail.count) || 0 : 0);
}

/** @param {string} kind @param {Record<string, unknown>} e @param {number} count @returns {LogEntry} */
function entry(kind, e, count) {
  return {
    id: str(e.id) || `${kind}-${str(e.ts)}-${Math.random()}`,
    ts: typeof e.ts === 'number' ? e.ts : Date.now(),
    kind,
    proxy: str(e.proxy),
    conn: str(e.conn),
    client: str(e.client),
    toxic: str(e.toxic),
    type: str(e.type),
    stream: str(e.stream),
    action: str(e.action),
    count,
    raw: e,
  };
}

/** The row's detail column: the fault's numbers, a close's totals, a scenario step... */
export function summary(/** @type {LogEntry} */ e) {
  const raw = e.raw;
  switch (e.kind) {
    case 'fault:injected':
      return pairs(raw.detail);
    case 'fault:folded':
      return `${e.count} more folded by the rate limit`;
    case 'conn:opened':
      return `from ${e.client}`;
    case 'conn:closed': {
      const d = /** @type {Record<string, unknown>} */ (raw.detail ?? raw);
      return `${str(d.reason)} · ↑${str(d.bytesUp)} B ↓${str(d.bytesDown)} B · ${str(d.durationMs)} ms`;
    }
    case 'scenario:started':
      return `run ${str(raw.run)} “${str(raw.title)}” started`;
    case 'scenario:step':
      return `run ${str(raw.run)} step ${str(raw.step)} ${str(raw.kind)}${raw.revert === true ? ' (revert)' : ''}: ${raw.ok === false ? 'FAILED ' : ''}${str(raw.detail)}`;
    case 'scenario:finished':
      return `run ${str(raw.run)} ${str(raw.status)}${raw.reason ? `: ${str(raw.reason)}` : ''}`;
    default: {
      const body = raw.body ?? raw.detail;
      return body === undefined ? '' : pairs(/** @type {Record<string, unknown>} */ (body).attributes ?? body);
    }
  }
}

/** The filter group a kind belongs to (the log's "Kind" filter). */
export function groupOf(/** @type {string} */ kind) {
  if (kind.startsWith('fault:')) return 'fault';
  if (kind.startsWith('conn:')) return 'conn';
  if (kind.startsWith('scenario:')) return 'scenario';
  return 'state';
}
