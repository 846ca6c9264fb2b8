// @ts-check
// The selected proxy's live connections (TCP) or sessions (UDP), polled from GET /connections
// every second while a proxy is selected and the page is visible: ages and byte counts change
// continuously, and the stream only says when connections open and close.

import { get } from './api.js';
import { byId, h, replace } from './dom.js';
import { bytes, duration } from './format.js';
import { on, state } from './state.js';

/** @import { ConnectionInfo } from './types' */

const POLL_MS = 1000;
/** @type {ReturnType<typeof setTimeout> | null} */
let timer = null;
let generation = 0;
/** @type {(conn: string) => void} */
let showEvents = () => {};
/** The last error shown, so a server that keeps failing is reported once, not every second. */
let lastError = '';

/** @param {(conn: string) => void} onShowEvents filters the event log to one connection */
export function initConnections(onShowEvents) {
  showEvents = onShowEvents;
  on('selected', restart);
  document.addEventListener('visibilitychange', restart);
}

function restart() {
  if (timer !== null) clearTimeout(timer);
  timer = null;
  generation++;
  replace(/** @type {HTMLElement} */ (byId('connections').querySelector('tbody')));
  byId('connections-count').textContent = '';
  byId('connections-empty').hidden = false;
  if (state.selected !== null && document.visibilityState !== 'hidden') void poll(generation);
}

/** @param {number} gen */
async function poll(gen) {
  const proxy = state.selected;
  if (proxy === null) return;
  try {
    const list = await fetchConnections(proxy);
    lastError = '';
    if (gen === generation) render(list);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (gen === generation && message !== lastError) {
      lastError = message;
      byId('connections-count').textContent = `(could not load: ${message})`;
    }
  }
  if (gen === generation) timer = setTimeout(() => void poll(gen), POLL_MS);
}

/**
 * The live connections of one proxy.
 * @param {string} proxy
 * @returns {Promise<ConnectionInfo[]>}
 */
export async function fetchConnections(proxy) {
  const answer = await get('/connections');
  const entry = (Array.isArray(answer?.proxies) ? answer.proxies : []).find((/** @type {{proxy: string}} */ p) => p.proxy === proxy);
  return Array.isArray(entry?.connections) ? entry.connections : [];
}

/** @param {ConnectionInfo[]} list */
function render(list) {
  const body = /** @type {HTMLElement} */ (byId('connections').querySelector('tbody'));
  // Only a button in this table is restored: event rows carry data-conn too, and taking their
  // focus every second would pull a keyboard user out of the event log.
  const focused = document.activeElement instanceof HTMLElement && body.contains(document.activeElement) ? document.activeElement.dataset.conn : undefined;
  replace(body, list.map((c) => {
    const active = [...(c.toxics?.upstream ?? []).map((t) => `${t} ↑`), ...(c.toxics?.downstream ?? []).map((t) => `${t} ↓`)];
    return h('tr', { 'data-conn': c.conn },
      h('th', { scope: 'row', 'data-label': 'Connection', class: 'mono' }, c.conn),
      h('td', { 'data-label': 'Client', class: 'mono' }, c.client),
      h('td', { 'data-label': 'Age', class: 'num' }, duration(c.age_ms)),
      h('td', { 'data-label': '↑ bytes', class: 'num' }, bytes(c.bytes_up)),
      h('td', { 'data-label': '↓ bytes', class: 'num' }, bytes(c.bytes_down)),
      h('td', { 'data-label': 'Active toxics' }, active.length === 0 ? '—' : active.join(', ')),
      h('td', { class: 'row-actions' },
        h('button', { type: 'button', 'data-conn': c.conn, 'aria-label': `Show events of connection ${c.conn}`, text: 'Events',
          onclick: () => showEvents(c.conn) })));
  }));
  // The rows are rebuilt every second; a keyboard user on a button keeps their place.
  if (focused !== undefined) /** @type {HTMLElement | null} */ (body.querySelector(`button[data-conn="${CSS.escape(focused)}"]`))?.focus();
  byId('connections-count').textContent = `(${list.length})`;
  byId('connections-empty').hidden = list.length > 0;
}
