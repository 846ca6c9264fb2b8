// The numbers the dashboard charts, sent on the live stream every second: per proxy, bytes
// each way, open connections and faults by action, plus how many fault events the bus emitted
// and how many its rate limit folded away. All cumulative since the server started, so a client
// derives rates from any two samples and a message it misses costs it nothing.
// Read from the counters that exist (open connections' bytes, the bus's fault counts, the
// BusTotals shared with /metrics); only the fault events emitted are counted here, so the data
// path does no extra work for the dashboard.

import type { FaultAction, Protocol } from '../toxic.js';
import type { EventBus } from './bus.js';
import type { BusTotals } from './bus-totals.js';

export interface StatsDeps {
  bus: EventBus;
  /** Closed connections' bytes and folded events; its owner closes it. */
  totals: BusTotals;
  collection: {
    list(): ReadonlyArray<{
      readonly name: string;
      readonly protocol: Protocol;
      readonly enabled: boolean;
      liveBytes(): { up: number; down: number; count: number };
    }>;
  };
}

export interface ProxyStats {
  name: string;
  protocol: Protocol;
  enabled: boolean;
  /** Open connections (UDP: sessions). */
  active: number;
  /** upstream: client to server. Closed connections' bytes included. */
  bytes: { upstream: number; downstream: number };
  /** Every fault injected, the folded ones included. */
  faults: number;
  faults_by_action: Partial<Record<FaultAction, number>>;
}

export interface LiveStats {
  /** Epoch milliseconds. */
  ts: number;
  /** The configured proxies, by name. */
  proxies: ProxyStats[];
  /** fault:injected events emitted, and fault events the rate limit folded away (reported once
   *  a second, so `folded` trails by up to a second). */
  events: { total: number; folded: number };
}

export interface StatsSource {
  read(): LiveStats;
  /** Stops listening to the bus. */
  close(): void;
}

export function liveStats(deps: StatsDeps): StatsSource {
  let emitted = 0;
  const off = deps.bus.on('fault:injected', () => { emitted++; });

  return {
    read() {
      const faults = new Map<string, { total: number; byAction: Partial<Record<FaultAction, number>> }>();
      for (const c of deps.bus.faultCounts()) {
        let f = faults.get(c.proxy);
        if (f === undefined) faults.set(c.proxy, (f = { total: 0, byAction: {} }));
        f.total += c.count;
        f.byAction[c.action] = (f.byAction[c.action] ?? 0) + c.count;
      }
      const proxies = deps.collection.list().map((p): ProxyStats => {
        const live = p.liveBytes();
        const done = deps.totals.closedBytes.get(p.name) ?? { up: 0, down: 0 };
        const f = faults.get(p.name);
        return {
          name: p.name,
          protocol: p.protocol,
          enabled: p.enabled,
          active: live.count,
          bytes: { upstream: done.up + live.up, downstream: done.down + live.down },
          faults: f?.total ?? 0,
          faults_by_action: f?.byAction ?? {},
        };
      });
      let folded = 0;
      for (const count of deps.totals.folded.values()) folded += count;
      return { ts: Date.now(), proxies, events: { total: emitted, folded } };
    },
    close: () => { off(); },
  };
}
