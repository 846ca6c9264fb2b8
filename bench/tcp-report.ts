// The TCP and idle sections' tables, ratios and targets. Each faultline target is compared
// with its Toxiproxy counterpart (bare with bare, the zero-latency chain with Toxiproxy's
// zero-latency chain), with direct loopback and with the pipe() proxy; a ratio whose target was
// not measured (no Toxiproxy binary, or a placement without it) is left out.

import type { RttResult } from './measure.js';
import { fmt, table, type Check } from './format.js';
import { LABELS, type TargetName } from './targets.js';

export interface IdleResult {
  connections: number;
  rssBeforeKB: number;
  rssAfterKB: number;
  kbPerConnection: number;
  /** V8 heap growth per connection; null for Toxiproxy, which is not a Node process. */
  heapKBPerConnection: number | null;
}

type PerTarget<T> = Partial<Record<TargetName, T>>;

/** Everything the TCP section measured with the proxies in one placement. */
export interface PlacementResults {
  targets: TargetName[];
  /** Median MB/s (10^6 bytes) over the runs, and every run. */
  throughput: PerTarget<number>;
  throughputRuns: PerTarget<number[]>;
  /** By connection count: median aggregate MB/s over the runs, and every run (`child` only). */
  aggregate?: Record<string, { median: PerTarget<number>; runs: PerTarget<number[]> }>;
  rtt: PerTarget<RttResult>;
  connectionsPerSecond: PerTarget<number>;
}

interface Metric {
  key: string;
  label: string;
  digits: number;
  value(t: TargetName): number | undefined;
  /** Added round trips are relative to direct already; dividing them by direct's 0 says nothing. */
  noDirectRatio?: boolean;
}

function metrics(p: PlacementResults): Metric[] {
  const added = (t: TargetName, q: 'p50' | 'p99'): number | undefined => {
    const own = p.rtt[t]?.[q];
    const direct = p.rtt.direct?.[q];
    return own === undefined || direct === undefined ? undefined : own - direct;
  };
  return [
    { key: 'throughput', label: 'bulk MB/s, 1 connection', digits: 0, value: (t) => p.throughput[t] },
    ...Object.keys(p.aggregate ?? {}).map((n): Metric => ({
      key: `aggregate${n}`, label: `aggregate MB/s, ${n} connections`, digits: 0, value: (t) => p.aggregate?.[n]?.median[t],
    })),
    { key: 'rttP50', label: 'ping-pong RTT p50 µs', digits: 1, value: (t) => p.rtt[t]?.p50 },
    { key: 'rttP99', label: 'ping-pong RTT p99 µs', digits: 1, value: (t) => p.rtt[t]?.p99 },
    { key: 'addedRttP50', label: 'added RTT p50 µs (- direct)', digits: 1, value: (t) => added(t, 'p50'), noDirectRatio: true },
    { key: 'addedRttP99', label: 'added RTT p99 µs (- direct)', digits: 1, value: (t) => added(t, 'p99'), noDirectRatio: true },
    { key: 'connectionsPerSecond', label: 'connections/s', digits: 0, value: (t) => p.connectionsPerSecond[t] },
  ];
}

/** faultline's targets and the Toxiproxy target each is compared with. */
const FAULTLINE: readonly (readonly ['bare' | 'zero', TargetName])[] = [['bare', 'toxi'], ['zero', 'toxiZero']];
const REFERENCES = ['toxiproxy', 'direct', 'pipe'] as const;
type Reference = (typeof REFERENCES)[number];

const divide = (a: number | undefined, b: number | undefined): number | null =>
  a === undefined || b === undefined || b === 0 ? null : a / b;

/** For each faultline target and metric: its value / Toxiproxy's, / direct's, / pipe()'s. */
export function ratios(p: PlacementResults): Record<string, Record<string, Record<Reference, number | null>>> {
  const out: Record<string, Record<string, Record<Reference, number | null>>> = {};
  for (const [t, toxi] of FAULTLINE) {
    out[t] = {};
    for (const m of metrics(p)) {
      const own = m.value(t);
      out[t][m.key] = {
        toxiproxy: divide(own, m.value(toxi)),
        direct: m.noDirectRatio ? null : divide(own, m.value('direct')),
        pipe: divide(own, m.value('pipe')),
      };
    }
  }
  return out;
}

export function formatPlacement(p: PlacementResults, where: string): string[] {
  const list = metrics(p);
  const lines = ['', `${where}:`];
  lines.push(table([
    ['metric', ...p.targets.map((t) => LABELS[t])],
    ...list.map((m) => [m.label, ...p.targets.map((t) => fmt(m.value(t), m.digits))]),
  ]));
  const q = ratios(p);
  const columns = FAULTLINE.flatMap(([t, toxi]) => REFERENCES
    .filter((ref) => ref !== 'toxiproxy' || p.targets.includes(toxi))
    .map((ref) => ({ t, ref, title: `${t === 'bare' ? 'bare' : '0ms'} / ${ref === 'toxiproxy' ? LABELS[toxi] : ref === 'pipe' ? 'pipe()' : ref}` })));
  lines.push('', table([
    ['faultline ratio', ...columns.map((c) => c.title)],
    ...list.map((m) => [m.label, ...columns.map((c) => {
      const r = q[c.t]![m.key]![c.ref];
      return r === null ? 'n/a' : `${fmt(r, 2)}x`;
    })]),
  ]));
  return lines;
}

