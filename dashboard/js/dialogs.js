// @ts-check
// Modal dialogs, the confirmation prompt and the message area. Dialogs are native <dialog>s
// opened with showModal (focus trapped, Escape closes); focus goes back to whatever opened
// them, so keyboard users land where they were.

import { byId, h, replace } from './dom.js';
import { ApiError } from './api.js';

/** @type {WeakMap<HTMLDialogElement, { opener: Element | null, id: string | undefined, refocus: (() => void) | undefined }>} */
const openers = new WeakMap();

/**
 * @param {HTMLDialogElement} dialog
 * @param {HTMLElement} [focus] the control to focus first (the dialog's first field by default)
 * @param {() => void} [refocus] where focus goes back if the opener was redrawn meanwhile (a
 *   row of a live list is replaced as events arrive while the dialog is open)
 */
export function openDialog(dialog, focus, refocus) {
  const opener = document.activeElement;
  openers.set(dialog, { opener, id: opener instanceof HTMLElement ? opener.dataset.id : undefined, refocus });
  if (!dialog.dataset.wired) {
    dialog.dataset.wired = '1';
    dialog.addEventListener('close', () => {
      const { opener, id, refocus: back } = openers.get(dialog) ?? { opener: null, id: undefined, refocus: undefined };
      openers.delete(dialog);
      // A live list may have reused the opener's row for another entry meanwhile.
      const same = opener instanceof HTMLElement && opener.isConnected && opener.dataset.id === id;
      if (same) opener.focus();
      else if (back !== undefined) back();
      else if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
    });
    for (const button of dialog.querySelectorAll('[data-close]')) {
      button.addEventListener('click', () => dialog.close('cancel'));
    }
  }
  if (!dialog.open) dialog.showModal();
  const target = focus ?? dialog.querySelector('input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea, button:not([data-close])');
  if (target instanceof HTMLElement) target.focus();
}

/**
 * Asks before something that cannot be undone. Resolves true only on the confirm button.
 * @param {string} message
 * @param {string} [confirmLabel]
 * @returns {Promise<boolean>}
 */
export function confirmAction(message, confirmLabel = 'Confirm') {
  const dialog = byId('confirm-dialog', HTMLDialogElement);
  byId('confirm-message').textContent = message;
  const ok = byId('confirm-ok', HTMLButtonElement);
  ok.textContent = confirmLabel;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    // Cancel is focused first: Enter on a destructive prompt should not destroy.
    openDialog(dialog, byId('confirm-cancel'));
  });
}

/** @param {unknown} err */
export function errorMessage(err) {
  if (err instanceof ApiError) return err.status > 0 ? `${err.message} (HTTP ${err.status})` : err.message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Shows a message in the page's message area; errors stay until dismissed, the rest fade.
 * @param {string} text
 * @param {'info' | 'error'} [kind]
 */
export function notify(text, kind = 'info') {
  const area = byId('messages');
  const item = h('div', { class: `message message-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('span', { text }),
    h('button', { type: 'button', class: 'link', 'aria-label': 'Dismiss message', onclick: () => item.remove() }, '×'));
  area.prepend(item);
  while (area.children.length > 5) area.lastElementChild?.remove();
  if (kind === 'info') setTimeout(() => item.remove(), 4000);
}

/** Reports a failed action to the user. */
export function reportError(/** @type {string} */ what, /** @type {unknown} */ err) {
  notify(`${what}: ${errorMessage(err)}`, 'error');
}

/**
 * Shows a server or validation error inside a form (its `.form-error` element).
 * @param {HTMLFormElement} form
 * @param {unknown} err null clears it
 */
export function showFormError(form, err) {
  const box = form.querySelector('.form-error');
  if (!(box instanceof HTMLElement)) return;
  if (err === null) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const issues = err instanceof ApiError ? err.issues : [];
  replace(box, h('p', { text: errorMessage(err) }),
    issues.length > 0 ? h('ul', {}, issues.map((i) => h('li', { text: i }))) : null);
  box.hidden = false;
}

/**
 * Runs an action from a button, disabling it meanwhile and reporting a failure.
 * @param {HTMLButtonElement | null} button
 * @param {string} what
 * @param {() => Promise<unknown>} action
 */
export async function busy(button, what, action) {
  if (button !== null) button.disabled = true;
  try {
    await action();
  } catch (err) {
    reportError(what, err);
  } finally {
    if (button !== null) button.disabled = false;
  }
}
