// What each server was seen doing during a run, for the record's windows and event counts
// (record.ts): the toxics added, removed and expired on the scenario's proxies, and the faults
// they injected (a `fault:folded` summary stands for `count` faults the rate limit folded away).
// - On the server that runs the scenario itself, a bus listener sees it all as it happens.
// - Any other server is read after the run over its REST API (GET /events for the run's time
//   window). Its event log is written in batches, so the read waits a little first, and again
//   while a toxic the rollback removed has no removal logged yet. A server without an event
//   log, or that cannot be read, is left to the steps (record.ts).
// The rate limit reports what it folded once a second, so when a run ends close to that limit
// its last summary can land up to a second after the end: then the read waits for it.
// Event times are each server's clock: servers on other hosts should keep theirs in sync.

import type { EventBus } from '../events/bus.js';
import { FAULT_EVENTS_PER_SECOND } from '../events/fault-limiter.js';
import type { EventJson, ScenarioApi } from './api-client.js';
import type { Observation, Seen } from './record.js';

export interface ObserveTarget {
  /** The scenario's name for the server. */
  server: string;
  api: ScenarioApi;
  /** The scenario's proxies on that server. */
  proxies: readonly string[];
}

export interface ObserveOptions {
  /** Wait before the first read, for the event log's batches. Default 150 ms. */
  settleMs?: number;
  /** Events read per server at most; beyond it the counts are marked truncated. Default 100,000. */
  maxEvents?: number;
  /** Whether every toxic the run added should have been removed by its end (the rollback
   *  succeeded); a missing removal then means the log is behind. Default true. */
  healed?: boolean;
  /** Epoch-ms clock. Default Date.now. */
  now?: () => number;
}

const FAULT_KINDS = ['fault:injected', 'fault:folded'] as const;
const TOXIC_KINDS = ['toxic:added', 'toxic:removed', 'toxic:expired'] as const;
const PAGE = 10_000;
const LAGGING_RETRIES = 3;
const LAGGING_WAIT_MS = 250;
/** The bus reports folded faults every second; the log writes a batch 50 ms later. */
const FOLD_TAIL_MS = 1_250;
const READ_TIMEOUT_MS = 10_000;
const PARALLEL_READS = 4;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** A fault event's rate-limit key, as the bus folds them. */
const keyOf = (e: { proxy?: string; toxic?: string; action?: string }) => `${e.proxy}\0${e.toxic}\0${e.action}`;

/**
 * Whether a rate-limit summary may still be due after `end`: some (proxy, toxic, action) ran
 * near the limit in the run's last seconds (to fold, it must have streamed about a second's
 * worth of events just before).
 */
export function foldMayFollow(injected: ReadonlyArray<{ ts: number; key: string }>, end: number): boolean {
  const recent = new Map<string, number>();
  for (const e of injected) if (e.ts >= end - 2_000) recent.set(e.key, (recent.get(e.key) ?? 0) + 1);
  return [...recent.values()].some((n) => n >= FAULT_EVENTS_PER_SECOND * 0.8);
}

/** Watches this process's own bus; `stop()` ends it (after waiting out a fold tail if due). */
export function watchBus(bus: EventBus, proxies: ReadonlySet<string>): { seen: Seen; stop(end: number, signal?: AbortSignal): Promise<void> } {
  const seen: Seen = { faults: [], toxics: [] };
  const injected: Array<{ ts: number; key: string }> = [];
  const stops = [
    bus.on('fault:injected', (e) => {
      if (!proxies.has(e.proxy)) return;
      seen.faults.push({ ts: e.ts, proxy: e.proxy, action: e.action, count: 1 });
      injected.push({ ts: e.ts, key: keyOf(e) });
    }),
    bus.on('fault:folded', (e) => { if (proxies.has(e.proxy)) seen.faults.push({ ts: e.ts, proxy: e.proxy, action: e.action, count: e.count }); }),
    bus.on('state:changed', (e) => {
      if (!('toxic' in e) || !proxies.has(e.proxy) || e.kind === 'toxic:updated') return;
      const body = 'body' in e ? e.body : {};
      seen.toxics.push({
        ts: e.ts, added: e.kind === 'toxic:added', proxy: e.proxy, toxic: e.toxic,
        type: String(body.type ?? ''), stream: String(body.stream ?? '').toLowerCase(),
      });
    }),
  ];
  return {
    seen,
    async stop(end, signal) {
      if (foldMayFollow(injected, end) && signal?.aborted !== true) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, end + FOLD_TAIL_MS - Date.now());
          function done() { clearTimeout(timer); signal?.removeEventListener('abort', done); resolve(); }
          signal?.addEventListener('abort', done, { once: true });
        });
      }
      for (const stop of stops) stop();
    },
  };
}

