// Turns the measurements into the printed report and the issue's targets: the TCP and idle
// sections' tables come from tcp-report.ts, the services' from services.ts, the rest from here.

import { fmt, table, type Check } from './format.js';
import { formatIdle, formatPlacement, ratios, tcpChecks, type IdleResult, type PlacementResults } from './tcp-report.js';
import { formatServices, servicesChecks, servicesSkipped, type ServicesResults } from './services.js';
import type { TargetName } from './targets.js';
import { UDP_LABELS, UDP_TARGETS, type UdpResults } from './udp.js';
import { EVENTS_LABELS, EVENTS_SCENARIOS, EVENTS_TARGETS, type EventsResults } from './events.js';
import type { AccuracyResults, ErrorStats } from './accuracy.js';

export type { Check } from './format.js';

/** What one run measured: only the sections that were asked for are there. */
export interface Results {
  environment: Record<string, string | number>;
  /** Why the Toxiproxy comparisons were skipped, if they were. */
  toxiproxyMissing?: string;
  inProcess?: PlacementResults;
  child?: PlacementResults;
  idle?: Partial<Record<TargetName, IdleResult>>;
  /** Redis and PostgreSQL, direct and through the proxies (bench/services.ts). */
  services?: ServicesResults;
  /** Datagrams per second of a windowed UDP echo (bench/udp.ts). */
  udp?: UdpResults;
  /** Bulk throughput with fault event persistence on and off (bench/events.ts). */
  events?: EventsResults;
  /** How close latency and bandwidth toxics come to what they were asked (bench/accuracy.ts). */
  accuracy?: AccuracyResults;
}

const PLACEMENTS = [
  ['inProcess', 'proxies in the benchmark process'],
  ['child', 'proxies in their own process'],
] as const;

export function allRatios(r: Results): Record<string, unknown> {
  return Object.fromEntries(PLACEMENTS.filter(([key]) => r[key] !== undefined).map(([key]) => [key, ratios(r[key]!)]));
}

/** Targets that were asked for but could not be measured here, and why. */
export function skipped(r: Results): string[] {
  const list: string[] = [];
  const toxiproxyAsked = r.child !== undefined || r.idle !== undefined || r.services !== undefined;
  if (r.toxiproxyMissing !== undefined && toxiproxyAsked) list.push(`Toxiproxy targets: ${r.toxiproxyMissing}`);
  if (r.services !== undefined) list.push(...servicesSkipped(r.services));
  return list;
}

export function checks(r: Results): Check[] {
  const list: Check[] = tcpChecks(PLACEMENTS.map(([key, where]) => [r[key], where] as const), r.idle);
  if (r.services !== undefined) list.push(...servicesChecks(r.services));
  if (r.udp !== undefined) list.push(...udpChecks(r.udp));
  if (r.events !== undefined) list.push(...eventsChecks(r.events));
  if (r.accuracy !== undefined) list.push(...accuracyChecks(r.accuracy));
  return list;
}

export function udpChecks(u: UdpResults): Check[] {
  return PLACEMENTS.map(([key, where]) => {
    const ratio = u[key].datagramsPerSecond.bare / u[key].datagramsPerSecond.relay;
    return { target: `UDP datagrams/s >= 0.9x a bare dgram relay (${where})`, measured: `${ratio.toFixed(3)}x`, pass: ratio >= 0.9 };
  });
}

/** The UDP section: datagrams per second per target and placement, and the ratios. */
export function formatUdp(u: UdpResults): string[] {
  const { window, size } = u.settings;
  const lines = ['', `UDP windowed echo (${window} datagrams of ${size} bytes in flight; datagrams/s = round trips per second):`];
  const rows: string[][] = [['placement', ...UDP_TARGETS.map((t) => UDP_LABELS[t]), 'faultline / relay', 'faultline / direct']];
  for (const [key, where] of PLACEMENTS) {
    const d = u[key].datagramsPerSecond;
    rows.push([where, ...UDP_TARGETS.map((t) => fmt(d[t], 0)), `${fmt(d.bare / d.relay, 2)}x`, `${fmt(d.bare / d.direct, 2)}x`]);
  }
  lines.push(table(rows));
  const lost = PLACEMENTS.flatMap(([key]) => UDP_TARGETS.map((t) => u[key].lost[t])).reduce((a, b) => a + b, 0);
  if (lost > 0) lines.push(`(${lost} datagrams were lost by the kernel across all runs)`);
  return lines;
}

