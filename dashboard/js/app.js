// @ts-check
// The dashboard's entry point: wires the views to the model, the model to the live stream,
// and loads what the stream does not carry (the toxic catalog, stored history).

import { get, post, version } from './api.js';
import { busy, confirmAction, notify } from './dialogs.js';
import { byId } from './dom.js';
import { initCharts } from './charts.js';
import { initConnections } from './connections.js';
import { initEventDetail, openEventDetail } from './event-detail.js';
import { addLive, backfill, initEventLog, newestTs, showConnection } from './event-log.js';
import { initProxies } from './proxies.js';
import { initProxyDetail } from './proxy-detail.js';
import { initProxyForm } from './proxy-form.js';
import { initRoutes } from './routes.js';
import { initRuns, onScenarioEvent, refreshRuns } from './runs.js';
import { initSessions, refresh as refreshSessions } from './sessions.js';
import { addStats, applyChange, emit, setProxies, state } from './state.js';
import { connectStream } from './stream.js';
import { initToxicForm } from './toxic-form.js';

/** @import { ConnState, Proxy } from './types' */

function main() {
  byId('version').textContent = version === '' ? '' : `v${version}`;
  initProxies();
  initProxyForm();
  initToxicForm();
  initProxyDetail();
  initConnections(showConnection);
  initRoutes();
  initEventLog(openEventDetail);
  initEventDetail();
  initCharts();
  initSessions();
  initRuns();
  const healAll = byId('heal-all', HTMLButtonElement);
  healAll.addEventListener('click', async () => {
    if (!await confirmAction('Heal everything? Every toxic on every proxy is removed and every proxy is enabled.', 'Heal everything')) return;
    await busy(healAll, 'Healing everything failed', async () => {
      await post('/reset', undefined);
      await reloadProxies();
      notify('Everything healed: toxics removed, proxies enabled');
    });
  });
  void loadCatalog();
  let snapshots = 0;
  connectStream({
    snapshot(proxies, stats) {
      setProxies(proxies);
      if (stats !== null) addStats(stats);
      void loadMissedEvents();
      // Back after a drop: what the stream does not carry may have changed meanwhile.
      if (snapshots++ > 0) {
        void refreshSessions();
        refreshRuns();
        if (state.catalog.length === 0) void loadCatalog();
      }
    },
    event(kind, event) {
      if (kind === 'state:changed' && !applyChange(event)) scheduleReload();
      if (kind.startsWith('scenario:')) onScenarioEvent(kind, event);
      addLive(kind, event);
    },
    stats: addStats,
    status: showStatus,
  });
}

async function loadCatalog() {
  try {
    const catalog = await get('/toxics');
    state.catalog = Array.isArray(catalog) ? catalog : [];
    emit('catalog');
  } catch (err) {
    notify(`The toxic catalog could not be loaded: ${err instanceof Error ? err.message : String(err)}`, 'error');
  }
}

async function reloadProxies() {
  const byName = await get('/proxies');
  setProxies(/** @type {Proxy[]} */ (Object.values(byName ?? {})));
}

/** @type {ReturnType<typeof setTimeout> | null} */
let reloadTimer = null;
/** A change the model could not apply by itself: fetch the truth, once per burst. */
function scheduleReload() {
  if (reloadTimer !== null) return;
  reloadTimer = setTimeout(() => {
    reloadTimer = null;
    reloadProxies().catch(() => {});
  }, 200);
}

/** Events stored while the page was away (or before it opened), from the server's event log. */
async function loadMissedEvents() {
  const since = newestTs();
  const query = since === null ? 'limit=300' : `since=${since}&limit=2000`;
  try {
    const answer = await get(`/events?${query}`);
    if (Array.isArray(answer?.events)) backfill(answer.events);
  } catch {
    // A server without an event log (persistence off) has nothing to add: the live stream is all.
  }
}

/** @param {ConnState} connState @param {string} reason */
function showStatus(connState, reason) {
  const el = byId('conn-status');
  el.dataset.state = connState;
  document.body.dataset.connection = connState;
  if (connState === 'open') el.textContent = 'connected';
  else if (connState === 'connecting' && el.textContent !== 'disconnected — reconnecting…') el.textContent = 'connecting…';
  else if (connState === 'closed') el.textContent = 'disconnected — reconnecting…';
  el.title = reason;
}

main();
