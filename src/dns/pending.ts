// Queries sent to an upstream and not yet answered, by the id the proxy gave them there. Clients
// choose their ids independently (two may both send id 7), so each forwarded query gets an id
// free on that upstream socket or connection, and the answer gets the client's id back. Every
// entry has the same timeout, so the Map's insertion order is also the order of deadlines and
// the sweep stops at the first entry still in time.

/** How long the upstream has to answer before the client gets SERVFAIL. */
export const UPSTREAM_TIMEOUT_MS = 5_000;

export interface PendingEntry {
  /** When the upstream has given up on (performance.now() ms). */
  deadline: number;
  /** Called once: with the answer (its id is the upstream's), or null on timeout or teardown. */
  done(answer: Buffer | null, reason: string): void;
}

export class PendingTable {
  private readonly byId = new Map<number, PendingEntry>();
  // Where the search for a free id starts; it walks on, so ids are not reused at once.
  private cursor: number;

  readonly capacity: number;

  /** At most 61,440 (ids are 16 bits, and a nearly full table would make the search long).
   *  `firstId` comes from the proxy's seeded source, as all its randomness does. */
  constructor(capacity: number, firstId: number) {
    this.capacity = Math.min(capacity, 0xf000);
    this.cursor = firstId & 0xffff;
  }

  get size(): number {
    return this.byId.size;
  }

  /** The id the query goes out with, or null when the table is full. */
  add(entry: PendingEntry): number | null {
    if (this.byId.size >= this.capacity) return null;
    let id = this.cursor;
    while (this.byId.has(id)) id = (id + 1) & 0xffff;
    this.cursor = (id + 1) & 0xffff;
    this.byId.set(id, entry);
    return id;
  }

  /** The entry answered by `id`, taken out; undefined for an answer nobody waits for (late,
   *  after its timeout, or not asked). */
  take(id: number): PendingEntry | undefined {
    const entry = this.byId.get(id);
    if (entry !== undefined) this.byId.delete(id);
    return entry;
  }

  /** Ends the entries whose deadline has passed. */
  expire(now: number): void {
    for (const [id, entry] of this.byId) {
      if (entry.deadline > now) break;
      this.byId.delete(id);
      entry.done(null, 'timeout');
    }
  }

  /** Ends every entry: the socket or connection is gone. */
  clear(reason: string): void {
    const entries = [...this.byId.values()];
    this.byId.clear();
    for (const entry of entries) entry.done(null, reason);
  }
}
