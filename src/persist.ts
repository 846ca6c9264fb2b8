// Joins the server to the SQLite store: every logged bus event goes to the batching event
// writer, every state change is written to the state tables through the collection's journal
// before it takes effect, and the API's event log reads back through here. Part of the
// composition root: only server.ts imports it.

import type { EventLog } from './api/routes.js';
import type { Collection } from './core/collection.js';
import type { Journal } from './core/reporter.js';
import { FaultlineError } from './errors.js';
import type { EventBus } from './events/bus.js';
import type { Db } from './store/db.js';
import { parseEventFilter, queryEvents, streamEvents, type EventFilter } from './store/event-query.js';
import { EventWriter, toStoredEvent, type LoggedBusEvent } from './store/event-writer.js';
import { openStore } from './store/migrations.js';
import { applyChange, loadState, restoredProxies } from './store/state-repo.js';
import { endInterruptedRuns, getRun, listRuns, saveRun, type RunStore } from './store/run-repo.js';
import {
  endInterruptedSessions, getSession, listSessions, removeSession, saveSession, type SessionStore,
} from './store/session-repo.js';

const LOGGED: readonly LoggedBusEvent[] = ['fault:injected', 'fault:folded', 'conn:opened', 'conn:closed', 'state:changed'];

export interface Persistence {
  /** Writes proxy and toxic changes before they take effect (the collection's journal). */
  readonly journal: Journal;
  readonly eventLog: EventLog;
  readonly runs: RunStore;
  readonly sessions: SessionStore;
  /** Brings back the stored proxies and toxics; returns warnings for what could not be. */
  restore(): Promise<string[]>;
  stats(): { failures: number; dropped: number };
  close(): Promise<void>;
}

export async function openPersistence(
  path: string,
  deps: { bus: EventBus; collection: Collection; retain?: number; log: (line: string) => void },
): Promise<Persistence> {
  const { bus, collection, log } = deps;
  const db = await openStore(path);
  const writer = new EventWriter(db, {
    ...(deps.retain !== undefined ? { retain: deps.retain } : {}),
    onError: (err) => log(`error: cannot write the event log (${err.message}); proxies keep running, events wait in memory`),
    onRecover: () => log('event log writes resumed'),
  });
  const stopLogging = LOGGED.map((kind) => bus.on(kind, (payload) => writer.add(toStoredEvent(kind, payload as never))));

  return {
    // One transaction per change, so a change of several rows (populate's replace, reset) is
    // on disk whole or not at all. WAL with synchronous=NORMAL survives a process kill.
    journal: (changes) => db.transaction(async (tx) => {
      for (const change of changes) await applyChange(tx, change);
    }),
    eventLog: {
      check(params) {
        filterFrom(params);
      },
      async query(params) {
        return queryEvents(db, filterFrom(params));
      },
      async export(params, write) {
        for await (const batch of streamEvents(db, filterFrom(params))) await write(batch);
      },
    },
    runs: {
      save: (run) => saveRun(db, run),
      get: (id) => getRun(db, id),
      list: () => listRuns(db),
      endInterrupted: (now, reason) => endInterruptedRuns(db, now, reason),
    },
    sessions: {
      save: (session) => saveSession(db, session),
      get: (id) => getSession(db, id),
      list: () => listSessions(db),
      remove: (id) => removeSession(db, id),
      endInterrupted: (now, reason) => endInterruptedSessions(db, now, reason),
    },
    async restore() {
      return collection.restore(restoredProxies(await loadState(db)));
    },
    stats() {
      const s = writer.stats();
      return { failures: s.failures, dropped: s.dropped };
    },
    async close() {
      for (const stop of stopLogging) stop();
      await writer.close();
      await closeQuietly(db);
    },
  };
}

/** GET /events' answer formats: `json` (the default) pages, `ndjson` streams every match. */
const EVENT_FORMATS = ['json', 'ndjson'] as const;

/** GET /events' query as a store filter; a bad one is the client's error, a 400. */
function filterFrom(params: URLSearchParams): EventFilter {
  try {
    // The store's parser knows `format` only as a name (so a repeated one is refused there); its
    // value is the API's business, checked here so a typo is a 400, not a silent JSON page.
    const filter = parseEventFilter(params);
    const format = params.get('format');
    if (format !== null && !(EVENT_FORMATS as readonly string[]).includes(format)) {
      throw new Error(`format must be ${EVENT_FORMATS.join(' or ')}, got '${format}'`);
    }
    return filter;
  } catch (err) {
    throw new FaultlineError('ERR_BAD_QUERY', `bad query: ${(err as Error).message}`);
  }
}

async function closeQuietly(db: Db): Promise<void> {
  await db.close().catch(() => {});
}
