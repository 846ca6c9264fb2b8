// The event-path part of `npm run bench`: what recording fault events costs the data path.
// The issue's target: "with a latency-0 toxic emitting events on every chunk at full
// throughput, bulk throughput stays at or above 0.9x the same run with event persistence
// disabled".
//
// A latency of 0 emits no event at all (toxics/latency.ts only emits 'delayed' for a positive
// delay), so the closest honest equivalent is a latency toxic of 1 ms on both streams: chunks
// are delayed from their arrival and queue behind each other, so 1 ms doesn't cap a bulk
// transfer, and every chunk emits 'delayed'. Every one of those faults is counted by the bus
// (faultline_faults_total) and passes the per (proxy, toxic, action) rate limit of 50 events/s
// (src/events/fault-limiter.ts): with the default limit only those few become fault:injected
// events stored in SQLite, the rest are folded into fault:folded counts. So the default
// configuration alone would not show what storing an event per chunk costs; the `unlimited`
// scenario does, and both are checked.
//
// One child process (bench/child.ts `events`) hosts two faultline servers side by side, so both
// get the same core: one with persistence off (db: false), one writing a real SQLite file in a
// temp directory. Both get the same proxies and toxics, and the bulk runs alternate between them
// (round-robin), as the rest of the benchmark does. Three scenarios, each in a fresh
// child and database:
//
//   perChunk     one bulk connection through latency 1 ms (both streams), default rate limit:
//                the issue's target as the product ships (some 50-170 events/s stored).
//                A third proxy on the persistence-off server, with latency 0 ms (no events,
//                no sleeping), joins the round-robin as a reference: how far the 1 ms toxic
//                itself (timers and event counting together) is from a zero-cost chain.
//   manyProxies  20 proxies, each with its own latency 1 ms toxics and its own bulk connection,
//                all at once: 20 rate-limit buckets of 50 events/s (each refilled to a burst of
//                50 while idle between runs), so some 1,000-2,500 fault events/s (the Live
//                target's load and more) are admitted, built and stored, instead of about 50-170.
//   unlimited    as perChunk, with the rate limit switched off in the child (not a product
//                configuration): every per-chunk fault becomes an event on both servers, and
//                with persistence on, a row in SQLite. On / off here is the cost of persisting
//                an event for every chunk, the issue's target read literally; it is checked too.
//
// Besides throughput (the targets), each run records the child's CPU time per GB moved
// (process.cpuUsage(), all threads, so SQLite's worker thread counts): on a machine with a spare
// core, persistence can cost CPU without costing throughput, and this shows it.
//
// After the runs, GET /metrics (faults counted, events folded, store drops and failures) and
// GET /events?format=ndjson (every stored row) show that the event path really was exercised.
//
// Run alone with `node dist/bench/events.js [--quick] [--json]`; run.ts includes it.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bulkTransfer, median } from './measure.js';
import { sinkServer } from './servers.js';
import { api, spawnChild } from './targets.js';
import { runIfMain } from './standalone.js';

export type EventsTarget = 'off' | 'on';
export const EVENTS_TARGETS: readonly EventsTarget[] = ['off', 'on'];
/** What the bulk runs alternate over: the two servers, and in perChunk a latency 0 reference. */
type RunTarget = EventsTarget | 'ref';
export type EventsScenario = 'perChunk' | 'manyProxies' | 'unlimited';
export const EVENTS_SCENARIOS: readonly EventsScenario[] = ['perChunk', 'manyProxies', 'unlimited'];

export const EVENTS_LABELS: Record<EventsScenario, string> = {
  perChunk: 'latency 1 ms, 1 connection',
  manyProxies: '20 proxies x latency 1 ms, 20 connections',
  unlimited: 'latency 1 ms, rate limit off: every event stored',
};

/** The toxic on each stream of every proxy: 1 ms, the smallest delay that emits an event. */
const LATENCY_MS = 1;
const MANY = 20;

export interface EventsSettings {
  /** Recorded runs per target, and their length, per scenario. */
  runs: Record<EventsScenario, number>;
  runMs: Record<EventsScenario, number>;
  /** Pause after every run, longer than the writer's 50 ms flush interval, so one server's
   *  deferred work (the batch written after the run) is not charged to the other's next run. */
  pauseMs: number;
  latencyMs: number;
  proxies: Record<EventsScenario, number>;
}

export const eventsSettings = (quick: boolean): EventsSettings => ({
  // unlimited is a checked target too, so it gets as many runs as perChunk.
  runs: quick ? { perChunk: 5, manyProxies: 3, unlimited: 5 } : { perChunk: 9, manyProxies: 3, unlimited: 9 },
  runMs: quick ? { perChunk: 300, manyProxies: 300, unlimited: 300 } : { perChunk: 400, manyProxies: 400, unlimited: 400 },
  pauseMs: 80,
  latencyMs: LATENCY_MS,
  proxies: { perChunk: 1, manyProxies: MANY, unlimited: 1 },
});

