// Writes the event log off the data path. add() only appends to a bounded in-memory ring, so
// the proxy never waits for the disk; a timer writes what is pending in batches, each batch
// one transaction (a commit per event would cap us at a few hundred events a second).
// When the disk refuses (full, read-only, locked), events stay pending up to the bound, the
// oldest beyond it are dropped and counted, and the writer retries with a backoff until the
// disk takes them again. The caller hears about a failure once per streak, not per retry.

import type { Db, SqliteError } from './db.js';
import { Ring } from './ring.js';
import { EVENT_COLUMNS, eventValues, type StoredEvent } from './stored-event.js';

export { toStoredEvent, type StoredEvent, type LoggedBusEvent } from './stored-event.js';

export interface EventWriterOptions {
  /** How long an event may wait before its batch is written (ms). Bounds what a kill -9 loses. */
  flushMs?: number;
  /** Events per transaction; a batch this big is written without waiting for the timer. */
  batchSize?: number;
  /** Events kept in memory while the disk can't take them; beyond it the oldest are dropped. */
  maxPending?: number;
  /** Events kept on disk; older ones are pruned after each batch. */
  retain?: number;
  /** First retry delay after a failed write (ms); doubles up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
  /** Called once when writes start failing (not again until one has succeeded). */
  onError?: (err: SqliteError) => void;
  /** Called when a write succeeds after a failure streak. */
  onRecover?: () => void;
}

export interface EventWriterStats {
  /** Events committed to disk. */
  written: number;
  /** Events waiting in memory. */
  pending: number;
  /** Events lost: pushed out of the full buffer, or added after close(). */
  dropped: number;
  /** Failed write attempts (each retry counts). */
  failures: number;
  /** The last write error's message, or null if the last write succeeded. */
  lastError: string | null;
}

/** SQLite allows 32766 bound values per statement; 12 columns x 500 rows stays well inside. */
const ROWS_PER_INSERT = 500;
const COLUMN_LIST = EVENT_COLUMNS.join(', ');
const ROW_PARAMS = `(${EVENT_COLUMNS.map(() => '?').join(', ')})`;

export class EventWriter {
  private readonly flushMs: number;
  private readonly batchSize: number;
  private readonly retain: number;
  private readonly retryMs: number;
  private readonly maxRetryMs: number;
  private readonly pending: Ring<StoredEvent>;
  /** How many of the oldest pending events the current transaction is writing. */
  private inFlight = 0;
  /** In-flight events pushed out of the ring meanwhile: lost only if that write fails. */
  private evictedInFlight = 0;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  /** The next retry delay; 0 when not in a failure streak. */
  private retryDelay = 0;
  private closed = false;
  /** flush() calls waiting: while any is, the writer writes back to back until nothing is left. */
  private urgent = 0;
  private written = 0;
  private dropped = 0;
  private failures = 0;
  private lastError: SqliteError | null = null;

  constructor(private readonly db: Db, private readonly options: EventWriterOptions = {}) {
    this.flushMs = positive('flushMs', options.flushMs ?? 50);
    this.batchSize = positive('batchSize', options.batchSize ?? 1000);
    this.retain = positive('retain', options.retain ?? 1_000_000);
    this.retryMs = positive('retryMs', options.retryMs ?? 100);
    this.maxRetryMs = positive('maxRetryMs', options.maxRetryMs ?? 5000);
    this.pending = new Ring(positive('maxPending', options.maxPending ?? 100_000));
  }

  /** Queues one event. Synchronous and O(1): it never touches the disk. */
  add(event: StoredEvent): void {
    if (this.closed) {
      this.dropped++;
      return;
    }
    if (this.pending.push(event)) this.evictOldest();
    if (this.writing !== null || this.retryDelay > 0) return; // the running write or the retry picks it up
    if (this.pending.length >= this.batchSize) this.schedule(0);
    else if (this.timer === null) this.schedule(this.flushMs);
  }

  /** Writes everything pending now. Rejects with the write error if the disk refused it (the
   *  events then stay pending and the writer keeps retrying). */
  async flush(): Promise<void> {
    this.clearTimer();
    this.urgent++;
    try {
      await this.drainAll();
    } finally {
      this.urgent--;
    }
    if (this.pending.length > 0 && this.lastError !== null) throw this.lastError;
  }

