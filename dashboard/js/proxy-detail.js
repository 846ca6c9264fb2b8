// @ts-check
// The selected proxy: its actions (edit, enable/disable, add toxic, partition, heal, delete)
// and its toxics with a live ttl countdown. Quick actions go through the same REST API any
// client uses, so a recording session sees them like any other change.

import { del, post, seg } from './api.js';
import { busy, confirmAction, notify, openDialog, showFormError } from './dialogs.js';
import { byId, h, replace } from './dom.js';
import { duration, pairs, toEpoch } from './format.js';
import { openProxyForm } from './proxy-form.js';
import { openToxicForm } from './toxic-form.js';
import { applyChange, on, protocolOf, select, state } from './state.js';

/** @import { Proxy, Toxic } from './types' */

export function initProxyDetail() {
  on('selected', render);
  on('proxies', render);
  const selected = () => (state.selected === null ? undefined : state.proxies.get(state.selected));
  const button = (/** @type {string} */ id) => byId(id, HTMLButtonElement);
  button('proxy-edit').addEventListener('click', () => { const p = selected(); if (p) openProxyForm(p.name); });
  button('toxic-add').addEventListener('click', () => { const p = selected(); if (p) openToxicForm(p, null); });
  button('proxy-close').addEventListener('click', () => select(null));
  button('proxy-toggle').addEventListener('click', () => {
    const p = selected();
    if (!p) return;
    void busy(button('proxy-toggle'), `${p.enabled ? 'Disabling' : 'Enabling'} ${p.name} failed`, async () => {
      applyChange({ kind: 'proxy:updated', proxy: p.name, body: await post(`/proxies/${seg(p.name)}`, { enabled: !p.enabled }) });
    });
  });
  button('proxy-heal').addEventListener('click', () => { const p = selected(); if (p) void heal(p, button('proxy-heal')); });
  button('proxy-delete').addEventListener('click', () => { const p = selected(); if (p) void remove(p); });
  button('proxy-partition').addEventListener('click', () => {
    const p = selected();
    if (!p) return;
    const form = byId('partition-form', HTMLFormElement);
    form.reset();
    showFormError(form, null);
    byId('partition-dialog-title').textContent = `Partition ${p.name}`;
    openDialog(byId('partition-dialog', HTMLDialogElement));
  });
  byId('partition-form', HTMLFormElement).addEventListener('submit', (e) => {
    e.preventDefault();
    const p = selected();
    if (p) void partition(p, /** @type {HTMLFormElement} */ (e.currentTarget));
  });
  // One timer for every countdown on the page; a countdown is text in a cell carrying its deadline.
  setInterval(tickCountdowns, 1000);
}

/** What was drawn last: redrawing only on a real change keeps keyboard focus in the table. */
let drawn = '';

function render() {
  const section = byId('proxy-detail');
  const proxy = state.selected === null ? undefined : state.proxies.get(state.selected);
  section.hidden = proxy === undefined;
  const key = proxy === undefined ? '' : JSON.stringify(proxy);
  if (proxy === undefined || key === drawn) {
    drawn = key;
    return;
  }
  drawn = key;
  section.dataset.proxy = proxy.name;
  byId('detail-title').textContent = proxy.name;
  byId('detail-summary').textContent =
    `${protocolOf(proxy)} · listens on ${proxy.listen} · forwards to ${proxy.upstream} · ${proxy.enabled ? 'enabled' : 'disabled'}`;
  byId('proxy-toggle').textContent = proxy.enabled ? 'Disable' : 'Enable';
  const body = /** @type {HTMLTableSectionElement} */ (byId('toxics').querySelector('tbody'));
  replace(body, proxy.toxics.map((t) => toxicRow(proxy, t)));
  byId('toxics-empty').hidden = proxy.toxics.length > 0;
  tickCountdowns();
}