const IDLE_ORDER: readonly TargetName[] = ['pipe', 'bare', 'zero', 'toxi', 'toxiZero'];

export function formatIdle(idle: PerTarget<IdleResult>): string[] {
  const names = IDLE_ORDER.filter((t) => idle[t] !== undefined);
  const count = idle[names[0]!]?.connections ?? 0;
  const counterpart: PerTarget<TargetName> = { bare: 'toxi', zero: 'toxiZero' };
  const per = (t: TargetName | undefined): number | undefined => (t === undefined ? undefined : idle[t]?.kbPerConnection);
  const row = (name: string, get: (t: TargetName) => number | undefined | null): string[] => [name, ...names.map((t) => fmt(get(t), 2))];
  return ['', `idle connections (${count}; each proxy alone in a fresh process, RSS from /proc; direct has no proxy):`, table([
    ['memory', ...names.map((t) => LABELS[t])],
    row('RSS KB per connection', (t) => per(t)),
    row('  of which V8 heap KB', (t) => idle[t]?.heapKBPerConnection),
    row('RSS KB / pipe()', (t) => divide(per(t), per('pipe'))),
    ...(idle.toxi === undefined ? [] : [row('RSS KB / Toxiproxy', (t) => divide(per(t), per(counterpart[t])))]),
  ])];
}

export function tcpChecks(
  placements: readonly (readonly [PlacementResults | undefined, string])[], idle: PerTarget<IdleResult> | undefined,
): Check[] {
  const list: Check[] = [];
  const x = (v: number | null): string => `${fmt(v, 3)}x`;
  const at = (v: number | null, pass: (v: number) => boolean): boolean => v !== null && pass(v);
  for (const [p, where] of placements) {
    if (p === undefined) continue;
    const q = ratios(p);
    const bare = q.bare!.throughput!.pipe;
    const zero = q.zero!.throughput!.pipe;
    list.push(
      { target: `bare path throughput >= 0.9x pipe() (${where})`, measured: x(bare), pass: at(bare, (v) => v >= 0.9) },
      { target: `zero-latency chain throughput >= 0.6x pipe() (${where})`, measured: x(zero), pass: at(zero, (v) => v >= 0.6) },
    );
    if (!p.targets.includes('toxi')) continue;
    const bulk = q.bare!.throughput!.toxiproxy;
    const chain = q.zero!.throughput!.toxiproxy;
    const agg = q.bare!.aggregate64?.toxiproxy ?? null;
    const rtt = q.bare!.addedRttP50!.toxiproxy;
    const cps = q.bare!.connectionsPerSecond!.toxiproxy;
    const added = (t: TargetName): string => fmt((p.rtt[t]?.p50 ?? NaN) - (p.rtt.direct?.p50 ?? NaN), 1);
    list.push(
      { target: `bulk throughput, bare, >= 1.0x Toxiproxy, aim 1.3x (${where})`, measured: `${x(bulk)}${at(bulk, (v) => v >= 1.3) ? ' (aim met)' : ''}`, pass: at(bulk, (v) => v >= 1) },
      { target: `bulk throughput, zero-latency chain, >= 1.2x Toxiproxy's (${where})`, measured: x(chain), pass: at(chain, (v) => v >= 1.2) },
      ...(p.aggregate?.['64'] === undefined ? [] : [
        { target: `aggregate throughput, 64 connections, bare, >= 1.0x Toxiproxy (${where})`, measured: x(agg), pass: at(agg, (v) => v >= 1) }]),
      { target: `added RTT p50, bare, <= 0.6x Toxiproxy's (${where})`, measured: `${x(rtt)} (${added('bare')} µs vs ${added('toxi')} µs)`, pass: at(rtt, (v) => v <= 0.6) },
      { target: `connections/s, bare, >= 1.0x Toxiproxy (${where})`, measured: x(cps), pass: at(cps, (v) => v >= 1) },
    );
  }
  const bareIdle = idle?.bare;
  if (bareIdle !== undefined) {
    const toxi = idle?.toxi === undefined ? '' : ` (Toxiproxy: ${idle.toxi.kbPerConnection.toFixed(1)} KB)`;
    list.push({
      target: 'idle connection (bare) <= 12 KB of RSS',
      measured: `${bareIdle.kbPerConnection.toFixed(1)} KB${toxi}`,
      pass: bareIdle.kbPerConnection <= 12,
    });
  }
  return list;
}