/** What one server's event path did over a whole scenario (warm-up included). */
export interface EventCounts {
  /** Faults the bus counted (sum of faultline_faults_total): one per chunk per toxic. */
  counted: number;
  /** Events the rate limit folded away (faultline_fault_events_folded_total). */
  folded: number;
  /** Events the store could not keep, and failed batch writes (the store_ counters). */
  storeDropped: number;
  storeFailures: number;
  /** Rows in the event log by kind (GET /events?format=ndjson); null with persistence off. */
  stored: Record<string, number> | null;
  /** The counts inside the stored fault:folded rows, summed; null with persistence off. */
  storedFoldedCount: number | null;
  /** Seconds of bulk transfer the counts cover (warm-up included), for the per-second rates. */
  transferSeconds: number;
}

/** One target's recorded runs. */
export interface RunSeries {
  /** Median aggregate MB/s, and every run. */
  throughput: number;
  runs: number[];
  /** Median CPU time the child spent per GB moved (all its threads, SQLite's included; each
   *  run's window covers its pause, so a batch written just after the run is charged to it). */
  cpuMsPerGB: number;
  cpuRuns: number[];
}

export interface EventsScenarioResult {
  off: RunSeries;
  on: RunSeries;
  /** perChunk only: the persistence-off server through latency 0 ms, which emits no events and
   *  never sleeps: how far the 1 ms toxic itself (timers and event counting) is from a free chain. */
  reference?: RunSeries;
  /** on / off, the median of each round's pair (adjacent in time, so the load drifting over a
   *  scenario cancels out, as it does not between whole-series medians): throughput (the
   *  target) and CPU per GB (above 1 costs more). */
  ratio: number;
  cpuRatio: number;
  counts: Record<EventsTarget, EventCounts>;
}

export interface EventsResults {
  settings: EventsSettings;
  scenarios: Record<EventsScenario, EventsScenarioResult>;
}

/** Sums the samples of one metric in Prometheus text, over every label set. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue; // another metric sharing the prefix
    sum += Number(rest.slice(rest.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function readCounts(base: string, persisted: boolean, transferSeconds: number): Promise<EventCounts> {
  const res = await fetch(`${base}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
  const text = await res.text();
  const counts: EventCounts = {
    counted: metricSum(text, 'faultline_faults_total'),
    folded: metricSum(text, 'faultline_fault_events_folded_total'),
    storeDropped: metricSum(text, 'faultline_store_events_dropped_total'),
    storeFailures: metricSum(text, 'faultline_store_write_failures_total'),
    stored: null,
    storedFoldedCount: null,
    transferSeconds,
  };
  if (!persisted) return counts;
  const stored: Record<string, number> = {};
  let storedFoldedCount = 0;
  const events = await fetch(`${base}/events?format=ndjson`);
  if (!events.ok || events.body === null) throw new Error(`GET /events?format=ndjson: HTTP ${events.status}`);
  let rest = '';
  const count = (line: string): void => {
    if (line === '') return;
    const e = JSON.parse(line) as { kind: string; detail?: { count?: number } };
    stored[e.kind] = (stored[e.kind] ?? 0) + 1;
    if (e.kind === 'fault:folded') storedFoldedCount += e.detail?.count ?? 0;
  };
  const decoder = new TextDecoder();
  for await (const chunk of events.body) {
    const lines = (rest + decoder.decode(chunk as Uint8Array, { stream: true })).split('\n');
    rest = lines.pop()!;
    for (const line of lines) count(line);
  }
  count(rest + decoder.decode());
  return { ...counts, stored, storedFoldedCount };
}

/** Proxies named <prefix>0.. to the sink, each with a latency toxic on both streams; their ports. */
async function eventProxies(base: string, count: number, sinkPort: number, latencyMs = LATENCY_MS, prefix = 'ev_'): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const name = `${prefix}${i}`;
    const proxy = await api(base, 'POST', '/proxies', { name, listen: '127.0.0.1:0', upstream: `127.0.0.1:${sinkPort}` });
    for (const stream of ['upstream', 'downstream']) {
      await api(base, 'POST', `/proxies/${name}/toxics`, { type: 'latency', stream, attributes: { latency: latencyMs, jitter: 0 } });
    }
    const listen = String(proxy.listen);
    ports.push(Number(listen.slice(listen.lastIndexOf(':') + 1)));
  }
  return ports;
}

/** One bulk connection per port, all at once: the aggregate MB/s (the sum of the connections')
 *  and the bytes moved. */