/** @param {Proxy} proxy @param {Toxic} toxic */
function toxicRow(proxy, toxic) {
  const expires = toEpoch(toxic.expires_at);
  return h('tr', { 'data-toxic': toxic.name },
    h('th', { scope: 'row', 'data-label': 'Name' }, toxic.name),
    h('td', { 'data-label': 'Type' }, toxic.type),
    h('td', { 'data-label': 'Stream' }, toxic.stream),
    h('td', { 'data-label': 'Toxicity', class: 'num' }, String(toxic.toxicity)),
    h('td', { 'data-label': 'Attributes', class: 'mono wrap' }, pairs(toxic.attributes)),
    h('td', { 'data-label': 'Expires in', class: 'num ttl', 'data-expires': expires ?? false }, expires === null ? '—' : ''),
    h('td', { class: 'row-actions' },
      h('button', { type: 'button', class: 'toxic-edit', 'aria-label': `Edit toxic ${toxic.name}`, text: 'Edit',
        onclick: () => openToxicForm(proxy, toxic) }),
      h('button', { type: 'button', class: 'toxic-remove danger', 'aria-label': `Remove toxic ${toxic.name}`, text: 'Remove',
        onclick: (e) => void removeToxic(proxy.name, toxic.name, /** @type {HTMLButtonElement} */ (e.currentTarget)) })));
}

function tickCountdowns() {
  const now = Date.now();
  for (const cell of document.querySelectorAll('[data-expires]')) {
    const at = Number(/** @type {HTMLElement} */ (cell).dataset.expires);
    cell.textContent = at - now > 0 ? duration(at - now) : 'expiring…';
  }
}

/** @param {string} proxy @param {string} toxic @param {HTMLButtonElement} button */
async function removeToxic(proxy, toxic, button) {
  await busy(button, `Removing ${toxic} failed`, async () => {
    await del(`/proxies/${seg(proxy)}/toxics/${seg(toxic)}`);
    applyChange({ kind: 'toxic:removed', proxy, toxic });
    // Its row (and the focused button) is gone: land on the panel's next useful control.
    byId('toxic-add').focus();
  });
}

/** Removes every toxic of a proxy, and tells which failed. */
async function heal(/** @type {Proxy} */ proxy, /** @type {HTMLButtonElement} */ button) {
  await busy(button, `Healing ${proxy.name} failed`, async () => {
    const names = proxy.toxics.map((t) => t.name);
    const results = await Promise.allSettled(names.map((t) => del(`/proxies/${seg(proxy.name)}/toxics/${seg(t)}`)));
    results.forEach((r, i) => { if (r.status === 'fulfilled') applyChange({ kind: 'toxic:removed', proxy: proxy.name, toxic: names[i] }); });
    const failed = results.find((r) => r.status === 'rejected');
    if (failed !== undefined) throw /** @type {PromiseRejectedResult} */ (failed).reason;
    notify(names.length === 0 ? `${proxy.name} has no toxics` : `${proxy.name} healed: ${names.length} toxic${names.length === 1 ? '' : 's'} removed`);
  });
}

async function remove(/** @type {Proxy} */ proxy) {
  if (!await confirmAction(`Delete proxy ${proxy.name}? Its listener and live connections close.`, 'Delete')) return;
  await busy(null, `Deleting ${proxy.name} failed`, async () => {
    await del(`/proxies/${seg(proxy.name)}`);
    applyChange({ kind: 'proxy:deleted', proxy: proxy.name });
  });
}

/** Adds `partition` toxics on one or both streams, named partition_<stream>. */
async function partition(/** @type {Proxy} */ proxy, /** @type {HTMLFormElement} */ form) {
  const data = new FormData(form);
  const direction = String(data.get('direction') ?? 'both');
  const ttlText = String(data.get('ttl') ?? '').trim();
  const ttl = ttlText === '' ? null : Number(ttlText);
  if (ttl !== null && !(Number.isInteger(ttl) && ttl > 0)) {
    showFormError(form, new Error('ttl must be a positive whole number of ms'));
    return;
  }
  const streams = direction === 'both' ? ['upstream', 'downstream'] : [direction];
  const submit = form.querySelector('button[type=submit]');
  if (submit instanceof HTMLButtonElement) submit.disabled = true;
  try {
    for (const stream of streams) {
      const body = { type: 'partition', name: `partition_${stream}`, stream, toxicity: 1, attributes: { drop: data.get('drop') !== null }, ...(ttl === null ? {} : { ttl }) };
      const saved = await post(`/proxies/${seg(proxy.name)}/toxics`, body);
      applyChange({ kind: 'toxic:added', proxy: proxy.name, toxic: saved?.name, body: saved });
    }
    byId('partition-dialog', HTMLDialogElement).close('ok');
    notify(`${proxy.name} partitioned ${direction === 'both' ? 'both ways' : `(${direction} only)`}`);
  } catch (err) {
    showFormError(form, err);
  } finally {
    if (submit instanceof HTMLButtonElement) submit.disabled = false;
  }
}
