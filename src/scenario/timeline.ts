// The timeline: fires each step at its `at` offset from the timeline's start, and each `for`
// revert at `at + for`, measured with performance.now(). Timers round to whole milliseconds and
// may fire a little early or late, so each wait ends on a timer set slightly early and is
// finished on the check phase (as the core's sleep does); every step records how late it fired.
// Steps on the same proxy run in order (a step sees the effect of the one before it), but a slow
// step never holds up the clock for the others (see Lanes); probe steps run alongside all.

import { executeAction, serverOf, type ActionContext } from './actions.js';
import { partitionCuts } from './partition-cuts.js';
import type { Probe, ProbeResult, Step } from './types.js';

export interface StepRecord {
  index: number;
  kind: Step['action']['kind'];
  atMs: number;
  /** When it actually fired, in ms from the timeline's start. */
  firedAtMs: number;
  lateMs: number;
  ok: boolean;
  /** What it did, for reports. */
  detail?: string;
  error?: string;
}

export interface StepProgress {
  step: number;
  kind: Step['action']['kind'];
  revert: boolean;
  ok: boolean;
  detail: string;
}

export interface TimelineHooks {
  ctx: ActionContext;
  /** The timeline's start, on the performance.now() clock. */
  t0: number;
  /** Fires when the run stops early (halt, abort, error): no further step fires. */
  signal: AbortSignal;
  say(line: string): void;
  /** A step fired (or, with revert, its `for` ran out and it was undone). */
  progress?(event: StepProgress): void;
  probe(probe: Probe, phase: 'step'): Promise<ProbeResult>;
  /** A probe step failed: the run deviated. */
  deviated(reason: string): void;
  /** A step or revert failed: the run stops with status error. */
  failed(reason: string): void;
}

const EARLY_MS = 2;

/** Resolves at `deadline` (performance.now() clock), or at once when the signal fires. */
export function sleepUntil(deadline: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', end);
      resolve();
    };
    const finish = () => {
      if (done) return;
      if (performance.now() < deadline) { setImmediate(finish); return; }
      end();
    };
    signal?.addEventListener('abort', end, { once: true });
    const ms = deadline - performance.now() - EARLY_MS;
    if (ms >= 1) timer = setTimeout(finish, ms);
    else setImmediate(finish);
  });
}

type Event = { at: number; revert: boolean; step: Step };

/** What a step touches: its proxies (server and name), or everything (null) for `heal: all`. */
function resourcesOf(ctx: ActionContext, step: Step): string[] | null {
  const a = step.action;
  const on = (proxy: string) => `${serverOf(ctx.scenario, proxy)}\u0000${proxy}`;
  switch (a.kind) {
    case 'toxic': case 'update_toxic': case 'remove_toxic': return [on(a.proxy)];
    case 'proxy': return [on(a.name)];
    case 'partition': return [...new Set(partitionCuts(ctx.scenario, a).map((c) => on(c.proxy)))];
    case 'heal': return a.proxy === null ? null : [on(a.proxy)];
    case 'probe': return [];
  }
}

/**
 * Orders work without holding up the clock: a step waits only for earlier steps (and
 * reverts) still in flight on the same proxies, so a slow API call on one proxy (a distant
 * server) does not make the steps on other proxies late; `heal: all` waits for everything.
 */
class Lanes {
  private readonly tails = new Map<string, Promise<void>>();
  private barrier: Promise<void> = Promise.resolve();
  readonly all = new Set<Promise<void>>();

  constructor(private readonly onError: (err: unknown) => void) {}

  run(resources: string[] | null, work: () => Promise<void>): void {
    const deps = resources === null ? [...this.all] : [this.barrier, ...resources.map((r) => this.tails.get(r))];
    const p = Promise.all(deps).then(work).catch(this.onError);
    this.all.add(p);
    void p.finally(() => this.all.delete(p));
    if (resources === null) this.barrier = p;
    else for (const r of resources) this.tails.set(r, p);
  }

  async settled(): Promise<void> {
    while (this.all.size > 0) await Promise.all([...this.all]);
  }
}

export async function runTimeline(steps: readonly Step[], durationMs: number, hooks: TimelineHooks): Promise<StepRecord[]> {
  const { ctx, t0, signal, say } = hooks;
  const events: Event[] = [];
  for (const step of steps) {
    events.push({ at: step.atMs, revert: false, step });
    if (step.forMs !== null && step.action.kind !== 'probe' && step.action.kind !== 'heal') {
      events.push({ at: step.atMs + step.forMs, revert: true, step });
    }
  }
  // Reverts first at equal times: the previous fault ends before the next begins.
  events.sort((a, b) => a.at - b.at || Number(b.revert) - Number(a.revert) || a.step.index - b.step.index);
  const records: StepRecord[] = [];
  const reverts = new Map<number, () => Promise<string>>();
  const fail = (reason: string) => { say(`ERROR ${reason}`); hooks.failed(reason); };
  const lanes = new Lanes((err) => fail(`timeline failed: ${message(err)}`));

  for (const ev of events) {
    await sleepUntil(t0 + ev.at, signal);
    if (signal.aborted) break;
    const { step } = ev;
    const label = `step ${step.index} ${step.action.kind}`;
    if (ev.revert) {
      lanes.run(resourcesOf(ctx, step), async () => {
        const revert = reverts.get(step.index);
        if (revert === undefined || signal.aborted) return;
        try {
          const detail = await revert();
          say(`revert ${label}: ${detail}`);
          hooks.progress?.({ step: step.index, kind: step.action.kind, revert: true, ok: true, detail });
        } catch (err) {
          fail(`revert of ${label} (line ${step.line}) failed: ${message(err)}`);
        }
      });
      continue;
    }
    const record: StepRecord = { index: step.index, kind: step.action.kind, atMs: step.atMs, firedAtMs: 0, lateMs: 0, ok: false };
    const fired = () => {
      const firedAtMs = performance.now() - t0;
      Object.assign(record, { firedAtMs: round(firedAtMs), lateMs: round(firedAtMs - step.atMs) });
      records.push(record);
    };
    const action = step.action;
    lanes.run(resourcesOf(ctx, step), async () => {
      if (signal.aborted) return;
      fired();
      if (action.kind === 'probe') {
        const result = await hooks.probe(action.probe, 'step');
        record.ok = result.ok;
        record.detail = `${result.probe} ${String(result.value)} in ${result.latencyMs}ms`;
        if (!result.ok) {
          record.error = result.reason ?? 'failed';
          if (!signal.aborted) hooks.deviated(`probe step ${step.index} (${result.probe}) failed: ${record.error}`);
        }
        say(`${label} ${record.detail} ${result.ok ? 'ok' : `FAILED: ${record.error}`}`);
        hooks.progress?.({ step: step.index, kind: action.kind, revert: false, ok: result.ok, detail: record.detail });
        return;
      }
      try {
        const outcome = await executeAction(ctx, step);
        record.ok = true;
        record.detail = outcome.detail;
        if (outcome.revert !== null) reverts.set(step.index, outcome.revert);
        say(`${label} ${outcome.detail} ok`);
        hooks.progress?.({ step: step.index, kind: action.kind, revert: false, ok: true, detail: outcome.detail });
      } catch (err) {
        record.error = message(err);
        hooks.progress?.({ step: step.index, kind: action.kind, revert: false, ok: false, detail: record.error });
        fail(`${label} (line ${step.line}) failed: ${record.error}`);
      }
    });
  }
  if (!signal.aborted) await sleepUntil(t0 + durationMs, signal);
  await lanes.settled();
  return records.sort((a, b) => a.atMs - b.atMs || a.index - b.index);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