async function parallelBulk(ports: readonly number[], ms: number): Promise<{ mbs: number; bytes: number }> {
  const transfers = await Promise.all(ports.map((port) => bulkTransfer(port, ms)));
  return {
    mbs: transfers.reduce((sum, t) => sum + t.bytes / 1e6 / t.seconds, 0),
    bytes: transfers.reduce((sum, t) => sum + t.bytes, 0),
  };
}

export async function measureEventsScenario(
  scenario: EventsScenario, settings: EventsSettings, log: (line: string) => void,
): Promise<EventsScenarioResult> {
  const sink = await sinkServer();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'faultline-bench-events-'));
  const child = await spawnChild(['events', path.join(dir, 'events.db'), ...(scenario === 'unlimited' ? ['unlimited'] : [])]);
  const bases: Record<EventsTarget, string> = { off: String(child.hello.off), on: String(child.hello.on) };
  const targets: RunTarget[] = scenario === 'perChunk' ? [...EVENTS_TARGETS, 'ref'] : [...EVENTS_TARGETS];
  const runs: Record<RunTarget, number[]> = { off: [], on: [], ref: [] };
  const cpuRuns: Record<RunTarget, number[]> = { off: [], on: [], ref: [] };
  const seconds: Record<RunTarget, number> = { off: 0, on: 0, ref: 0 };
  try {
    const ports = {} as Record<RunTarget, number[]>;
    for (const t of EVENTS_TARGETS) ports[t] = await eventProxies(bases[t], settings.proxies[scenario], sink.port);
    if (targets.includes('ref')) ports.ref = await eventProxies(bases.off, 1, sink.port, 0, 'ref_');
    const bulk = async (t: RunTarget, ms: number): Promise<{ mbs: number; cpuMsPerGB: number }> => {
      const cpu0 = await child.cpu();
      const start = performance.now();
      const { mbs, bytes } = await parallelBulk(ports[t], ms);
      seconds[t] += (performance.now() - start) / 1000;
      await sleep(settings.pauseMs);
      const cpu1 = await child.cpu();
      const cpuMs = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / 1000;
      return { mbs, cpuMsPerGB: cpuMs / (bytes / 1e9) };
    };
    // A short unrecorded run each first, so none pays for the JIT warming up.
    for (const t of targets) await bulk(t, 200);
    for (let run = 0; run < settings.runs[scenario]; run++) {
      // Round-robin, with the order flipped every other run so none always goes first.
      const order = run % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) {
        const { mbs, cpuMsPerGB } = await bulk(t, settings.runMs[scenario]);
        runs[t].push(mbs);
        cpuRuns[t].push(cpuMsPerGB);
        log(`[events ${scenario}] ${t === 'ref' ? 'latency 0 (no events), persistence off' : `persistence ${t}`} `
          + `run ${run + 1}: ${mbs.toFixed(0)} MB/s, ${cpuMsPerGB.toFixed(0)} ms CPU per GB`);
      }
    }
    // The bus reports folded events once a second and the writer flushes every 50 ms: wait for
    // both, so counted = stored faults + folded is checkable.
    await sleep(1100);
    const counts = {
      off: await readCounts(bases.off, false, seconds.off),
      on: await readCounts(bases.on, true, seconds.on),
    };
    const series = (t: RunTarget): RunSeries => ({
      throughput: median(runs[t]), runs: runs[t], cpuMsPerGB: median(cpuRuns[t]), cpuRuns: cpuRuns[t],
    });
    const off = series('off');
    const on = series('on');
    return {
      off,
      on,
      ...(targets.includes('ref') ? { reference: series('ref') } : {}),
      ratio: median(on.runs.map((mbs, i) => mbs / off.runs[i]!)),
      cpuRatio: median(on.cpuRuns.map((ms, i) => ms / off.cpuRuns[i]!)),
      counts,
    };
  } finally {
    await child.stop();
    await sink.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function measureEvents(quick: boolean, log: (line: string) => void): Promise<EventsResults> {
  const settings = eventsSettings(quick);
  const scenarios = {} as Record<EventsScenario, EventsScenarioResult>;
  for (const s of EVENTS_SCENARIOS) {
    scenarios[s] = await measureEventsScenario(s, settings, log);
    const c = scenarios[s].counts.on;
    log(`[events ${s}] on/off ${scenarios[s].ratio.toFixed(3)}x throughput, ${scenarios[s].cpuRatio.toFixed(3)}x CPU per GB; `
      + `with persistence: ${c.counted} faults counted, `
      + `${c.stored?.['fault:injected'] ?? 0} stored as events, ${c.folded} folded`);
  }
  return { settings, scenarios };
}

// `node dist/bench/events.js [--quick] [--json]`: the event-path part alone.
runIfMain(import.meta.url, {
  measure: measureEvents,
  render: async () => {
    const report = await import('./report.js');
    return { format: report.formatEvents, checks: report.eventsChecks };
  },
});
