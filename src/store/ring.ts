// A fixed-capacity FIFO for the event writer's pending events. Pushing is O(1) and never
// allocates (the data path calls it); when full, the oldest entry is overwritten, because
// during an outage the newest events are the ones worth keeping.

export class Ring<T> {
  private readonly items: (T | undefined)[];
  private head = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number { return this.size; }

  /** Appends `item`; returns true if the oldest entry was evicted to make room. */
  push(item: T): boolean {
    if (this.size === this.capacity) {
      this.items[this.head] = item;
      this.head = (this.head + 1) % this.capacity;
      return true;
    }
    this.items[(this.head + this.size) % this.capacity] = item;
    this.size++;
    return false;
  }

  /** The oldest `n` entries (fewer if there aren't that many), left in place. */
  peek(n: number): T[] {
    const count = Math.min(n, this.size);
    const out = new Array<T>(count);
    for (let i = 0; i < count; i++) out[i] = this.items[(this.head + i) % this.capacity] as T;
    return out;
  }

  /** Removes the oldest `n` entries, releasing them for garbage collection. */
  shift(n: number): void {
    const count = Math.min(n, this.size);
    for (let i = 0; i < count; i++) this.items[(this.head + i) % this.capacity] = undefined;
    this.head = (this.head + count) % this.capacity;
    this.size -= count;
  }
}
