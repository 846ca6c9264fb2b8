// @ts-check
// The toxic dialog, generated from the server's catalog (GET /toxics): one field per attribute,
// labelled with its unit, its default and its valid range, checked here before the server
// checks it again. The inputs are named after the attributes. Text attributes (an HTTP body,
// a path glob, a header match, a DNS name) get a text field, and list attributes (DNS
// addresses) one of comma-separated values; their formats are checked by the server.

import { post, seg } from './api.js';
import { openDialog, showFormError } from './dialogs.js';
import { byId, h, replace } from './dom.js';
import { applyChange, protocolOf, state } from './state.js';

/** @import { AttributeSpec, Proxy, Toxic, ToxicDefinition } from './types' */

/** @typedef {{name: string, spec: AttributeSpec, input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, error: HTMLElement}} AttrField */

/** @type {{proxy: string, toxic: Toxic | null, def: ToxicDefinition | null, attrs: AttrField[]}} */
const current = { proxy: '', toxic: null, def: null, attrs: [] };

export function initToxicForm() {
  byId('toxic-form', HTMLFormElement).addEventListener('submit', (e) => {
    e.preventDefault();
    void submit();
  });
}

/**
 * Opens the dialog to add a toxic to a proxy, or to edit one of its toxics.
 * @param {Proxy} proxy
 * @param {Toxic | null} toxic
 */
export function openToxicForm(proxy, toxic) {
  const form = byId('toxic-form', HTMLFormElement);
  showFormError(form, null);
  current.proxy = proxy.name;
  current.toxic = toxic;
  byId('toxic-dialog-title').textContent = toxic === null ? `Add a toxic to ${proxy.name}` : `Edit ${toxic.name} on ${proxy.name}`;
  const protocol = protocolOf(proxy);
  // An http proxy's connections are TCP byte streams too: it takes the tcp toxics besides its own.
  const types = state.catalog.filter((d) => !Array.isArray(d.protocols) || d.protocols.includes(protocol) ||
    (protocol === 'http' && d.protocols.includes('tcp')));
  if (toxic === null && types.length === 0) {
    showFormError(form, new Error('the toxic catalog (GET /toxics) is not loaded yet'));
  }
  const typeSelect = h('select', { id: 'toxic-type', name: 'type', disabled: toxic !== null },
    (toxic === null ? types : state.catalog.filter((d) => d.type === toxic.type)).map((d) => h('option', { value: d.type, text: d.type })));
  if (toxic !== null) {
    if (typeSelect.options.length === 0) typeSelect.append(h('option', { value: toxic.type, text: toxic.type }));
    typeSelect.value = toxic.type;
  } else if (types.some((d) => d.type === 'latency')) {
    typeSelect.value = 'latency';
  }
  const stream = h('select', { id: 'toxic-stream', name: 'stream', disabled: toxic !== null },
    h('option', { value: 'downstream', text: 'downstream (server → client)' }),
    h('option', { value: 'upstream', text: 'upstream (client → server)' }));
  if (toxic !== null) stream.value = toxic.stream.toLowerCase();
  const name = h('input', { id: 'toxic-name', name: 'name', type: 'text', autocomplete: 'off', readonly: toxic !== null,
    placeholder: 'type_stream', value: toxic?.name });
  const toxicity = h('input', { id: 'toxic-toxicity', name: 'toxicity', type: 'number', min: 0, max: 1, step: 'any',
    value: toxic === null ? 1 : toxic.toxicity, 'aria-describedby': 'toxic-toxicity-hint' });
  const ttlHint = toxic === null ? 'optional: removes the toxic after this long' : 'optional: empty keeps the current ttl, 0 clears it';
  const ttl = h('input', { id: 'toxic-ttl', name: 'ttl', type: 'number', min: 0, step: 1, 'aria-describedby': 'toxic-ttl-hint' });
  const description = h('p', { id: 'toxic-description', class: 'muted' });
  const attrs = h('fieldset', { id: 'toxic-attributes' });
  replace(byId('toxic-form-fields'),
    h('div', { class: 'grid-2' },
      h('label', {}, 'Type', typeSelect),
      h('label', {}, 'Stream', stream),
      h('label', {}, 'Name', name),
      h('label', {}, 'Toxicity (probability, 0 to 1)', toxicity, h('small', { id: 'toxic-toxicity-hint', class: 'hint', text: 'chance that a connection is affected' })),
      h('label', {}, 'ttl (ms)', ttl, h('small', { id: 'toxic-ttl-hint', class: 'hint', text: ttlHint }))),
    description, attrs);
  const showType = () => {
    current.def = state.catalog.find((d) => d.type === typeSelect.value) ?? null;
    description.textContent = current.def?.description ?? '';
    // Request and DNS toxics roll their toxicity for every request or query, and their stream is
    // only a label.
    const only = current.def?.protocols.length === 1 ? current.def.protocols[0] : undefined;
    const perRequest = only === 'http';
    byId('toxic-toxicity-hint').textContent = perRequest ? 'chance that a request is affected'
      : only === 'dns' ? 'chance that a query is affected' : 'chance that a connection is affected';
    current.attrs = renderAttributes(attrs, current.def, toxic, protocol === 'http' && !perRequest ? 'tcp' : protocol);
  };
  typeSelect.addEventListener('change', showType);
  showType();
  openDialog(byId('toxic-dialog', HTMLDialogElement), toxic === null ? typeSelect : undefined);
}

