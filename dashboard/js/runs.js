// @ts-check
// Game-day runs on the server: start a stored or uploaded scenario file, watch its steps and
// probes (scenario:* events from the stream, plus a poll of the run every second while it
// runs), abort it (the server rolls back), and open its HTML report.

import { del, get, listOf, post, request, seg, text } from './api.js';
import { busy, confirmAction, errorMessage, notify, showFormError } from './dialogs.js';
import { byId, definitionList, h, replace } from './dom.js';
import { brief, bytes, dateTime, duration, toEpoch } from './format.js';

/** @typedef {Record<string, any>} Run */

/** @type {string | null} */
let selected = null;
/** @type {ReturnType<typeof setTimeout> | null} */
let poller = null;
/** @type {ReturnType<typeof setTimeout> | null} */
let listTimer = null;

export function initRuns() {
  byId('scenario-upload', HTMLFormElement).addEventListener('submit', (e) => {
    e.preventDefault();
    void upload(/** @type {HTMLFormElement} */ (e.currentTarget));
  });
  refreshRuns();
}

/** Reloads the stored files and the runs (after a reconnect: the server may have restarted). */
export function refreshRuns() {
  void loadFiles();
  void loadRuns();
  if (selected !== null) void loadRun(selected);
}

/** A scenario:* event from the stream: the list and the watched run are refreshed. */
export function onScenarioEvent(/** @type {string} */ _kind, /** @type {Record<string, unknown>} */ event) {
  if (listTimer === null) listTimer = setTimeout(() => { listTimer = null; void loadRuns(); }, 250);
  if (selected !== null && event.run === selected) void loadRun(selected);
}

async function loadFiles() {
  const list = byId('scenario-files');
  let files;
  try {
    files = listOf(await get('/scenarios/files'), 'files');
  } catch (err) {
    replace(list, h('li', { class: 'muted', text: `No stored scenarios: ${errorMessage(err)}` }));
    return;
  }
  replace(list, files.length === 0 ? h('li', { class: 'muted', text: 'No stored scenario files.' }) : null);
  for (const f of files) {
    const name = String(f.name ?? f);
    list.append(h('li', { 'data-file': name },
      h('span', { class: 'item-title', text: String(f.title ?? name) }),
      h('span', { class: 'muted', text: ` ${name}${typeof f.size === 'number' ? ` · ${bytes(f.size)}` : ''}${f.mtime ? ` · ${dateTime(f.mtime)}` : ''}` }),
      h('span', { class: 'item-actions' },
        h('button', { type: 'button', class: 'scenario-start', 'aria-label': `Start scenario ${name}`, text: 'Start',
          onclick: (e) => void busy(/** @type {HTMLButtonElement} */ (e.currentTarget), `Starting ${name} failed`,
            async () => start(await text(`/scenarios/files/${seg(name)}`), null)) }))));
  }
}

async function upload(/** @type {HTMLFormElement} */ form) {
  const file = byId('scenario-file', HTMLInputElement).files?.[0];
  if (file === undefined) {
    showFormError(form, new Error('choose a .yaml or .json scenario file first'));
    byId('scenario-file').focus();
    return;
  }
  showFormError(form, null);
  await busy(byId('scenario-upload-start', HTMLButtonElement), `Starting ${file.name} failed`, async () => {
    await start(await file.text(), form);
  });
}

/**
 * Starts a run from a scenario file's text; an invalid file's issues go to the form, if any.
 * @param {string} scenario
 * @param {HTMLFormElement | null} form
 */
async function start(scenario, form) {
  let run;
  try {
    run = await post('/scenarios/runs', { scenario });
  } catch (err) {
    if (form !== null) {
      showFormError(form, err);
      return;
    }
    throw err;
  }
  notify(`Started “${String(run?.title ?? 'scenario')}”`);
  await loadRuns();
  if (typeof run?.id === 'string') await watch(run.id);
}

async function loadRuns() {
  const list = byId('runs-list');
  let runs;
  try {
    runs = listOf(await get('/scenarios/runs'), 'runs');
  } catch (err) {
    replace(list, h('li', { class: 'muted', text: `Runs unavailable: ${errorMessage(err)}` }));
    return;
  }
  runs.sort((a, b) => (toEpoch(b.started_at) ?? 0) - (toEpoch(a.started_at) ?? 0));
  replace(list, runs.length === 0 ? h('li', { class: 'muted', text: 'No runs yet.' }) : null);
  for (const r of runs.slice(0, 50)) {
    const id = String(r.id);
    list.append(h('li', { 'data-run': id, 'data-status': String(r.status ?? ''), class: id === selected ? 'selected' : false },
      h('span', { class: `status status-${String(r.status ?? '')}`, text: String(r.status ?? '?') }),
      h('span', { class: 'item-title', text: ` ${String(r.title ?? id)}` }),
      h('span', { class: 'muted', text: ` ${dateTime(r.started_at)}` }),
      h('span', { class: 'item-actions' },
        h('button', { type: 'button', class: 'run-view', 'aria-label': `Watch run ${String(r.title ?? id)}`, text: 'Watch',
          onclick: () => void watch(id) }))));
  }
}

/** Shows a run and keeps it current while it runs. */
async function watch(/** @type {string} */ id) {
  selected = id;
  for (const li of byId('runs-list').querySelectorAll('[data-run]')) li.classList.toggle('selected', /** @type {HTMLElement} */ (li).dataset.run === id);
  await loadRun(id);
  byId('run-detail').focus();
}

