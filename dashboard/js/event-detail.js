// @ts-check
// An event's full detail, in a dialog: every field the server sent, and its connection, live
// (from GET /connections) or, once closed, as the log remembers it.

import { fetchConnections } from './connections.js';
import { errorMessage, openDialog } from './dialogs.js';
import { byId, definitionList, h, replace } from './dom.js';
import { bytes, clock, dateTime, duration } from './format.js';
import { entriesForConn, focusEntry, showConnection } from './event-log.js';

/** @import { LogEntry } from './types' */

/** @type {LogEntry | null} */
let shown = null;

export function initEventDetail() {
  byId('event-detail-filter').addEventListener('click', () => {
    if (shown === null || shown.conn === '') return;
    const conn = shown.conn;
    byId('event-detail', HTMLDialogElement).close();
    showConnection(conn);
  });
}

/** @param {LogEntry} entry */
export function openEventDetail(entry) {
  shown = entry;
  const dialog = byId('event-detail', HTMLDialogElement);
  byId('event-detail-title').textContent = entry.kind;
  const connBox = h('div', { id: 'event-detail-conn' });
  replace(byId('event-detail-body'),
    definitionList([
      ['Time', `${dateTime(entry.ts)} (${clock(entry.ts)})`],
      ['Kind', entry.kind],
      ['Proxy', entry.proxy],
      ['Toxic', entry.toxic],
      ['Toxic type', entry.type],
      ['Stream', entry.stream],
      ['Action', entry.action],
      ['Folded events', entry.count > 0 ? String(entry.count) : ''],
      ['Connection', entry.conn],
      ['Client', entry.client],
      ['Event id', entry.id],
    ]),
    h('h3', { text: 'Full event' }),
    h('pre', { class: 'json', tabindex: 0, 'aria-label': 'The event as JSON', text: JSON.stringify(entry.raw, null, 2) }),
    entry.conn === '' ? null : connBox);
  byId('event-detail-filter').hidden = entry.conn === '';
  openDialog(dialog, /** @type {HTMLElement} */ (dialog.querySelector('[data-close]')), () => focusEntry(entry.id));
  if (entry.conn !== '') void describeConnection(entry, connBox);
}

/** @param {LogEntry} entry @param {HTMLElement} box */
async function describeConnection(entry, box) {
  replace(box, h('h3', { text: `Connection ${entry.conn}` }), h('p', { class: 'muted', text: 'Looking it up…' }));
  const seen = entriesForConn(entry.conn);
  const opened = seen.find((e) => e.kind === 'conn:opened');
  const closed = seen.find((e) => e.kind === 'conn:closed');
  const faults = seen.filter((e) => e.kind === 'fault:injected').length;
  /** @type {import('./dom.js').Child} */
  let live = null;
  try {
    const conn = entry.proxy === '' ? undefined : (await fetchConnections(entry.proxy)).find((c) => c.conn === entry.conn);
    if (conn !== undefined) {
      live = definitionList([
        ['State', 'open'],
        ['Client', conn.client],
        ['Opened', conn.opened_at ? dateTime(conn.opened_at) : ''],
        ['Age', duration(conn.age_ms)],
        ['↑ client → server', bytes(conn.bytes_up)],
        ['↓ server → client', bytes(conn.bytes_down)],
        ['Active toxics ↑', (conn.toxics?.upstream ?? []).join(', ') || 'none'],
        ['Active toxics ↓', (conn.toxics?.downstream ?? []).join(', ') || 'none'],
      ]);
    }
  } catch (err) {
    live = h('p', { class: 'muted', text: `Live connections unavailable: ${errorMessage(err)}` });
  }
  if (shown !== entry) return;
  const closedDetail = /** @type {Record<string, unknown>} */ (closed?.raw.detail ?? closed?.raw ?? {});
  replace(box,
    h('h3', { text: `Connection ${entry.conn}` }),
    live ?? definitionList([
      ['State', closed !== undefined ? 'closed' : 'not live any more'],
      ['Client', entry.client || opened?.client],
      ['Opened', opened === undefined ? '' : clock(opened.ts)],
      ['Closed', closed === undefined ? '' : `${clock(closed.ts)}: ${String(closedDetail.reason ?? '')}`],
      ['↑ client → server', typeof closedDetail.bytesUp === 'number' ? bytes(closedDetail.bytesUp) : ''],
      ['↓ server → client', typeof closedDetail.bytesDown === 'number' ? bytes(closedDetail.bytesDown) : ''],
      ['Lasted', typeof closedDetail.durationMs === 'number' ? duration(closedDetail.durationMs) : ''],
    ]),
    h('p', { class: 'muted', text: `${faults} fault event${faults === 1 ? '' : 's'} on this connection in the page's history.` }));
}
