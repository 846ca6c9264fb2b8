// @ts-check
// The event log. At 1,000 events a second the page must stay responsive, so events are only
// queued as they arrive and handed to the list once per animation frame; the history is bounded
// (MAX_HISTORY) and the list is virtual, so the DOM holds only the rows in view. Pausing
// freezes the list while events keep being kept; resuming shows everything kept meanwhile.

import { byId, h } from './dom.js';
import { clock } from './format.js';
import { fromStored, fromStream, groupOf, summary } from './events.js';
import { on, state } from './state.js';
import { VirtualList } from './virtual-list.js';

/** @import { LogEntry } from './types' */

export const MAX_HISTORY = 5000;

/** Oldest first. */
/** @type {LogEntry[]} */
let history = [];
const ids = new Set();
/** @type {LogEntry[]} */
let pending = [];
let frame = 0;
let paused = false;
let arrivals = 0;
let folded = 0;
/** @type {WeakMap<Element, LogEntry>} */
const entries = new WeakMap();
const filter = { proxy: '', toxic: '', action: '', conn: '', kind: '' };
/** @type {(entry: LogEntry) => void} */
let openDetail = () => {};
/** @type {VirtualList<LogEntry>} */
let list;

/** @param {(entry: LogEntry) => void} onOpen shows an entry's full detail */
export function initEventLog(onOpen) {
  openDetail = onOpen;
  const scroller = byId('event-log');
  list = new VirtualList(scroller, row, fromStream('fault:injected', { id: '\0sample', ts: 0, proxy: 'x', action: 'x' }));
  scroller.addEventListener('click', (e) => activate(e.target));
  scroller.addEventListener('keydown', onKey);
  scroller.addEventListener('focusin', (e) => {
    const focused = e.target instanceof Element ? e.target.closest('.event-row') : null;
    if (focused === null) return;
    for (const r of scroller.querySelectorAll('.event-row[tabindex="0"]')) if (r !== focused) r.setAttribute('tabindex', '-1');
    focused.setAttribute('tabindex', '0');
  });
  const form = byId('log-filters', HTMLFormElement);
  form.addEventListener('input', readFilters);
  form.addEventListener('change', readFilters);
  form.addEventListener('submit', (e) => e.preventDefault());
  byId('log-pause').addEventListener('click', () => setPaused(!paused));
  byId('log-clear').addEventListener('click', () => {
    history = [];
    ids.clear();
    pending = [];
    rebuild();
  });
  on('proxies', proxyOptions);
  setInterval(showRate, 1000);
}

/** Adds a live event from the stream. */
export function addLive(/** @type {string} */ kind, /** @type {Record<string, unknown>} */ event) {
  add(fromStream(kind, event));
}

/** Adds stored events (GET /events, any order) missed while the page was not connected. */
export function backfill(/** @type {Record<string, unknown>[]} */ stored) {
  let added = 0;
  for (const e of stored.map(fromStored)) {
    if (ids.has(e.id)) continue;
    ids.add(e.id);
    history.push(e);
    added++;
  }
  if (added === 0) return;
  history.sort((a, b) => a.ts - b.ts);
  trim();
  if (!paused) rebuild();
}

/** The newest entry's time, to ask the stored log for what came after it. */
export function newestTs() {
  return history.length === 0 ? null : /** @type {LogEntry} */ (history[history.length - 1]).ts;
}

/** Every kept entry about one connection, oldest first. */
export function entriesForConn(/** @type {string} */ conn) {
  return history.filter((e) => e.conn === conn);
}

/** Focuses the row of the entry `id`, if the log still keeps it. */
export function focusEntry(/** @type {string} */ id) {
  const index = list.items.findIndex((item) => item.id === id);
  if (index >= 0) list.focusIndex(index);
}

/** Filters the log to one connection (from a connection's row or an event's detail). */
export function showConnection(/** @type {string} */ conn) {
  byId('log-filter-conn', HTMLInputElement).value = conn;
  readFilters();
  byId('log-panel').scrollIntoView({ block: 'start' });
  byId('log-filter-conn').focus();
}

/** @param {LogEntry} e */
function add(e) {
  if (ids.has(e.id)) return;
  ids.add(e.id);
  history.push(e);
  trim();
  arrivals++;
  if (e.kind === 'fault:folded') folded += e.count;
  if (paused) return;
  pending.push(e);
  // A hidden tab gets no frames: past the history's size, older pending entries are moot.
  if (pending.length > MAX_HISTORY * 2) pending.splice(0, pending.length - MAX_HISTORY);
  if (frame === 0) frame = requestAnimationFrame(flush);
}

function trim() {
  // Trimmed in slices, not one by one: splicing a 5,000-array per event would cost more.
  if (history.length <= MAX_HISTORY + 250) return;
  for (const gone of history.splice(0, history.length - MAX_HISTORY)) ids.delete(gone.id);
}