async function loadRun(/** @type {string} */ id) {
  if (poller !== null) clearTimeout(poller);
  poller = null;
  let run;
  try {
    run = await get(`/scenarios/runs/${seg(id)}`);
  } catch (err) {
    if (selected === id) replace(byId('run-detail'), h('p', { class: 'muted', text: `Run ${id}: ${errorMessage(err)}` }));
    return;
  }
  if (selected !== id) return;
  render(run);
  if (run?.status === 'running') poller = setTimeout(() => void loadRun(id), 1000);
}

/** @param {Run} run */
function render(run) {
  const box = byId('run-detail');
  const id = String(run.id);
  const running = run.status === 'running';
  const started = toEpoch(run.started_at);
  const elapsed = started === null ? 0 : (toEpoch(run.ended_at) ?? Date.now()) - started;
  const planned = Number(run.duration_ms) || 0;
  const steps = Array.isArray(run.steps) ? run.steps : [];
  const probes = Array.isArray(run.probes) ? run.probes : [];
  box.dataset.run = id;
  box.dataset.status = String(run.status ?? '');
  replace(box,
    h('h3', {}, `${String(run.title ?? id)} `, h('span', { class: `status status-${String(run.status)}`, id: 'run-status', text: String(run.status ?? '?') })),
    planned > 0 ? h('progress', { max: planned, value: Math.min(elapsed, planned), 'aria-label': 'Timeline progress' }) : null,
    definitionList([
      ['Run', id],
      ['Started', dateTime(run.started_at)],
      ['Elapsed', `${duration(elapsed)}${planned > 0 ? ` of ${duration(planned)} planned` : ''}`],
      ['Ended', run.ended_at ? dateTime(run.ended_at) : ''],
      ['Exit code', run.exit_code === null || run.exit_code === undefined ? '' : String(run.exit_code)],
      ['Reason', String(run.reason ?? '')],
      ['Rollback', run.rollback ? (run.rollback.ok ? 'done' : `FAILED: ${(run.rollback.errors ?? []).join('; ')}`) : ''],
    ]),
    h('div', { class: 'actions' },
      running ? h('button', { type: 'button', id: 'run-abort', class: 'danger', text: 'Abort (rolls back)', onclick: (e) => void abort(id, /** @type {HTMLButtonElement} */ (e.currentTarget)) }) : null,
      h('button', { type: 'button', id: 'run-report', text: 'Open report', onclick: () => void openReport(id) })),
    h('h4', { text: `Steps (${steps.length})` }),
    table('run-steps', ['#', 'Kind', 'At', 'Fired', 'Late', 'Result', 'Detail'], steps.map((s) => [
      String(s.index ?? ''), String(s.kind ?? ''), duration(Number(s.atMs ?? s.at_ms) || 0),
      s.firedAtMs === undefined && s.fired_at_ms === undefined ? '' : duration(Number(s.firedAtMs ?? s.fired_at_ms) || 0),
      s.lateMs === undefined ? '' : duration(Number(s.lateMs) || 0),
      s.ok === false ? 'failed' : 'ok', brief(s.error ?? s.detail ?? '', 200),
    ]), steps.map((s) => s.ok === false)),
    h('h4', { text: `Probes (${probes.length})` }),
    table('run-probes', ['Probe', 'Phase', 'Result', 'Value', 'Latency', 'Reason'], probes.slice(-200).map((p) => [
      String(p.probe ?? ''), String(p.phase ?? ''), p.ok ? 'ok' : 'failed', brief(p.value, 80),
      typeof p.latencyMs === 'number' ? duration(p.latencyMs) : '', String(p.reason ?? ''),
    ]), probes.slice(-200).map((p) => !p.ok)));
  box.hidden = false;
}

/**
 * @param {string} id
 * @param {string[]} head
 * @param {string[][]} rows
 * @param {boolean[]} failed
 */
function table(id, head, rows, failed) {
  if (rows.length === 0) return h('p', { class: 'muted', text: 'None yet.' });
  return h('div', { class: 'table-wrap' }, h('table', { id, class: 'data responsive' },
    h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col', text: c })))),
    h('tbody', {}, rows.map((r, i) => h('tr', { class: failed[i] ? 'failed' : false },
      r.map((c, j) => h('td', { 'data-label': head[j] ?? '', text: c })))))));
}

/** @param {string} id @param {HTMLButtonElement} button */
async function abort(id, button) {
  if (!await confirmAction('Abort this run? Everything it changed is rolled back.', 'Abort run')) return;
  await busy(button, 'Aborting the run failed', async () => {
    await del(`/scenarios/runs/${seg(id)}`);
    notify('Run aborted and rolled back');
  });
  await loadRun(id);
  void loadRuns();
}

/** The report is HTML behind the token: fetched here, then shown from a blob in a new tab. */
async function openReport(/** @type {string} */ id) {
  // Opened now, while the click still counts as a user gesture, so no popup blocker objects.
  const tab = window.open('', '_blank');
  try {
    const html = await (await request('GET', `/scenarios/runs/${seg(id)}/report`)).text();
    const url = URL.createObjectURL(new Blob([html], { type: 'text/html' }));
    if (tab !== null) {
      tab.location.href = url;
    } else {
      // A blocked popup: offer the report as a link the user can open themselves.
      byId('run-detail').append(h('p', {}, h('a', { href: url, target: '_blank', rel: 'noopener', id: 'run-report-link', text: 'The report is ready: open it' })));
    }
    setTimeout(() => URL.revokeObjectURL(url), 10 * 60_000);
  } catch (err) {
    tab?.close();
    notify(`Opening the report failed: ${errorMessage(err)}`, 'error');
  }
}
