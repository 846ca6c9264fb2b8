// Probes that run while the timeline does:
// - halt monitors: each halt_when probe runs every 250 ms (or a quarter of failing_for, if
//   shorter); once it has failed continuously for failing_for, the run halts at once;
// - the steady-state monitor (`during`): every steady-state probe at that interval; a failure
//   marks the run deviated (it does not stop it).
// Both stop when their signal fires (the timeline ended, or the run stopped).

import { describeProbe } from './probes.js';
import { sleepUntil } from './timeline.js';
import type { HaltCondition, Probe, ProbeResult, SteadyState } from './types.js';

export type ProbePhase = 'before' | 'during' | 'after' | 'halt' | 'step';

export interface MonitorHooks {
  signal: AbortSignal;
  say(line: string): void;
  probe(probe: Probe, phase: ProbePhase): Promise<ProbeResult>;
}

const HALT_INTERVAL_MS = 250;
const MIN_INTERVAL_MS = 10;

export function haltInterval(failingForMs: number): number {
  return Math.max(MIN_INTERVAL_MS, Math.min(HALT_INTERVAL_MS, failingForMs / 4));
}

/** Watches one halt condition; calls `halt` (once) when it has failed for long enough. */
export async function watchHalt(cond: HaltCondition, hooks: MonitorHooks, halt: (reason: string) => void): Promise<void> {
  const interval = haltInterval(cond.failingForMs);
  let failingSince: number | null = null;
  while (!hooks.signal.aborted) {
    const started = performance.now();
    const result = await hooks.probe(cond.probe, 'halt');
    if (hooks.signal.aborted) return;
    if (result.ok) {
      if (failingSince !== null) hooks.say(`halt probe ${describeProbe(result)} (recovered)`);
      failingSince = null;
    } else {
      if (failingSince === null) {
        failingSince = started;
        hooks.say(`halt probe ${describeProbe(result)} (halts after ${cond.failingForMs}ms of failure)`);
      }
      const failingFor = performance.now() - failingSince;
      if (failingFor >= cond.failingForMs) {
        halt(`halt_when: probe ${result.probe} failed continuously for ${Math.round(failingFor)}ms ` +
          `(failing_for ${cond.failingForMs}ms): ${result.reason ?? 'failed'}`);
        return;
      }
    }
    await sleepUntil(started + interval, hooks.signal);
  }
}

/** Runs the steady-state probes every `duringMs`; each failure is passed to `deviated`. */
export async function watchSteadyState(state: SteadyState, hooks: MonitorHooks, deviated: (reason: string) => void): Promise<void> {
  if (state.duringMs === null || state.probes.length === 0) return;
  let next = performance.now() + state.duringMs;
  for (;;) {
    await sleepUntil(next, hooks.signal);
    if (hooks.signal.aborted) return;
    next += state.duringMs;
    const results = await Promise.all(state.probes.map((p) => hooks.probe(p, 'during')));
    if (hooks.signal.aborted) return;
    for (const r of results) {
      hooks.say(`steady state (during) ${describeProbe(r)}`);
      if (!r.ok) deviated(`steady state failed during the timeline: probe ${r.probe}: ${r.reason ?? 'failed'}`);
    }
    // A slow round is not followed by a burst of catch-up rounds.
    next = Math.max(next, performance.now());
  }
}