function flush() {
  frame = 0;
  const batch = pending.filter(matches).reverse();
  pending = [];
  list.prepend(batch, MAX_HISTORY);
}

function rebuild() {
  if (frame !== 0) cancelAnimationFrame(frame);
  frame = 0;
  pending = [];
  const shown = [];
  for (let i = history.length - 1; i >= 0; i--) {
    const e = /** @type {LogEntry} */ (history[i]);
    if (matches(e)) shown.push(e);
  }
  list.setItems(shown);
}

/** @param {LogEntry} e */
function row(e) {
  const el = h('div', { class: `event-row kind-${groupOf(e.kind)}`, role: 'listitem', tabindex: -1, 'data-kind': e.kind, 'data-id': e.id,
    'data-proxy': e.proxy || false, 'data-action': e.action || false, 'data-conn': e.conn || false },
  h('span', { class: 'ev-time', text: clock(e.ts) }),
  h('span', { class: 'ev-kind', text: e.kind }),
  h('span', { class: 'ev-proxy', text: e.proxy }),
  h('span', { class: 'ev-toxic', text: e.toxic || e.type }),
  h('span', { class: 'ev-action', text: e.action }),
  h('span', { class: 'ev-conn', text: e.conn }),
  h('span', { class: 'ev-detail', text: summary(e) }));
  entries.set(el, e);
  return el;
}

/** @param {LogEntry} e */
function matches(e) {
  if (filter.proxy !== '' && e.proxy !== filter.proxy) return false;
  if (filter.action !== '' && e.action !== filter.action) return false;
  if (filter.kind !== '' && groupOf(e.kind) !== filter.kind) return false;
  if (filter.toxic !== '' && !e.toxic.toLowerCase().includes(filter.toxic) && !e.type.toLowerCase().includes(filter.toxic)) return false;
  if (filter.conn !== '' && !e.conn.toLowerCase().includes(filter.conn) && !e.client.toLowerCase().includes(filter.conn)) return false;
  return true;
}

function readFilters() {
  filter.proxy = byId('log-filter-proxy', HTMLSelectElement).value;
  filter.action = byId('log-filter-action', HTMLSelectElement).value;
  filter.kind = byId('log-filter-kind', HTMLSelectElement).value;
  filter.toxic = byId('log-filter-toxic', HTMLInputElement).value.trim().toLowerCase();
  filter.conn = byId('log-filter-conn', HTMLInputElement).value.trim().toLowerCase();
  rebuild();
}

function setPaused(/** @type {boolean} */ value) {
  paused = value;
  const button = byId('log-pause');
  button.setAttribute('aria-pressed', String(paused));
  button.textContent = paused ? 'Resume' : 'Pause';
  byId('log-status').textContent = paused ? 'Paused: new events are kept but not shown.' : '';
  if (!paused) rebuild();
}

function showRate() {
  byId('log-rate').textContent = `${arrivals} events/s`;
  arrivals = 0;
  const server = state.events.folded;
  const folds = byId('log-folded');
  folds.textContent = `${folded} folded`;
  folds.title = `Fault events the server's rate limit folded away: ${folded} seen by this page` +
    (server > 0 ? `, ${server} since the server started` : '');
  byId('log-count').textContent = `${list.items.length} shown of ${history.length} kept (at most ${MAX_HISTORY})`;
}

/** @param {EventTarget | null} target */
function activate(target) {
  const el = target instanceof Element ? target.closest('.event-row') : null;
  const entry = el === null ? undefined : entries.get(el);
  if (entry !== undefined) openDetail(entry);
}

/** @param {KeyboardEvent} e */
function onKey(e) {
  const el = e.target instanceof Element ? e.target.closest('.event-row') : null;
  if (el === null) return;
  if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    activate(el);
    return;
  }
  const at = list.indexOf(el);
  const page = Math.max(1, Math.floor(list.scroller.clientHeight / list.measure()) - 1);
  /** @type {Record<string, number>} */
  const moves = { ArrowDown: at + 1, ArrowUp: at - 1, PageDown: at + page, PageUp: at - page, Home: 0, End: list.items.length - 1 };
  const next = moves[e.key];
  if (next === undefined || at < 0) return;
  e.preventDefault();
  list.focusIndex(next);
}

function proxyOptions() {
  const select = byId('log-filter-proxy', HTMLSelectElement);
  const value = select.value;
  const names = [...state.proxies.keys()].sort((a, b) => a.localeCompare(b));
  if (value !== '' && !names.includes(value)) names.push(value);
  select.replaceChildren(h('option', { value: '', text: 'any' }), ...names.map((n) => h('option', { value: n, text: n })));
  select.value = value;
}
