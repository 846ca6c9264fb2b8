// @ts-check
// The selected http proxy's requests by route (GET /routes?proxy=NAME), polled every second
// while such a proxy is selected and the page is visible: request counts, status classes (and
// gRPC statuses), latency percentiles and body bytes per request, so a bake-off can be read off
// the proxy. Hidden for tcp and udp proxies.

import { get, seg } from './api.js';
import { byId, h, replace } from './dom.js';
import { bytes } from './format.js';
import { on, protocolOf, state } from './state.js';

/** @import { RouteInfo } from './types' */

const POLL_MS = 1000;
const GRPC = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED',
  'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];
/** @type {ReturnType<typeof setTimeout> | null} */
let timer = null;
let generation = 0;

export function initRoutes() {
  on('selected', restart);
  on('proxies', () => { if (byId('routes-panel').hidden === isHttp()) restart(); });
  document.addEventListener('visibilitychange', restart);
}

function isHttp() {
  const proxy = state.selected === null ? undefined : state.proxies.get(state.selected);
  return proxy !== undefined && protocolOf(proxy) === 'http';
}

function restart() {
  if (timer !== null) clearTimeout(timer);
  timer = null;
  generation++;
  const show = isHttp();
  byId('routes-panel').hidden = !show;
  replace(/** @type {HTMLElement} */ (byId('routes').querySelector('tbody')));
  byId('routes-count').textContent = '';
  if (show && document.visibilityState !== 'hidden') void poll(generation);
}

/** @param {number} gen */
async function poll(gen) {
  const proxy = state.selected;
  if (proxy === null) return;
  try {
    const answer = await get(`/routes?proxy=${seg(proxy)}`);
    const entry = Array.isArray(answer?.proxies) ? answer.proxies[0] : undefined;
    if (gen === generation) render(Array.isArray(entry?.routes) ? entry.routes : []);
  } catch (err) {
    if (gen === generation) byId('routes-count').textContent = `(could not load: ${err instanceof Error ? err.message : String(err)})`;
  }
  if (gen === generation) timer = setTimeout(() => void poll(gen), POLL_MS);
}

/** `2xx 120 · 5xx 3 · UNAVAILABLE 3`: status classes, then gRPC statuses other than OK. */
function statuses(/** @type {RouteInfo} */ r) {
  const classes = Object.entries(r.statuses ?? {}).sort().map(([cls, n]) => `${cls} ${n}`);
  const grpc = Object.entries(r.grpc ?? {}).filter(([code]) => code !== '0')
    .map(([code, n]) => `${GRPC[Number(code)] ?? `grpc ${code}`} ${n}`);
  return [...classes, ...grpc].join(' · ');
}

const ms = (/** @type {number} */ v) => `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)} ms`;

/** @param {RouteInfo[]} list */
function render(list) {
  const sorted = [...list].sort((a, b) => b.requests - a.requests);
  replace(/** @type {HTMLElement} */ (byId('routes').querySelector('tbody')), sorted.map((r) => h('tr', { 'data-route': r.route },
    h('th', { scope: 'row', 'data-label': 'Route', class: 'mono' }, r.route),
    h('td', { 'data-label': 'Requests', class: 'num' }, String(r.requests)),
    h('td', { 'data-label': 'Statuses' }, statuses(r)),
    h('td', { 'data-label': 'p50', class: 'num' }, ms(r.latency_ms.p50)),
    h('td', { 'data-label': 'p95', class: 'num' }, ms(r.latency_ms.p95)),
    h('td', { 'data-label': 'p99', class: 'num' }, ms(r.latency_ms.p99)),
    h('td', { 'data-label': 'Bytes per request', class: 'num' },
      `${bytes(r.bytes.request / Math.max(1, r.requests))} / ${bytes(r.bytes.response / Math.max(1, r.requests))}`))));
  const total = list.reduce((sum, r) => sum + r.requests, 0);
  byId('routes-count').textContent = `(${total} requests)`;
  byId('routes-empty').hidden = list.length > 0;
}