/**
 * @param {HTMLFieldSetElement} box
 * @param {ToxicDefinition | null} def
 * @param {Toxic | null} toxic
 * @param {string} protocol
 * @returns {AttrField[]}
 */
function renderAttributes(box, def, toxic, protocol) {
  // An attribute meant for the other protocol would be ignored by the server, so it isn't offered.
  const entries = Object.entries(def?.attributes ?? {}).filter(([, spec]) => !spec.protocols || spec.protocols.includes(protocol));
  replace(box, h('legend', { text: entries.length === 0 ? 'No attributes' : 'Attributes' }));
  return entries.map(([name, spec]) => {
    const id = `toxic-attr-${name}`;
    const value = toxic?.attributes[name] ?? spec.default;
    const error = h('small', { id: `${id}-error`, class: 'field-error', hidden: true });
    const hint = h('small', { id: `${id}-hint`, class: 'hint', text: hintFor(spec) });
    const describedBy = `${id}-hint ${id}-error`;
    /** @type {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} */
    let input;
    if (spec.kind === 'string') {
      const attrs = { id, name, maxlength: spec.maxLength, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': describedBy, 'data-attribute': name };
      input = spec.format === 'text' ? h('textarea', { ...attrs, rows: 3 }) : h('input', { ...attrs, type: 'text', class: 'mono' });
      input.value = String(value);
      box.append(h('div', { class: 'field' }, h('label', { for: id, text: name }), input, hint, error));
    } else if (spec.kind === 'list') {
      input = h('input', { id, name, type: 'text', class: 'mono', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': describedBy, 'data-attribute': name });
      input.value = Array.isArray(value) ? value.join(', ') : String(value);
      box.append(h('div', { class: 'field' }, h('label', { for: id, text: name }), input, hint, error));
    } else if (spec.kind === 'boolean') {
      input = h('input', { id, name, type: 'checkbox', 'aria-describedby': describedBy, 'data-attribute': name });
      input.checked = value === true;
      box.append(h('div', { class: 'field' }, h('label', { class: 'check' }, input, ` ${name}`), hint, error));
    } else {
      if (spec.kind === 'enum') {
        input = h('select', { id, name, 'aria-describedby': describedBy, 'data-attribute': name },
          spec.values.map((v) => h('option', { value: v, text: v })));
      } else {
        input = h('input', {
          id, name, type: 'number', inputmode: spec.kind === 'integer' ? 'numeric' : 'decimal',
          step: spec.kind === 'integer' ? 1 : 'any', min: spec.min ?? 0, max: spec.max,
          'aria-describedby': describedBy, 'data-attribute': name,
        });
      }
      input.value = String(value);
      const unit = 'unit' in spec && spec.unit !== '' ? ` (${spec.unit})` : '';
      box.append(h('div', { class: 'field' }, h('label', { for: id, text: `${name}${unit}` }), input, hint, error));
    }
    return { name, spec, input, error };
  });
}

/** "default 0 · 0 to 2147483647 · delay added to each chunk" */
function hintFor(/** @type {AttributeSpec} */ spec) {
  const parts = [spec.kind === 'list' ? `default ${spec.default.length === 0 ? 'none' : spec.default.join(', ')}` : `default ${String(spec.default)}`];
  if (spec.kind === 'integer' || spec.kind === 'number') {
    const min = spec.min ?? 0;
    parts.push(spec.max === undefined ? `at least ${min}` : `${min} to ${spec.max}`);
    if (spec.kind === 'integer') parts.push('whole number');
  } else if (spec.kind === 'enum') {
    parts.push(`one of ${spec.values.join(', ')}`);
  } else if (spec.kind === 'string') {
    parts.push(`up to ${spec.maxLength} bytes`);
  } else if (spec.kind === 'list') {
    parts.push(`up to ${spec.maxItems}, separated by commas`);
  }
  if (spec.description) parts.push(spec.description);
  return parts.join(' · ');
}

/**
 * The value of one attribute field, or an error message.
 * @param {AttrField} f
 * @returns {{value: number | string | boolean | string[]} | {error: string}}
 */
function readAttribute(f) {
  const { spec, input } = f;
  if (spec.kind === 'list') {
    const items = input.value.split(',').map((s) => s.trim()).filter((s) => s !== '');
    return items.length > spec.maxItems ? { error: `at most ${spec.maxItems} items` } : { value: items };
  }
  if (spec.kind === 'boolean') return { value: /** @type {HTMLInputElement} */ (input).checked };
  if (spec.kind === 'enum') return spec.values.includes(input.value) ? { value: input.value } : { error: `choose one of ${spec.values.join(', ')}` };
  if (spec.kind === 'string') {
    return new TextEncoder().encode(input.value).length > spec.maxLength ? { error: `at most ${spec.maxLength} bytes` } : { value: input.value };
  }
  return readNumber(input.value, spec.kind === 'integer', spec.min ?? 0, spec.max ?? Infinity, spec.default);
}

/**
 * @param {string} raw
 * @param {boolean} integer
 * @param {number} min
 * @param {number} max
 * @param {number | null} fallback used when the field is empty (null: empty is not allowed)
 * @returns {{value: number} | {error: string}}
 */
function readNumber(raw, integer, min, max, fallback) {
  if (raw.trim() === '') return fallback === null ? { error: 'a value is required' } : { value: fallback };
  const n = Number(raw);
  if (!Number.isFinite(n)) return { error: 'must be a number' };
  if (integer && !Number.isInteger(n)) return { error: 'must be a whole number' };
  if (n < min) return { error: `must be at least ${min}` };
  if (n > max) return { error: `must be at most ${max}` };
  return { value: n };
}

/** @param {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} input @param {HTMLElement | null} box @param {string} message */
function mark(input, box, message) {
  input.setAttribute('aria-invalid', String(message !== ''));
  if (box !== null) {
    box.textContent = message;
    box.hidden = message === '';
  }
}

async function submit() {
  const form = byId('toxic-form', HTMLFormElement);
  /** @type {Record<string, number | string | boolean | string[]>} */
  const attributes = {};
  /** @type {Array<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>} */
  const invalid = [];
  for (const f of current.attrs) {
    const result = readAttribute(f);
    mark(f.input, f.error, 'error' in result ? result.error : '');
    if ('error' in result) invalid.push(f.input);
    else attributes[f.name] = result.value;
  }
  const toxicityInput = byId('toxic-toxicity', HTMLInputElement);
  const toxicity = readNumber(toxicityInput.value, false, 0, 1, 1);
  mark(toxicityInput, null, 'error' in toxicity ? toxicity.error : '');
  if ('error' in toxicity) invalid.unshift(toxicityInput);
  const ttlInput = byId('toxic-ttl', HTMLInputElement);
  const ttl = ttlInput.value.trim() === '' ? null : readNumber(ttlInput.value, true, 0, 2_147_483_647, null);
  mark(ttlInput, null, ttl !== null && 'error' in ttl ? ttl.error : '');
  if (ttl !== null && 'error' in ttl) invalid.unshift(ttlInput);
  if (invalid.length > 0) {
    showFormError(form, new Error('some fields are not valid: see the messages next to them'));
    invalid[0]?.focus();
    return;
  }
  showFormError(form, null);
  /** @type {Record<string, unknown>} */
  const body = { attributes, toxicity: 'value' in toxicity ? toxicity.value : 1 };
  if (ttl !== null && 'value' in ttl) body.ttl = ttl.value;
  const submitButton = form.querySelector('button[type=submit]');
  if (submitButton instanceof HTMLButtonElement) submitButton.disabled = true;
  try {
    const proxy = current.proxy;
    let saved;
    if (current.toxic === null) {
      body.type = byId('toxic-type', HTMLSelectElement).value;
      body.stream = byId('toxic-stream', HTMLSelectElement).value;
      const name = byId('toxic-name', HTMLInputElement).value.trim();
      if (name !== '') body.name = name;
      // A ttl of 0 on create would mean "none" anyway; leaving it out keeps old servers happy.
      if (body.ttl === 0) delete body.ttl;
      saved = await post(`/proxies/${seg(proxy)}/toxics`, body);
      applyChange({ kind: 'toxic:added', proxy, toxic: saved?.name, body: saved });
    } else {
      saved = await post(`/proxies/${seg(proxy)}/toxics/${seg(current.toxic.name)}`, body);
      applyChange({ kind: 'toxic:updated', proxy, toxic: current.toxic.name, body: saved });
    }
    byId('toxic-dialog', HTMLDialogElement).close('ok');
  } catch (err) {
    showFormError(form, err);
  } finally {
    if (submitButton instanceof HTMLButtonElement) submitButton.disabled = false;
  }
}
