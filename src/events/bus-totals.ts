// Running sums that exist nowhere but in bus events: closed connections' bytes and the fault
// events the rate limit folded away, per proxy. Both /metrics and the dashboard's live stats
// report them, so one listener adds them up for both. Kept by name, like the bus's fault
// counts, so a proxy deleted and made again continues where it left off.

import type { EventBus } from './bus.js';

export interface BusTotals {
  /** Bytes moved by connections (UDP: sessions) that have closed; upstream is client to server.
   *  Insertion order is the order proxies first closed one. */
  readonly closedBytes: ReadonlyMap<string, Readonly<{ up: number; down: number }>>;
  /** fault:injected events folded away, reported once a second by the bus. Insertion order is
   *  the order proxies were first reported. */
  readonly folded: ReadonlyMap<string, number>;
  /** Stops listening to the bus. */
  close(): void;
}

export function busTotals(bus: EventBus): BusTotals {
  const closedBytes = new Map<string, { up: number; down: number }>();
  const folded = new Map<string, number>();
  const unsubscribe = [
    bus.on('conn:closed', (e) => {
      const b = closedBytes.get(e.proxy);
      if (b === undefined) closedBytes.set(e.proxy, { up: e.bytesUp, down: e.bytesDown });
      else { b.up += e.bytesUp; b.down += e.bytesDown; }
    }),
    bus.on('fault:folded', (e) => { folded.set(e.proxy, (folded.get(e.proxy) ?? 0) + e.count); }),
  ];
  return {
    closedBytes,
    folded,
    close: () => { for (const off of unsubscribe) off(); },
  };
}
