// The registry of built-in toxics. Each is imported by name, not discovered, so the set the
// server accepts is exactly what this file lists.

import type { AnyToxicDefinition } from '../src/toxic.js';
import { bandwidth } from './bandwidth.js';
import { corrupt } from './corrupt.js';
import { duplicate } from './duplicate.js';
import { halfOpen } from './half-open.js';
import { httpAbort } from './http-abort.js';
import { httpDelay } from './http-delay.js';
import { httpReset } from './http-reset.js';
import { latency } from './latency.js';
import { limitData } from './limit-data.js';
import { limitTime } from './limit-time.js';
import { noop } from './noop.js';
import { packetLoss } from './packet-loss.js';
import { partition } from './partition.js';
import { reorder } from './reorder.js';
import { resetPeer } from './reset-peer.js';
import { slicer } from './slicer.js';
import { slowClose } from './slow-close.js';
import { slowOpen } from './slow-open.js';
import { timeout } from './timeout.js';

// The order Toxiproxy's README documents them in, so the catalog reads the same; then
// faultline's own, in the order their issues list them; noop last. Keyed by wire name, with each
// definition's attribute types kept, so the library's client derives one typed method per toxic
// from this table (test/client-registry.test.ts checks every key against its `type`).
export const TOXICS_BY_TYPE = {
  latency,
  bandwidth,
  slow_close: slowClose,
  timeout,
  reset_peer: resetPeer,
  slicer,
  limit_data: limitData,
  packet_loss: packetLoss,
  duplicate,
  reorder,
  corrupt,
  half_open: halfOpen,
  partition,
  slow_open: slowOpen,
  limit_time: limitTime,
  http_abort: httpAbort,
  http_delay: httpDelay,
  http_reset: httpReset,
  noop,
} as const satisfies Record<string, AnyToxicDefinition>;

export const TOXICS: readonly AnyToxicDefinition[] = Object.values(TOXICS_BY_TYPE);

const BY_TYPE: ReadonlyMap<string, AnyToxicDefinition> = new Map(TOXICS.map((t) => [t.type, t]));

export function findToxic(type: string): AnyToxicDefinition | undefined {
  return BY_TYPE.get(type);
}
