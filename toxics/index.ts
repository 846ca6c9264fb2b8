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
// faultline's own, in the order their issues list them; noop last.
export const TOXICS: readonly AnyToxicDefinition[] = [
  latency,
  bandwidth,
  slowClose,
  timeout,
  resetPeer,
  slicer,
  limitData,
  packetLoss,
  duplicate,
  reorder,
  corrupt,
  halfOpen,
  partition,
  slowOpen,
  limitTime,
  httpAbort,
  httpDelay,
  httpReset,
  noop,
];

const BY_TYPE: ReadonlyMap<string, AnyToxicDefinition> = new Map(TOXICS.map((t) => [t.type, t]));

export function findToxic(type: string): AnyToxicDefinition | undefined {
  return BY_TYPE.get(type);
}
