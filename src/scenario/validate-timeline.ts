// The timeline as a whole: steps sorted by `at` (stably, so equal times keep file order),
// then played forward on paper to check what only time can tell. An update_toxic or
// remove_toxic must name a toxic that an earlier `at` added and that is still there (not
// removed, healed or expired by its `for`); a toxic must not be added twice; two partitions
// must not cut the same stream at once. At the same instant, the reverts of earlier `for`s
// happen before the steps, as the plan shows them.

import { findToxic } from '../../toxics/index.js';
import type { Attributes } from '../toxic.js';
import { formatDuration } from './duration.js';
import { cutsOf } from './partition-cuts.js';
import type { ScenarioProxy, Step } from './types.js';
import { checkAttributes } from './validate-toxic.js';
import { child, type Checker } from './validate-node.js';
import type { ReadStep } from './validate-steps.js';

interface Live {
  type: string;
  attributes: Attributes;
  addedAt: number;
  /** When its `for` ends it, or null. */
  until: number | null;
  by: string;
}

interface Revert {
  at: number;
  apply(): void;
}

/** Sorts the steps by `at` and reports what the timeline gets wrong; fills update_toxic's
 *  attributes once the type of the toxic it updates is known. */
export function checkTimeline(
  c: Checker, reads: readonly ReadStep[], proxies: readonly ScenarioProxy[], uncertain: ReadonlySet<string>,
): Step[] {
  const sorted = [...reads].sort((a, b) => a.step.atMs - b.step.atMs);
  const live = new Map<string, Live>();
  /** Why a toxic is no longer there, by key. */
  const gone = new Map<string, string>();
  const cut = new Map<string, string>();
  let reverts: Revert[] = [];
  const keyOf = (proxy: string, toxic: string) => `${proxy}\0${toxic}`;
  const when = (ms: number) => formatDuration(ms);
  /** Ends a toxic; with `only`, just that one (not a namesake added since). */
  const drop = (key: string, why: string, only?: Live) => {
    if (only !== undefined && live.get(key) !== only) return;
    if (live.delete(key)) gone.set(key, why);
  };

  for (const read of sorted) {
    const { step } = read;
    const due = reverts.filter((r) => r.at <= step.atMs).sort((a, b) => a.at - b.at);
    reverts = reverts.filter((r) => r.at > step.atMs);
    for (const r of due) r.apply();

    const a = step.action;
    const label = `${read.path} at ${when(step.atMs)}`;
    switch (a.kind) {
      case 'toxic': {
        const key = keyOf(a.proxy, a.name);
        const there = live.get(key);
        if (there) {
          c.report(read.refNode, read.actionPath, `toxic '${a.name}' is already on proxy '${a.proxy}' at ` +
            `${when(step.atMs)} (added by ${there.by}); remove it first, or give this one another name`);
          break;
        }
        const until = step.forMs === null ? null : step.atMs + step.forMs;
        const entry: Live = { type: a.type, attributes: read.full ?? {}, addedAt: step.atMs, until, by: label };
        live.set(key, entry);
        gone.delete(key);
        if (until !== null) {
          reverts.push({ at: until, apply: () => drop(key, `its 'for' ended at ${when(until)}`, entry) });
        }
        break;
      }
      case 'update_toxic':
      case 'remove_toxic': {
        const key = keyOf(a.proxy, a.toxic);
        const there = live.get(key);
        if (!there || there.addedAt === step.atMs) {
          if (uncertain.has(key) || uncertain.has(keyOf(a.proxy, '*'))) break;
          c.report(read.refNode, child(read.actionPath, 'toxic'), missing(a.proxy, a.toxic, step.atMs, there, gone.get(key), sorted));
          break;
        }
        if (a.kind === 'remove_toxic') {
          drop(key, `${label} removed it`);
          // With `for`, it comes back afterwards, until its own `for` (if any) ends.
          const back = step.forMs === null ? null : step.atMs + step.forMs;
          if (back !== null && (there.until === null || there.until > back)) {
            reverts.push({ at: back, apply: () => { if (!live.has(key)) { live.set(key, there); gone.delete(key); } } });
          }
          break;
        }
        if (read.attributesNode === undefined) break;
        const definition = findToxic(there.type);
        if (!definition) break;
        const checked = checkAttributes(c, definition, read.attributesNode, child(read.actionPath, 'attributes'), there.attributes);
        if (!checked) break;
        a.attributes = checked.given;
        const previous = there.attributes;
        there.attributes = checked.full;
        if (step.forMs !== null) {
          reverts.push({ at: step.atMs + step.forMs, apply: () => { there.attributes = previous; } });
        }
        break;
      }
      case 'partition': {
        const cuts = cutsOf(proxies, a.groups, a.oneway).map((x) => `${x.proxy}\0${x.stream}`);
        const clash = cuts.find((k) => cut.has(k));
        if (clash !== undefined) {
          const [proxy, stream] = clash.split('\0');
          c.report(read.refNode, read.actionPath, `this partition cuts ${proxy} (${stream}), which the partition of ` +
            `${cut.get(clash)} still cuts; heal it first or give that one a 'for'`);
          break;
        }
        for (const k of cuts) cut.set(k, label);
        if (step.forMs !== null) {
          reverts.push({ at: step.atMs + step.forMs, apply: () => cuts.forEach((k) => cut.get(k) === label && cut.delete(k)) });
        }
        break;
      }
      case 'heal': {
        const on = (key: string) => a.proxy === null || key.startsWith(`${a.proxy}\0`);
        for (const key of [...live.keys()]) if (on(key)) drop(key, `${label} healed it`);
        for (const key of [...cut.keys()]) if (on(key)) cut.delete(key);
        break;
      }
      default:
        break;
    }
  }
  return sorted.map((r) => r.step);
}

/** Why an update or removal finds no toxic, in words that point at the fix. */
function missing(
  proxy: string, toxic: string, at: number, sameTime: Live | undefined, why: string | undefined, sorted: readonly ReadStep[],
): string {
  const subject = `toxic '${toxic}' on proxy '${proxy}'`;
  if (sameTime) {
    return `${subject} is added at the same time (${sameTime.by}); an update or removal needs a later 'at'`;
  }
  if (why !== undefined) return `${subject} is gone by ${formatDuration(at)}: ${why}`;
  const later = sorted.find((r) => r.step.action.kind === 'toxic' && r.step.action.proxy === proxy &&
    r.step.action.name === toxic && r.step.atMs > at);
  if (later) return `${subject} is only added later, by ${later.path} at ${formatDuration(later.step.atMs)}; steps run in order of 'at'`;
  return `no ${subject}: no toxic step with an earlier 'at' adds it (a toxic's name defaults to <type>_<stream>)`;
}