/** Both read "persistence on >= 0.9x off": as shipped (rate limited), and with every event stored. */
export function eventsChecks(e: EventsResults): Check[] {
  const { perChunk, unlimited } = e.scenarios;
  const perSecond = (r: typeof perChunk): string => fmt((r.counts.on.stored?.['fault:injected'] ?? 0) / r.counts.on.transferSeconds, 0);
  const where = `latency ${e.settings.latencyMs} ms on every chunk, proxy in its own process`;
  return [{
    target: `throughput with persistence on >= 0.9x off, default rate limit (${where})`,
    measured: `${perChunk.ratio.toFixed(3)}x (${perSecond(perChunk)} fault events stored/s, the rest folded)`,
    pass: perChunk.ratio >= 0.9,
  }, {
    target: `throughput with persistence on >= 0.9x off, rate limit off: every chunk's event stored (${where})`,
    measured: `${unlimited.ratio.toFixed(3)}x (${perSecond(unlimited)} fault events stored/s; CPU per GB ${unlimited.cpuRatio.toFixed(3)}x)`,
    pass: unlimited.ratio >= 0.9,
  }];
}

/** The event-path section: throughput with persistence off and on, and what the event path did. */
export function formatEvents(e: EventsResults): string[] {
  const { latencyMs, runs, runMs } = e.settings;
  const lines = [
    '',
    `fault event path (proxy in its own process; a latency ${latencyMs} ms toxic on both streams emits 'delayed' on every chunk,`,
    'as latency 0 emits nothing; persistence off = db: false, on = a SQLite file; runs alternate off/on; MB/s and CPU are',
    'medians of the runs, on / off the median of each round\'s on/off pair):',
  ];
  const rows: string[][] = [[
    'scenario', 'runs', 'off MB/s', 'on MB/s', 'on / off', 'off CPU ms/GB', 'on CPU ms/GB', 'on / off', 'latency 0 (no events) MB/s, CPU ms/GB',
  ]];
  for (const s of EVENTS_SCENARIOS) {
    const r = e.scenarios[s];
    rows.push([
      EVENTS_LABELS[s], `${runs[s]} x ${runMs[s]} ms`, fmt(r.off.throughput, 0), fmt(r.on.throughput, 0), `${fmt(r.ratio, 3)}x`,
      fmt(r.off.cpuMsPerGB, 0), fmt(r.on.cpuMsPerGB, 0), `${fmt(r.cpuRatio, 3)}x`,
      r.reference === undefined ? '' : `${fmt(r.reference.throughput, 0)}, ${fmt(r.reference.cpuMsPerGB, 0)}`,
    ]);
  }
  lines.push(table(rows));
  lines.push('', 'what the event path did (whole scenario, warm-up included; stored rows from GET /events, the rest from GET /metrics):');
  const counts: string[][] = [[
    'scenario', 'persistence', 'faults counted', 'counted/s', 'events folded', 'fault events stored', 'stored/s',
    'all rows stored', 'counted = stored + folded', 'store dropped', 'store failures',
  ]];
  for (const s of EVENTS_SCENARIOS) {
    for (const t of EVENTS_TARGETS) {
      const c = e.scenarios[s].counts[t];
      const faults = c.stored === null ? null : c.stored['fault:injected'] ?? 0;
      const all = c.stored === null ? null : Object.values(c.stored).reduce((a, b) => a + b, 0);
      const balanced = faults === null || c.storedFoldedCount === null
        ? 'n/a'
        : faults + c.storedFoldedCount === c.counted ? 'yes' : `no (${faults + c.storedFoldedCount - c.counted})`;
      counts.push([
        t === 'off' ? EVENTS_LABELS[s] : '', t, fmt(c.counted, 0), fmt(c.counted / c.transferSeconds, 0), fmt(c.folded, 0),
        fmt(faults, 0), fmt(faults === null ? null : faults / c.transferSeconds, 0), fmt(all, 0), balanced,
        fmt(c.storeDropped, 0), fmt(c.storeFailures, 0),
      ]);
    }
  }
  lines.push(table(counts));
  return lines;
}

export function accuracyChecks(a: AccuracyResults): Check[] {
  const { tcpLatency: t, bandwidth: b, udpLatency: u } = a;
  const ms = (v: number): string => `${v.toFixed(2)} ms`;
  return [
    {
      target: `TCP latency ${t.latencyMs} ms: p50 error within 1 ms (proxy in its own process)`,
      measured: `|error| p50 ${ms(t.absError.p50)} (signed p50 ${ms(t.error.p50)}, ${t.samples} samples)`,
      pass: t.absError.p50 <= 1,
    },
    {
      target: `TCP latency ${t.latencyMs} ms: p99 error within 3 ms (proxy in its own process)`,
      measured: `|error| p99 ${ms(t.absError.p99)} (signed p1 ${ms(t.error.p1)}, p99 ${ms(t.error.p99)}, max ${ms(t.error.max)}`
        + `${t.reference ? `; a minimal Node delaying proxy, same runs: |error| p99 ${ms(t.reference.absError.p99)}` : ''})`,
      pass: t.absError.p99 <= 3,
    },
    {
      target: `TCP bandwidth ${b.rateKBs} KB/s: rate within 5 % over ${b.bytes} bytes (proxy in its own process)`,
      measured: `${b.measuredKBs.toFixed(0)} KB/s, ${b.errorPercent >= 0 ? '+' : ''}${b.errorPercent.toFixed(2)} % (${b.seconds.toFixed(3)} s for ${b.expectedSeconds} s)`,
      pass: Math.abs(b.errorPercent) <= 5,
    },
    {
      target: `UDP latency ${u.latencyMs} ms: p50 error within 1 ms (proxy in its own process)`,
      measured: `|error| p50 ${ms(u.absError.p50)} (signed p50 ${ms(u.error.p50)}, ${u.samples} samples${u.lost > 0 ? `, ${u.lost} lost` : ''})`,
      pass: u.absError.p50 <= 1 && u.lost === 0,
    },
  ];
}

