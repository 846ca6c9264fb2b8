// @ts-check
// A scrolling list that keeps in the DOM only the rows in view (plus a few either side), so
// thousands of entries cost as little as twenty. Rows have one fixed height, measured from the
// stylesheet; each is placed with a transform over a spacer as tall as the whole list. New
// entries go on top; while the user has scrolled away from the top, or has focus in the list,
// the view stays on what they are reading instead of sliding down with every event.

/**
 * @template {{id: string}} T
 */
export class VirtualList {
  /**
   * @param {HTMLElement} scroller the scrolling element (fixed height, overflow auto)
   * @param {(item: T) => HTMLElement} createRow builds the element for one item
   * @param {T} sample an item to build a row from when measuring the row height
   */
  constructor(scroller, createRow, sample) {
    this.scroller = scroller;
    this.createRow = createRow;
    this.sample = sample;
    /** Newest first. @type {T[]} */
    this.items = [];
    /** @type {Map<string, HTMLElement>} */
    this.rows = new Map();
    this.spacer = document.createElement('div');
    this.spacer.className = 'vlist-spacer';
    this.spacer.setAttribute('aria-hidden', 'true');
    scroller.replaceChildren(this.spacer);
    this.rowHeight = 0;
    this.shift = 0;
    this.frame = 0;
    scroller.addEventListener('scroll', () => this.schedule(), { passive: true });
    new ResizeObserver(() => { this.rowHeight = 0; this.schedule(); }).observe(scroller);
  }

  /** Replaces every item (a filter changed, or the log resumed). */
  setItems(/** @type {T[]} */ items) {
    this.items = items;
    this.shift = 0;
    this.scroller.scrollTop = 0;
    this.schedule();
  }

  /**
   * Adds items on top, newest first, keeping at most `max`.
   * @param {T[]} batch
   * @param {number} max
   */
  prepend(batch, max) {
    if (batch.length === 0) return;
    this.items = batch.concat(this.items);
    if (this.items.length > max) this.items.length = max;
    this.shift += batch.length;
    this.schedule();
  }

  schedule() {
    if (this.frame === 0) this.frame = requestAnimationFrame(() => this.render());
  }

  /** Index of the item whose row holds `el`, or -1. */
  indexOf(/** @type {Element} */ el) {
    const id = /** @type {HTMLElement} */ (el).dataset.id;
    return id === undefined ? -1 : this.items.findIndex((item) => item.id === id);
  }

  /** Scrolls item `index` into view and focuses its row. */
  focusIndex(/** @type {number} */ index) {
    // The scroll is chosen afresh for the items as they are now: rows added since the last
    // frame must not move it again, or the row to focus may not be drawn at all.
    this.shift = 0;
    const i = Math.max(0, Math.min(index, this.items.length - 1));
    const h = this.measure();
    const top = i * h;
    if (top < this.scroller.scrollTop) this.scroller.scrollTop = top;
    else if (top + h > this.scroller.scrollTop + this.scroller.clientHeight) this.scroller.scrollTop = top + h - this.scroller.clientHeight;
    this.render();
    const item = this.items[i];
    const row = item === undefined ? undefined : this.rows.get(item.id);
    row?.focus();
  }

  measure() {
    if (this.rowHeight > 0) return this.rowHeight;
    const probe = this.createRow(this.sample);
    probe.style.visibility = 'hidden';
    this.scroller.appendChild(probe);
    this.rowHeight = probe.getBoundingClientRect().height || 24;
    probe.remove();
    return this.rowHeight;
  }

  render() {
    if (this.frame !== 0) cancelAnimationFrame(this.frame);
    this.frame = 0;
    const h = this.measure();
    const n = this.items.length;
    this.spacer.style.height = `${n * h}px`;
    const holdsFocus = this.scroller.contains(document.activeElement);
    if (this.shift > 0 && (this.scroller.scrollTop > 0 || holdsFocus)) this.scroller.scrollTop += this.shift * h;
    this.shift = 0;
    const overscan = 8;
    const first = Math.max(0, Math.floor(this.scroller.scrollTop / h) - overscan);
    const last = Math.min(n, Math.ceil((this.scroller.scrollTop + this.scroller.clientHeight) / h) + overscan);
    const keep = new Set();
    for (let i = first; i < last; i++) {
      const item = /** @type {T} */ (this.items[i]);
      keep.add(item.id);
      let row = this.rows.get(item.id);
      if (row === undefined) {
        row = this.createRow(item);
        this.rows.set(item.id, row);
        this.scroller.appendChild(row);
      }
      row.style.transform = `translateY(${i * h}px)`;
      row.setAttribute('aria-posinset', String(i + 1));
      row.setAttribute('aria-setsize', String(n));
    }
    for (const [id, row] of this.rows) {
      // A focused row stays even out of view, so keyboard focus is never dropped by a redraw.
      if (keep.has(id) || (row === document.activeElement && this.items.some((item) => item.id === id))) continue;
      row.remove();
      this.rows.delete(id);
    }
    if (this.scroller.querySelector('[tabindex="0"]') === null) {
      const firstRow = this.items[first] === undefined ? undefined : this.rows.get(/** @type {T} */ (this.items[first]).id);
      firstRow?.setAttribute('tabindex', '0');
    }
  }
}
