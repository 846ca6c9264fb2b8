// @ts-check
// Chaos sessions: start recording, stop to see the summary (a timeline of actions, fault
// counts, proxies touched), list past sessions, export one as a scenario file. The session
// API's answers are shown field by field as they come, so a richer summary needs no change here.

import { del, download, get, listOf, post, seg, text } from './api.js';
import { busy, confirmAction, notify, reportError } from './dialogs.js';
import { byId, definitionList, h, replace } from './dom.js';
import { brief, dateTime, duration, fileName, pairs, toEpoch } from './format.js';

/** @typedef {Record<string, any>} Session */

/** The session being recorded, if any. */
/** @type {Session | null} */
let active = null;

export function initSessions() {
  byId('session-form', HTMLFormElement).addEventListener('submit', (e) => {
    e.preventDefault();
    void start();
  });
  byId('session-stop').addEventListener('click', () => void stop());
  void refresh();
  // Another client may start or stop a session: the list stays current without a reload.
  setInterval(() => { if (document.visibilityState === 'visible') void refresh(); }, 5000);
}

/** The list as last drawn: redrawn only when it changed, so keyboard focus in it survives. */
let drawn = '';

const idOf = (/** @type {Session} */ s) => String(s.id ?? '');
const nameOf = (/** @type {Session} */ s) => String(s.name ?? '') || `session ${idOf(s)}`;
const ended = (/** @type {Session} */ s) => s.status === 'ended' || (s.ended_at !== undefined && s.ended_at !== null);

/** Reloads the list and finds a session still recording (started by this page or another). */
export async function refresh() {
  let sessions;
  try {
    sessions = listOf(await get('/sessions'), 'sessions');
  } catch (err) {
    replace(byId('sessions-list'), h('li', { class: 'muted', text: `Sessions unavailable: ${err instanceof Error ? err.message : String(err)}` }));
    drawn = '';
    return;
  }
  active = sessions.find((s) => !ended(s)) ?? null;
  showActive();
  const key = JSON.stringify(sessions);
  if (key === drawn) return;
  drawn = key;
  const list = byId('sessions-list');
  replace(list, sessions.length === 0 ? h('li', { class: 'muted', text: 'No sessions recorded yet.' }) : null);
  const newestFirst = [...sessions].sort((a, b) => (toEpoch(b.started_at) ?? 0) - (toEpoch(a.started_at) ?? 0));
  for (const s of newestFirst) {
    const id = idOf(s);
    const actions = Array.isArray(s.actions) ? s.actions.length : s.action_count;
    const faults = typeof s.fault_count === 'number' ? ` · ${s.fault_count} faults` : '';
    list.append(h('li', { 'data-session': id },
      h('span', { class: 'item-title', text: nameOf(s) }),
      h('span', { class: 'muted', text: ` ${dateTime(s.started_at)}${ended(s) ? '' : ' · recording'}${actions !== undefined ? ` · ${actions} actions` : ''}${faults}` }),
      h('span', { class: 'item-actions' },
        h('button', { type: 'button', class: 'session-view', 'aria-label': `View session ${nameOf(s)}`, text: 'View',
          onclick: (e) => void busy(/** @type {HTMLButtonElement} */ (e.currentTarget), 'Loading the session failed', async () => showSummary(await get(`/sessions/${seg(id)}`))) }),
        h('button', { type: 'button', class: 'session-export', 'aria-label': `Export session ${nameOf(s)} as a scenario`, text: 'Export',
          onclick: (e) => void exportScenario(s, /** @type {HTMLButtonElement} */ (e.currentTarget)) }),
        h('button', { type: 'button', class: 'session-delete danger', 'aria-label': `Delete session ${nameOf(s)}`, text: 'Delete',
          onclick: () => void remove(s) }))));
  }
}

function showActive() {
  const recording = active !== null;
  byId('session-start', HTMLButtonElement).disabled = recording;
  byId('session-stop', HTMLButtonElement).disabled = !recording;
  byId('session-name', HTMLInputElement).disabled = recording;
  byId('session-status').textContent = active === null
    ? 'Not recording.'
    : `Recording “${nameOf(active)}” since ${dateTime(active.started_at)}: every change to proxies and toxics, from any client, is kept.`;
  byId('sessions-panel').dataset.recording = String(recording);
}

async function start() {
  const input = byId('session-name', HTMLInputElement);
  const name = input.value.trim();
  await busy(byId('session-start', HTMLButtonElement), 'Starting the session failed', async () => {
    active = await post('/sessions', name === '' ? {} : { name });
    input.value = '';
    byId('session-summary').hidden = true;
  });
  showActive();
  void refresh();
}

