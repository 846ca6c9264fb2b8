// Prometheus metrics for GET /metrics, through prom-client on a registry of our own, so two
// servers in one process (as in the tests) never share or clash over the global one.
// Counts that already live elsewhere (the bus's fault counters, open connections' bytes, UDP
// proxies' upstream errors, the store's failures) are read at scrape time in collect() hooks: reset, then set from the
// source, so they cannot drift from it. Closed connections' bytes and folded events come from
// the BusTotals the live stats share; only connections opened and closed are counted here.

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Protocol } from '../toxic.js';
import type { EventBus } from './bus.js';
import { busTotals, type BusTotals } from './bus-totals.js';
import { registerHttpMetrics, type RouteSource } from './http-metrics.js';

export interface MetricsDeps {
  bus: EventBus;
  /** The configured proxies: each gets zero-valued series, so dashboards see it before traffic.
   *  A UDP proxy counts its upstream errors itself, so the data path never reports each one. */
  collection: { list(): ReadonlyArray<{ readonly name: string; readonly protocol: Protocol; readonly upstreamErrors?: number }> };
  /** Bytes moved so far by connections still open: one entry per connection or per proxy, summed. */
  liveBytes?: () => ReadonlyArray<{ proxy: string; up: number; down: number }>;
  /** The store's running totals; both read as 0 without a store. */
  storeStats?: () => { failures: number; dropped: number };
  /** Sums shared with other readers, closed by their owner; without it, metrics keeps its own. */
  totals?: BusTotals;
  /** http proxies' per-route figures; no series without it. */
  httpRoutes?: RouteSource;
}

export interface Metrics {
  registry: Registry;
  /** The Content-Type for the text() body. */
  contentType: string;
  text(): Promise<string>;
  /** Stops listening to the bus. */
  close(): void;
}

interface ConnCount {
  proxy: string;
  protocol: Protocol;
  opened: number;
  closed: number;
}

const PREFIX = 'faultline_';

export function createMetrics(deps: MetricsDeps): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: PREFIX });

  const conns = new Map<string, ConnCount>();
  const connOf = (proxy: string, protocol: Protocol): ConnCount => {
    const key = `${proxy}\0${protocol}`;
    let c = conns.get(key);
    if (c === undefined) conns.set(key, (c = { proxy, protocol, opened: 0, closed: 0 }));
    return c;
  };
  const totals = deps.totals ?? busTotals(deps.bus);
  // A proxy that had a series keeps it, deleted or not, and series keep the order proxies first
  // got them: from the sums (which come first) or, at zero, from being configured at a scrape.
  const withSeries = (seen: Set<string>, counted: Iterable<string>): Set<string> => {
    for (const name of counted) seen.add(name);
    for (const p of deps.collection.list()) seen.add(p.name);
    return seen;
  };
  const bytesSeen = new Set<string>();
  const foldedSeen = new Set<string>();

  // Registered in this order: bytes_total's collect() runs first and brings new proxies' zero series in.
  new Counter({
    name: `${PREFIX}bytes_total`,
    help: 'Bytes proxied, by proxy and direction (upstream: client to server), open connections included.',
    labelNames: ['proxy', 'direction'],
    registers: [registry],
    collect() {
      for (const p of deps.collection.list()) connOf(p.name, p.protocol);
      // Closed connections' bytes, then open ones' from liveBytes.
      const sums = new Map([...withSeries(bytesSeen, totals.closedBytes.keys())]
        .map((proxy) => [proxy, { up: 0, down: 0, ...totals.closedBytes.get(proxy) }]));
      for (const live of deps.liveBytes?.() ?? []) {
        const s = sums.get(live.proxy) ?? { up: 0, down: 0 };
        s.up += live.up;
        s.down += live.down;
        sums.set(live.proxy, s);
      }
      this.reset();
      for (const [proxy, s] of sums) {
        this.inc({ proxy, direction: 'upstream' }, s.up);
        this.inc({ proxy, direction: 'downstream' }, s.down);
      }
    },
  });
  const connMetric = (name: string, help: string, pick: (c: ConnCount) => number) => ({
    name: `${PREFIX}${name}`, help, labelNames: ['proxy', 'protocol'] as const, registers: [registry],
    collect(this: Counter<'proxy' | 'protocol'> | Gauge<'proxy' | 'protocol'>) {
      this.reset();
      for (const c of conns.values()) {
        const labels = { proxy: c.proxy, protocol: c.protocol };
        if (this instanceof Gauge) this.set(labels, pick(c));
        else this.inc(labels, pick(c));
      }
    },
  });
  new Counter(connMetric('connections_opened_total', 'Connections (UDP: sessions) accepted.', (c) => c.opened));
  new Counter(connMetric('connections_closed_total', 'Connections (UDP: sessions) ended.', (c) => c.closed));
  // Clamped: connections already open when metrics began would otherwise count below zero.
  new Gauge(connMetric('connections_active', 'Connections (UDP: sessions) open now.', (c) => Math.max(0, c.opened - c.closed)));
  new Counter({
    name: `${PREFIX}faults_total`,
    help: 'Faults injected, every one counted (rate limiting folds events, never counts).',
    labelNames: ['proxy', 'protocol', 'type', 'stream', 'action'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { count, ...labels } of deps.bus.faultCounts()) this.inc(labels, count);
    },
  });
  new Counter({
    name: `${PREFIX}fault_events_folded_total`,
    help: 'fault:injected events not emitted because of the per-toxic rate limit (their faults are still counted).',
    labelNames: ['proxy'],
    registers: [registry],
    collect() {
      this.reset();
      for (const proxy of withSeries(foldedSeen, totals.folded.keys())) this.inc({ proxy }, totals.folded.get(proxy) ?? 0);
    },
  });
  new Counter({
    name: `${PREFIX}upstream_errors_total`,
    help: 'Errors a UDP proxy got sending to or receiving from its upstream (ICMP unreachable and the like).',
    labelNames: ['proxy'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of deps.collection.list()) {
        if (p.protocol === 'udp') this.inc({ proxy: p.name }, p.upstreamErrors ?? 0);
      }
    },
  });
  const storeCounter = (name: string, help: string, pick: (s: { failures: number; dropped: number }) => number) =>
    new Counter({
      name: `${PREFIX}${name}`, help, registers: [registry],
      collect() {
        this.reset();
        this.inc(deps.storeStats === undefined ? 0 : pick(deps.storeStats()));
      },
    });
  storeCounter('store_write_failures_total', 'Event store writes (batches) that failed.', (s) => s.failures);
  storeCounter('store_events_dropped_total', 'Events the store could not keep (its queue overflowed).', (s) => s.dropped);
  if (deps.httpRoutes !== undefined) registerHttpMetrics(registry, PREFIX, deps.httpRoutes);

  const unsubscribe = [
    deps.bus.on('conn:opened', (e) => { connOf(e.proxy, e.protocol).opened++; }),
    deps.bus.on('conn:closed', (e) => { connOf(e.proxy, e.protocol).closed++; }),
    ...(deps.totals === undefined ? [() => totals.close()] : []),
  ];

  return {
    registry,
    contentType: registry.contentType,
    text: () => registry.metrics(),
    close: () => { for (const off of unsubscribe) off(); },
  };
}