/** The accuracy section: error quantiles of the latency toxics, and the bandwidth toxic's rate. */
export function formatAccuracy(a: AccuracyResults): string[] {
  const s = a.settings;
  const lines = [
    '',
    'toxic timing accuracy (faultline alone in its own process; echo and sink servers and clients here;',
    `error = round trip - median direct round trip - latency, in ms; TCP: ${s.tcpConnections} connections at once x ${s.tcpRounds} ping-pongs`,
    `of 1 byte x ${s.tcpBlocks} blocks, alternating with the reference (a minimal Node proxy delaying by ${a.tcpLatency.latencyMs} ms in its own process);`,
    `UDP: ${s.udpWindow} numbered datagrams in flight, ${s.udpSamples} round trips):`,
  ];
  const row = (name: string, l: ErrorStats & { samples: number }, direct?: number, hop?: number): string[] => [
    name, String(l.samples), fmt(direct, 3), fmt(hop, 3), fmt(l.rttMedianMs, 2),
    fmt(l.error.min, 2), fmt(l.error.p1, 2), fmt(l.error.p50, 2), fmt(l.error.p99, 2), fmt(l.error.max, 2),
    fmt(l.absError.p50, 2), fmt(l.absError.p99, 2),
  ];
  const { tcpLatency: t, udpLatency: u } = a;
  lines.push(table([
    ['toxic', 'samples', 'direct RTT p50', 'hop cost p50', 'RTT p50', 'error min', 'p1', 'p50', 'p99', 'max', '|error| p50', '|error| p99'],
    row(`TCP latency ${t.latencyMs} ms (downstream)`, t, t.directMedianMs, t.hopMedianMs),
    ...(t.reference ? [row(`  reference: minimal delaying proxy`, t.reference)] : []),
    row(`UDP latency ${u.latencyMs} ms (downstream)`, u, u.directMedianMs, u.hopMedianMs),
  ]));
  const b = a.bandwidth;
  lines.push('', table([
    ['toxic', 'bytes', 'expected s', 'measured s', 'first byte ms', 'KB/s', 'error %'],
    [`TCP bandwidth ${b.rateKBs} KB/s (upstream)`, String(b.bytes), fmt(b.expectedSeconds, 3), fmt(b.seconds, 3),
      fmt(b.firstByteMs, 1), fmt(b.measuredKBs, 0), fmt(b.errorPercent, 2)],
  ]));
  if (a.udpLatency.lost > 0) lines.push(`(${a.udpLatency.lost} datagrams were lost through the UDP latency proxy)`);
  return lines;
}

export function formatText(r: Results): string {
  const lines: string[] = [];
  lines.push('faultline benchmark (loopback)');
  lines.push(Object.entries(r.environment).map(([k, v]) => `${k}: ${v}`).join(', '));
  if (r.toxiproxyMissing !== undefined) lines.push(`Toxiproxy: ${r.toxiproxyMissing}`);
  for (const [key, where] of PLACEMENTS) {
    const p = r[key];
    if (p === undefined) continue;
    lines.push(...formatPlacement(p, key === 'child' && p.targets.includes('toxi') ? `${where} (pipe() and faultline share one, Toxiproxy has another)` : where));
  }
  if (r.idle !== undefined) lines.push(...formatIdle(r.idle));
  if (r.services !== undefined) lines.push(...formatServices(r.services));
  if (r.udp !== undefined) lines.push(...formatUdp(r.udp));
  if (r.events !== undefined) lines.push(...formatEvents(r.events));
  if (r.accuracy !== undefined) lines.push(...formatAccuracy(r.accuracy));
  lines.push('', '(ratios: for RTT and memory, above 1 means slower or bigger)', '', 'targets from the issue:');
  for (const c of checks(r)) lines.push(`  ${c.pass ? 'PASS' : 'FAIL'}  ${c.target}: ${c.measured}`);
  for (const why of skipped(r)) lines.push(`  SKIP  ${why}`);
  return lines.join('\n');
}
