// @ts-check
// The proxy dialog: create a proxy (tcp, udp, http or dns), or edit one's listen, upstream, enabled
// and (UDP) idle timeout. Name and protocol are fixed once a proxy exists, as the API has them.

import { post, seg } from './api.js';
import { openDialog, showFormError } from './dialogs.js';
import { byId } from './dom.js';
import { applyChange, protocolOf, select, state } from './state.js';

/** The proxy being edited, or null when creating. */
/** @type {string | null} */
let editing = null;

export function initProxyForm() {
  const form = byId('proxy-form', HTMLFormElement);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void submit(form);
  });
  field(form, 'protocol').addEventListener('change', () => showUdpFields(form));
  byId('proxy-new').addEventListener('click', () => openProxyForm(null));
}

/** Opens the dialog to create a proxy (null) or edit the named one. */
export function openProxyForm(/** @type {string | null} */ name) {
  const form = byId('proxy-form', HTMLFormElement);
  const proxy = name === null ? undefined : state.proxies.get(name);
  editing = proxy === undefined ? null : proxy.name;
  form.reset();
  showFormError(form, null);
  byId('proxy-dialog-title').textContent = proxy === undefined ? 'New proxy' : `Edit ${proxy.name}`;
  const nameInput = /** @type {HTMLInputElement} */ (field(form, 'name'));
  const protocol = field(form, 'protocol');
  nameInput.readOnly = proxy !== undefined;
  protocol.disabled = proxy !== undefined;
  if (proxy !== undefined) {
    nameInput.value = proxy.name;
    protocol.value = protocolOf(proxy);
    field(form, 'listen').value = proxy.listen;
    field(form, 'upstream').value = proxy.upstream;
    field(form, 'idle_timeout').value = proxy.idle_timeout === undefined ? '' : String(proxy.idle_timeout);
    /** @type {HTMLInputElement} */ (field(form, 'enabled')).checked = proxy.enabled;
  }
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  showUdpFields(form);
  openDialog(byId('proxy-dialog', HTMLDialogElement), proxy === undefined ? nameInput : field(form, 'listen'));
}

/**
 * @param {HTMLFormElement} form
 * @param {string} name
 * @returns {HTMLInputElement | HTMLSelectElement}
 */
function field(form, name) {
  const el = form.elements.namedItem(name);
  if (!(el instanceof HTMLInputElement || el instanceof HTMLSelectElement)) throw new Error(`proxy form lacks ${name}`);
  return el;
}

function showUdpFields(/** @type {HTMLFormElement} */ form) {
  const udp = field(form, 'protocol').value === 'udp';
  for (const el of form.querySelectorAll('.udp-only')) /** @type {HTMLElement} */ (el).hidden = !udp;
}

/** Checks what the browser can check, naming the first bad field. */
function validate(/** @type {HTMLFormElement} */ form) {
  const problems = [];
  const hostPort = /^(\[[^\]]+\]|[^\s:]*):\d{1,5}$/;
  for (const name of ['name', 'listen', 'upstream']) {
    const input = field(form, name);
    let problem = '';
    if (input.value.trim() === '') problem = `${name} is required`;
    else if (name !== 'name' && !hostPort.test(input.value.trim())) problem = `${name} must be host:port`;
    input.setAttribute('aria-invalid', String(problem !== ''));
    if (problem !== '') problems.push({ input, problem });
  }
  const idle = field(form, 'idle_timeout');
  if (field(form, 'protocol').value === 'udp' && idle.value !== '' && !(Number.isInteger(Number(idle.value)) && Number(idle.value) > 0)) {
    problems.push({ input: idle, problem: 'idle timeout must be a positive whole number of ms' });
  }
  return problems;
}

async function submit(/** @type {HTMLFormElement} */ form) {
  const problems = validate(form);
  const first = problems[0];
  if (first !== undefined) {
    showFormError(form, new Error(problems.map((p) => p.problem).join('; ')));
    first.input.focus();
    return;
  }
  showFormError(form, null);
  const protocol = field(form, 'protocol').value;
  const udp = protocol === 'udp';
  /** @type {Record<string, unknown>} */
  const body = {
    listen: field(form, 'listen').value.trim(),
    upstream: field(form, 'upstream').value.trim(),
    enabled: /** @type {HTMLInputElement} */ (field(form, 'enabled')).checked,
  };
  const idle = field(form, 'idle_timeout').value;
  if (udp && idle !== '') body.idle_timeout = Number(idle);
  const submitButton = form.querySelector('button[type=submit]');
  if (submitButton instanceof HTMLButtonElement) submitButton.disabled = true;
  try {
    if (editing === null) {
      const name = field(form, 'name').value.trim();
      // A TCP proxy is created without the field, as a Toxiproxy client would.
      const created = await post('/proxies', { name, ...(protocol !== 'tcp' ? { protocol } : {}), ...body });
      applyChange({ kind: 'proxy:created', proxy: name, body: created });
      select(name);
    } else {
      const updated = await post(`/proxies/${seg(editing)}`, body);
      applyChange({ kind: 'proxy:updated', proxy: editing, body: updated });
    }
    byId('proxy-dialog', HTMLDialogElement).close('ok');
  } catch (err) {
    showFormError(form, err);
  } finally {
    if (submitButton instanceof HTMLButtonElement) submitButton.disabled = false;
  }
}
