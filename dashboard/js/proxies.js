// @ts-check
// The proxies table: one row per proxy, kept by name so redraws keep focus and sparklines.
// Structure changes (a proxy added, edited, removed) come from the model's 'proxies' topic;
// the numbers and sparklines move on every stats message.

import { post, seg } from './api.js';
import { reportError } from './dialogs.js';
import { byId, h } from './dom.js';
import { byteRate, perSecond } from './format.js';
import { drawSpark, sparkCanvas } from './sparkline.js';
import { activeOf, applyChange, latest, on, protocolOf, select, state } from './state.js';

/** @import { Proxy } from './types' */

/**
 * @typedef {object} Row
 * @property {HTMLTableRowElement} tr
 * @property {HTMLButtonElement} select
 * @property {HTMLInputElement} enabled
 * @property {Record<'protocol' | 'listen' | 'upstream' | 'active' | 'toxics', HTMLElement>} text
 * @property {Record<'up' | 'down' | 'faults', {value: HTMLElement, spark: HTMLCanvasElement}>} rates
 */

/** @type {Map<string, Row>} */
const rows = new Map();

export function initProxies() {
  on('proxies', renderRows);
  on('selected', markSelected);
  on('stats', renderRates);
}

function renderRows() {
  const body = /** @type {HTMLTableSectionElement} */ (byId('proxies').querySelector('tbody'));
  const names = [...state.proxies.keys()].sort((a, b) => a.localeCompare(b));
  for (const [name, row] of rows) {
    if (!state.proxies.has(name)) {
      row.tr.remove();
      rows.delete(name);
    }
  }
  /** @type {Element | null} */
  let previous = null;
  for (const name of names) {
    const proxy = /** @type {Proxy} */ (state.proxies.get(name));
    let row = rows.get(name);
    if (row === undefined) rows.set(name, (row = createRow(name)));
    fill(row, proxy);
    // Moves a row only when it is out of place, so a focused control inside keeps its focus.
    /** @type {Element | null} */
    const expected = previous === null ? body.firstElementChild : previous.nextElementSibling;
    if (expected !== row.tr) body.insertBefore(row.tr, expected);
    previous = row.tr;
  }
  byId('proxies-empty').hidden = names.length > 0;
  markSelected();
  renderRates();
}

/** @param {string} name */
function createRow(name) {
  const selectButton = h('button', { type: 'button', class: 'link proxy-select', 'aria-pressed': 'false', text: name,
    onclick: () => select(state.selected === name ? null : name) });
  const enabled = h('input', { type: 'checkbox', class: 'proxy-enabled', 'aria-label': `Enabled: ${name}` });
  enabled.addEventListener('change', () => toggle(name, enabled));
  const cell = (/** @type {string} */ label, /** @type {Node[]} */ ...content) => h('td', { 'data-label': label }, ...content);
  const text = {
    protocol: h('span'), listen: h('span', { class: 'mono' }), upstream: h('span', { class: 'mono' }),
    active: h('span', { class: 'num' }), toxics: h('span', { class: 'num' }),
  };
  const rate = (/** @type {string} */ label) => ({ value: h('span', { class: 'num rate' }), spark: sparkCanvas(`${label}, last minute`) });
  const rates = { up: rate('client to server bytes per second'), down: rate('server to client bytes per second'), faults: rate('faults per second') };
  const tr = h('tr', { 'data-proxy': name },
    h('th', { scope: 'row', 'data-label': 'Name' }, selectButton),
    cell('Protocol', text.protocol),
    cell('Listen', text.listen),
    cell('Upstream', text.upstream),
    cell('Enabled', enabled),
    cell('Active', text.active),
    cell('↑ bytes/s', h('span', { class: 'rate-cell spark-up' }, rates.up.value, rates.up.spark)),
    cell('↓ bytes/s', h('span', { class: 'rate-cell spark-down' }, rates.down.value, rates.down.spark)),
    cell('Faults/s', h('span', { class: 'rate-cell spark-faults' }, rates.faults.value, rates.faults.spark)),
    cell('Toxics', text.toxics));
  return { tr, select: selectButton, enabled, text, rates };
}

/** @param {Row} row @param {Proxy} proxy */
function fill(row, proxy) {
  row.text.protocol.textContent = protocolOf(proxy);
  row.text.listen.textContent = proxy.listen;
  row.text.upstream.textContent = proxy.upstream;
  row.text.toxics.textContent = String(proxy.toxics.length);
  row.enabled.checked = proxy.enabled;
  row.tr.classList.toggle('disabled', !proxy.enabled);
}

function markSelected() {
  for (const [name, row] of rows) {
    const selected = name === state.selected;
    row.tr.classList.toggle('selected', selected);
    row.select.setAttribute('aria-pressed', String(selected));
  }
}

function renderRates() {
  for (const [name, row] of rows) {
    const proxy = state.proxies.get(name);
    const active = proxy === undefined ? null : activeOf(proxy);
    row.text.active.textContent = active === null ? '—' : String(active);
    const sample = latest(name);
    const history = state.history.get(name) ?? [];
    row.rates.up.value.textContent = sample === undefined ? '—' : byteRate(sample.up);
    row.rates.down.value.textContent = sample === undefined ? '—' : byteRate(sample.down);
    row.rates.faults.value.textContent = sample === undefined ? '—' : perSecond(sample.faults);
    drawSpark(row.rates.up.spark, history.map((s) => s.up));
    drawSpark(row.rates.down.spark, history.map((s) => s.down));
    drawSpark(row.rates.faults.spark, history.map((s) => s.faults));
  }
}

/** @param {string} name @param {HTMLInputElement} box */
async function toggle(name, box) {
  const enabled = box.checked;
  box.disabled = true;
  try {
    // The stream's state:changed event says the same; applying the answer too keeps the page
    // right while the stream reconnects.
    applyChange({ kind: 'proxy:updated', proxy: name, body: await post(`/proxies/${seg(name)}`, { enabled }) });
  } catch (err) {
    box.checked = !enabled;
    reportError(`${enabled ? 'Enabling' : 'Disabling'} ${name} failed`, err);
  } finally {
    box.disabled = false;
  }
}