async function stop() {
  if (active === null) return;
  const id = idOf(active);
  const button = byId('session-stop', HTMLButtonElement);
  button.disabled = true;
  try {
    const summary = await post(`/sessions/${seg(id)}/stop`, {});
    active = null;
    showSummary(summary ?? { id });
  } catch (err) {
    reportError('Stopping the session failed', err);
  }
  showActive();
  await refresh();
}

/** @param {Session} s */
function showSummary(s) {
  const box = byId('session-summary');
  const id = idOf(s);
  const started = toEpoch(s.started_at);
  const end = toEpoch(s.ended_at);
  const actions = Array.isArray(s.actions) ? s.actions : [];
  const proxies = s.proxies_touched ?? s.proxies;
  const touched = Array.isArray(proxies) ? proxies.map((p) => (typeof p === 'string' ? p : String(p?.name ?? brief(p)))) : [];
  box.dataset.session = id;
  replace(box,
    h('h3', { text: `Session “${nameOf(s)}”` }),
    definitionList([
      ['Started', dateTime(s.started_at)],
      ['Stopped', end === null ? 'still recording' : dateTime(end)],
      ['Duration', started !== null && end !== null ? duration(end - started) : ''],
      ['Proxies touched', touched.length === 0 ? 'none' : touched.join(', ')],
      ['Actions not kept', Number(s.actions_dropped) > 0 ? `${s.actions_dropped} (beyond the recording limit)` : ''],
    ]),
    h('h4', { text: `Timeline (${actions.length} action${actions.length === 1 ? '' : 's'})` }),
    actions.length === 0 ? h('p', { class: 'muted', text: 'No control actions were recorded.' })
      : h('ol', { class: 'timeline', id: 'session-timeline' }, actions.map((a) => h('li', { 'data-kind': String(a.kind ?? '') },
        h('span', { class: 'offset mono', text: `+${duration(Number(a.offset_ms) || 0)}` }),
        h('span', { class: 'item-title', text: ` ${String(a.kind ?? '')}` }),
        h('span', { text: ` ${[a.proxy, a.toxic].filter((x) => x !== undefined && x !== null && x !== '').join(' / ')}` }),
        a.control === false ? h('span', { class: 'muted', text: ' (not a control action)' }) : null,
        actionDetail(a)))),
    h('h4', { text: 'Fault counts' }),
    faultCounts(s.fault_counts ?? s.faults),
    h('div', { class: 'actions' },
      h('button', { type: 'button', id: 'session-export', text: 'Export as scenario',
        onclick: (e) => void exportScenario(s, /** @type {HTMLButtonElement} */ (e.currentTarget)) })));
  box.hidden = false;
  box.focus();
}

/** What an action changed: a proxy's fields, a toxic's attributes. */
function actionDetail(/** @type {Record<string, any>} */ a) {
  const what = a.changes ?? a.body?.attributes ?? a.body;
  return what === undefined || what === null ? null : h('span', { class: 'muted mono', text: ` ${pairs(what)}` });
}

/** Whatever shape the counts take: {action: n}, {proxy: {action: n}}, or [{..., count}]. */
function faultCounts(/** @type {unknown} */ counts) {
  if (Array.isArray(counts)) {
    if (counts.length === 0) return h('p', { class: 'muted', text: 'No faults injected.' });
    return h('ul', { id: 'session-faults' }, counts.map((c) => h('li', {
      text: c !== null && typeof c === 'object' && 'count' in c
        ? `${[c.proxy, c.type, c.action].filter(Boolean).join(' · ')}: ${c.count}` : pairs(c),
    })));
  }
  if (counts !== null && typeof counts === 'object' && Object.keys(counts).length > 0) {
    return h('div', { id: 'session-faults' }, definitionList(Object.entries(counts).map(([k, v]) => [k, typeof v === 'object' ? pairs(v) : String(v)])));
  }
  return h('p', { class: 'muted', text: 'No faults injected.' });
}

/** @param {Session} s @param {HTMLButtonElement} button */
async function exportScenario(s, button) {
  await busy(button, 'Exporting the session failed', async () => {
    const yaml = await text(`/sessions/${seg(idOf(s))}/scenario`);
    download(yaml, fileName(nameOf(s), 'yaml'), 'application/yaml');
    notify(`Exported ${nameOf(s)} as a scenario file`);
  });
}

/** @param {Session} s */
async function remove(s) {
  if (!await confirmAction(`Delete session “${nameOf(s)}”? Its recording is lost.`, 'Delete')) return;
  await busy(null, 'Deleting the session failed', async () => {
    await del(`/sessions/${seg(idOf(s))}`);
    if (byId('session-summary').dataset.session === idOf(s)) byId('session-summary').hidden = true;
    await refresh();
  });
}