  /** Writes what it can and stops. Never rejects: a failure has been reported via onError and
   *  stats(). Events added afterwards are dropped. */
  async close(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    await this.drainAll().catch(() => {});
    this.clearTimer();
  }

  stats(): EventWriterStats {
    return {
      written: this.written, pending: this.pending.length, dropped: this.dropped,
      failures: this.failures, lastError: this.lastError?.message ?? null,
    };
  }

  private evictOldest(): void {
    if (this.inFlight > 0) {
      this.inFlight--;
      this.evictedInFlight++;
    } else {
      this.dropped++;
    }
  }

  private schedule(ms: number): void {
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.drain();
    }, ms);
    // A pending flush must not keep the process alive; close() is what flushes at exit.
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Writes batches until nothing is pending or a write fails; one drain at a time. */
  private drain(): Promise<void> {
    this.writing ??= this.writeAll().finally(() => {
      this.writing = null;
      // An add() between the loop's last check and this callback found a write running and
      // left its event to it; give that event a timer of its own.
      if (this.pending.length > 0 && this.timer === null && !this.closed) this.schedule(this.flushMs);
    });
    return this.writing;
  }

  /** Drains until nothing is pending or a write fails. A drain that was already running may
   *  have decided to stop before the caller asked; the loop starts another. */
  private async drainAll(): Promise<void> {
    do await this.drain();
    while (this.pending.length > 0 && this.lastError === null);
  }

  /**
   * One transaction, then more only while a full batch is waiting (or a flush or close wants
   * everything): what arrived during a write waits for the next timer. Writing back to back
   * instead costs a transaction for every few events under a steady stream (connections
   * opening and closing at 1,000/s made ~7-row transactions, a third of the process's CPU).
   */
  private async writeAll(): Promise<void> {
    let first = true;
    while (this.pending.length > 0 && (first || this.urgent > 0 || this.closed || this.pending.length >= this.batchSize)) {
      first = false;
      const batch = this.pending.peek(this.batchSize);
      this.inFlight = batch.length;
      this.evictedInFlight = 0;
      try {
        await this.writeBatch(batch);
      } catch (err) {
        this.failed(err as SqliteError);
        return;
      }
      this.written += batch.length;
      this.pending.shift(this.inFlight);
      this.inFlight = 0;
      this.evictedInFlight = 0;
      if (this.lastError !== null) this.recovered();
    }
  }

  private async writeBatch(batch: StoredEvent[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      let lastSeq = 0;
      for (let i = 0; i < batch.length; i += ROWS_PER_INSERT) {
        const rows = batch.slice(i, i + ROWS_PER_INSERT);
        const sql = `INSERT INTO events (${COLUMN_LIST}) VALUES ${new Array(rows.length).fill(ROW_PARAMS).join(', ')}`;
        lastSeq = (await tx.run(sql, rows.flatMap(eventValues))).lastID;
      }
      // seq only grows, so everything `retain` or more behind the newest row is older than what
      // we keep: a range delete on the primary key, not a count over the table.
      if (lastSeq > this.retain) await tx.run('DELETE FROM events WHERE seq <= ?', [lastSeq - this.retain]);
    });
  }

  private failed(err: SqliteError): void {
    this.failures++;
    // Whatever the full ring pushed out of this batch is lost now that it wasn't written.
    this.dropped += this.evictedInFlight;
    this.inFlight = 0;
    this.evictedInFlight = 0;
    const firstOfStreak = this.retryDelay === 0;
    this.lastError = err;
    this.retryDelay = firstOfStreak ? this.retryMs : Math.min(this.retryDelay * 2, this.maxRetryMs);
    if (!this.closed) this.schedule(this.retryDelay);
    if (firstOfStreak) this.options.onError?.(err);
  }

  private recovered(): void {
    this.lastError = null;
    this.retryDelay = 0;
    this.options.onRecover?.();
  }
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`EventWriter ${name} must be a positive integer, got ${value}`);
  return value;
}
