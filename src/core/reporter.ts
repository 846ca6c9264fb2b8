// What the core tells the rest of the server. The core never knows who listens (the event
// bus, a store, a WebSocket hub): it reports through this one interface, which server.ts wires.

import type { FaultAction, FaultDetail, Protocol, Stream } from '../toxic.js';

/** One injected fault, before the bus gives it an id and decides whether to stream it. */
export interface FaultReport {
  proxy: string;
  protocol: Protocol;
  conn: string;
  client: string;
  toxic: string;
  type: string;
  stream: Stream;
  action: FaultAction;
  detail: FaultDetail;
}

export interface ConnectionInfo {
  proxy: string;
  protocol: Protocol;
  conn: string;
  client: string;
  upstream: string;
}

export interface ConnectionClosed extends ConnectionInfo {
  bytesUp: number;
  bytesDown: number;
  durationMs: number;
  reason: string;
  /** UDP sessions only: sends the upstream refused (ICMP unreachable and the like). */
  upstreamErrors?: number;
}

/**
 * A change to the configured state: what a store persists and a dashboard redraws. `restored`
 * marks state brought back from the store at start, so the log tells it from a user's action.
 */
export type StateChange =
  | { kind: 'proxy:created' | 'proxy:updated'; proxy: string; body: Record<string, unknown>; restored?: true }
  | { kind: 'proxy:deleted'; proxy: string }
  | { kind: 'toxic:added' | 'toxic:updated'; proxy: string; toxic: string; body: Record<string, unknown>; restored?: true }
  | { kind: 'toxic:removed' | 'toxic:expired'; proxy: string; toxic: string };

/**
 * Makes state changes durable, all of them or none, before they take effect: an API answer
 * of 2xx means the change is on disk. Throws when it cannot, and the change is then refused.
 */
export type Journal = (changes: readonly StateChange[]) => Promise<void>;

export interface Reporter {
  fault(report: FaultReport): void;
  changed(change: StateChange): void;
  connectionOpened(info: ConnectionInfo): void;
  connectionClosed(info: ConnectionClosed): void;
  /** Problems that are not faults we injected: a failed dial, a toxic that threw. */
  warn(message: string, context?: Record<string, unknown>): void;
}

export const silentReporter: Reporter = {
  fault() {},
  changed() {},
  connectionOpened() {},
  connectionClosed() {},
  warn() {},
};
