// Tables that keep one JSON record per row (scenario_runs, sessions): `record` holds the whole
// record as the API serves it, and the other columns are copies of a few of its fields, there
// only to list by. The upsert is built from one column table so its INSERT and UPDATE lists
// cannot drift apart. memoryRecords() is the same keeping without a database (db: false).

import type { Queryable } from './db.js';

/** Every such record has an id and a start time, which lists sort by. */
export interface JsonRecord {
  id: string;
  started_at: number;
  [key: string]: unknown;
}

export interface JsonRecordRepo<R extends JsonRecord> {
  /** Inserts the record, or replaces the stored copy of it (keeping its place in the order). */
  save(db: Queryable, record: R): Promise<void>;
  get(db: Queryable, id: string): Promise<R | null>;
  /** The `select` expressions of each row, newest first, then last inserted first. */
  list<Row>(db: Queryable, select: string, limit: number): Promise<Row[]>;
  /** True if there was such a record. */
  remove(db: Queryable, id: string): Promise<boolean>;
  /** Saves `end(record)` in place of every record whose status column is `status`; returns their ids. */
  endAll(db: Queryable, status: string, end: (record: R) => R): Promise<string[]>;
}

/** `columns`: each column besides `id` and `record`, with what it holds of a record. */
export function jsonRecordRepo<R extends JsonRecord>(
  table: string, columns: Readonly<Record<string, (record: R) => unknown>>,
): JsonRecordRepo<R> {
  const names = [...Object.keys(columns), 'record'];
  const upsert = `INSERT INTO ${table} (id, ${names.join(', ')}) VALUES (?${', ?'.repeat(names.length)})
     ON CONFLICT (id) DO UPDATE SET ${names.map((c) => `${c} = excluded.${c}`).join(', ')}`;
  const getters = Object.values(columns);
  const save = async (db: Queryable, record: R): Promise<void> => {
    await db.run(upsert, [record.id, ...getters.map((get) => get(record)), JSON.stringify(record)]);
  };
  return {
    save,
    async get(db, id) {
      const row = await db.get<{ record: string }>(`SELECT record FROM ${table} WHERE id = ?`, [id]);
      return row === undefined ? null : (JSON.parse(row.record) as R);
    },
    list: async <Row>(db: Queryable, select: string, limit: number) =>
      db.all<Row>(`SELECT ${select} FROM ${table} ORDER BY started_at DESC, rowid DESC LIMIT ?`, [limit]),
    async remove(db, id) {
      return (await db.run(`DELETE FROM ${table} WHERE id = ?`, [id])).changes > 0;
    },
    async endAll(db, status, end) {
      const rows = await db.all<{ record: string }>(`SELECT record FROM ${table} WHERE status = ?`, [status]);
      const ids: string[] = [];
      for (const row of rows) {
        const record = JSON.parse(row.record) as R;
        await save(db, end(record));
        ids.push(record.id);
      }
      return ids;
    },
  };
}

/**
 * The same keeping in a Map: records are stored and handed out as copies, and listed, through
 * `listing`, in the order the tables list in. Nothing in memory outlives a crash, so there is
 * never anything to end on start.
 */
export function memoryRecords<R extends JsonRecord, L>(listing: (record: R) => L) {
  const records = new Map<string, R>();
  return {
    async save(record: R): Promise<void> { records.set(record.id, structuredClone(record)); },
    async get(id: string): Promise<R | null> { const r = records.get(id); return r === undefined ? null : structuredClone(r); },
    async list(): Promise<L[]> {
      return [...records.values()].reverse().sort((a, b) => b.started_at - a.started_at).map(listing);
    },
    async remove(id: string): Promise<boolean> { return records.delete(id); },
    async endInterrupted(): Promise<string[]> { return []; },
  };
}