/** Reads what each target saw between `since` and `until` (epoch ms, the run's start and end). */
export async function observeServers(
  targets: readonly ObserveTarget[], since: number, until: number, options: ObserveOptions = {},
): Promise<Map<string, Observation>> {
  const now = options.now ?? Date.now;
  const max = options.maxEvents ?? 100_000;
  await sleep(options.settleMs ?? 150);
  const read = (t: ObserveTarget, foldedUntil: number) => readServer(t, since, until + 1, foldedUntil, max);
  const results = await Promise.all(targets.map((t) => read(t, Math.max(until + 1, now()))));
  const lagging = (i: number) => {
    const r = results[i]!;
    return 'seen' in r && options.healed !== false && r.seen.toxics.some((t) => t.added &&
      !r.seen.toxics.some((u) => !u.added && u.proxy === t.proxy && u.toxic === t.toxic && u.ts >= t.ts));
  };
  for (let retry = 0; retry < LAGGING_RETRIES && targets.some((_, i) => lagging(i)); retry++) {
    await sleep(LAGGING_WAIT_MS);
    await Promise.all(targets.map(async (t, i) => { if (lagging(i)) results[i] = await read(t, Math.max(until + 1, now())); }));
  }
  const tail = (i: number) => { const r = results[i]!; return 'seen' in r && foldMayFollow(r.injected, until); };
  if (targets.some((_, i) => tail(i))) {
    await sleep(until + FOLD_TAIL_MS - now());
    await Promise.all(targets.map(async (t, i) => { if (tail(i)) results[i] = await read(t, now()); }));
  }
  const out = new Map<string, Observation>();
  targets.forEach((t, i) => {
    const r = results[i]!;
    const events_url = `${t.api.baseUrl}/events?since=${since}&until=${until + 1}`;
    out.set(t.server, 'seen' in r
      ? { seen: r.seen, observed: { source: 'events', events_url, events: r.events, ...(r.truncated ? { truncated: true } : {}) } }
      : { seen: null, observed: { source: 'steps', note: `events not read (${r.error}): windows from the steps, no event counts` } });
  });
  return out;
}

type Read = { seen: Seen; injected: Array<{ ts: number; key: string }>; events: number; truncated: boolean } | { error: string };

async function readServer(t: ObserveTarget, since: number, until: number, foldedUntil: number, max: number): Promise<Read> {
  const seen: Seen = { faults: [], toxics: [] };
  const injected: Array<{ ts: number; key: string }> = [];
  let left = max;
  let truncated = false;
  const queries = t.proxies.flatMap((proxy) => [...FAULT_KINDS, ...TOXIC_KINDS].map((kind) => ({ proxy, kind })));
  const take = (e: EventJson) => {
    const proxy = e.proxy ?? '';
    if (e.kind === 'fault:injected' || e.kind === 'fault:folded') {
      const count = e.kind === 'fault:folded' ? Number(e.detail?.count ?? 0) : 1;
      if (Number.isFinite(count) && count > 0) seen.faults.push({ ts: e.ts, proxy, action: e.action ?? '', count });
      if (e.kind === 'fault:injected') injected.push({ ts: e.ts, key: keyOf(e) });
    } else {
      seen.toxics.push({
        ts: e.ts, added: e.kind === 'toxic:added', proxy, toxic: e.toxic ?? '',
        type: e.type ?? String(e.detail?.type ?? ''), stream: e.stream ?? String(e.detail?.stream ?? '').toLowerCase(),
      });
    }
  };
  try {
    await pool(queries, PARALLEL_READS, async ({ proxy, kind }) => {
      let cursor: string | null = null;
      do {
        if (left <= 0) { truncated = true; return; }
        const query: Record<string, string | number> = {
          kind, proxy, since, until: kind === 'fault:folded' ? foldedUntil : until, limit: Math.min(PAGE, left),
          ...(cursor !== null ? { cursor } : {}),
        };
        const page = await t.api.events(query, READ_TIMEOUT_MS);
        left -= page.events.length;
        for (const e of page.events) take(e);
        cursor = page.next;
      } while (cursor !== null);
    });
  } catch (err) {
    return { error: (err as Error).message };
  }
  return { seen, injected, events: max - left, truncated };
}

/** Runs `work` over `items`, `limit` at a time; the first failure rejects and starts no more. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    try {
      while (next < items.length) await work(items[next++]!);
    } catch (err) {
      next = items.length;
      throw err;
    }
  });
  await Promise.all(lanes);
}
