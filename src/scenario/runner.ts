// Runs a parsed scenario against faultline servers over their REST API (the embedded server
// too, so the same code drives remote ones):
//   1. every server answers GET /version, the scenario's proxies exist (missing ones are
//      created, and deleted at the end), and the steady state holds; else exit 4, nothing
//      injected;
//   2. the timeline runs (timeline.ts), watched by the halt conditions and, with `during`, the
//      steady state (monitors.ts);
//   3. the steady state is checked again (a failure: deviated, exit 1);
//   4. the rollback runs, whatever happened before it: completion, deviation, halt, a failed
//      step, an abort through `signal` (the CLI wires SIGINT and SIGTERM to it), or a bug here.
// Exit codes: 0 held, 1 deviated (or error), 2 halted (or aborted), 4 could not start
// (3, invalid, is the parser's).

import { ScenarioApi } from './api-client.js';
import { watchHalt, watchSteadyState, type ProbePhase } from './monitors.js';
import { describeProbe, runProbe } from './probes.js';
import { RunLedger, rollback } from './rollback.js';
import { type StepProgress, runTimeline, type StepRecord } from './timeline.js';
import type { Probe, ProbeResult, Scenario } from './types.js';

export type { StepProgress, StepRecord } from './timeline.js';
export type { ProbePhase } from './monitors.js';

export type RunStatus = 'held' | 'deviated' | 'halted' | 'error' | 'aborted' | 'not_started';

export interface RecordedProbe extends ProbeResult {
  /** When it ran: before or after the timeline, during it (steady state), for a halt
   *  condition, or as a timeline step. */
  phase: ProbePhase;
}

export interface RunResult {
  exitCode: 0 | 1 | 2 | 3 | 4;
  status: RunStatus;
  reason: string;
  steps: StepRecord[];
  probes: RecordedProbe[];
  rollback: { ok: boolean; errors: string[] };
  /** Epoch ms (from options.now). */
  startedAt: number;
  endedAt: number;
  /** The servers the run drove, by scenario name (the embedded one's URL included). */
  servers: Record<string, string>;
}

/** An in-process server for --embedded; the caller provides it (this layer may not import
 *  the composition root): `() => createServer({ db: ':memory:' })`. */
export interface EmbeddedServer { url: string; close(): Promise<void> }

export interface RunOptions {
  /** Run against an in-process server, used as the `default` server. */
  embedded?: boolean;
  /** Starts the embedded server; required with `embedded: true`. */
  startEmbedded?: () => Promise<EmbeddedServer>;
  /** One plain line per event. */
  out: (line: string) => void;
  /** Aborting it stops the run and rolls back (status 'aborted'). */
  signal?: AbortSignal;
  /** Added to every toxic's ttl beyond its planned end. Default 5000. */
  graceMs?: number;
  /** Structured progress for callers that track a run (the server's run manager): the
   *  timeline started (epoch ms), or a step fired or reverted. */
  onTimelineStart?: (at: number) => void;
  onStep?: (event: StepProgress) => void;
  /** Every probe result as it is recorded, whatever its phase (not the ones cut short). */
  onProbe?: (result: RecordedProbe) => void;
  /** Epoch-ms clock for startedAt, endedAt and probe timestamps. Default Date.now. */
  now?: () => number;
  /** The environment exec probes start from (each probe's `env` goes on top). Default
   *  process.env, for `faultline run`; the server passes only a PATH. */
  execEnv?: Readonly<Record<string, string>>;
}

const EXIT: Record<RunStatus, RunResult['exitCode']> = { held: 0, deviated: 1, error: 1, halted: 2, aborted: 2, not_started: 4 };
const REACH_TIMEOUT_MS = 3_000;

export async function runScenario(scenario: Scenario, options: RunOptions): Promise<RunResult> {
  const now = options.now ?? Date.now;
  const out = options.out;
  const startedAt = now();
  const graceMs = options.graceMs ?? 5_000;
  const stopper = new AbortController();
  let verdict: { status: RunStatus; reason: string } | null = null;
  let deviation: string | null = null;
  let t0: number | null = null;
  const stop = (status: RunStatus, reason: string) => {
    if (verdict !== null) return;
    verdict = { status, reason };
    stopper.abort();
  };
  const onAbort = () => stop('aborted', 'aborted (interrupted before the end)');
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const say = (line: string) => out(`[${t0 === null ? 'before' : `+${((performance.now() - t0) / 1000).toFixed(3)}s`}] ${line}`);
  const probes: RecordedProbe[] = [];
  /** Runs and records a probe; one cut short because the run (or its monitors) stopped is
   *  not a measurement, so it is not recorded. */
  const probe = async (p: Probe, phase: ProbePhase, signal: AbortSignal = stopper.signal) => {
    const result = await runProbe(p, { signal, now, ...(options.execEnv !== undefined ? { env: options.execEnv } : {}) });
    if (!(signal.aborted && result.value === 'aborted')) {
      const recorded: RecordedProbe = { ...result, phase };
      probes.push(recorded);
      options.onProbe?.(recorded);
    }
    return result;
  };
  const deviated = (reason: string) => { deviation ??= reason; };
  const servers: Record<string, string> = { ...scenario.servers };
  const apis = new Map<string, ScenarioApi>();
  const ledger = new RunLedger();
  let steps: StepRecord[] = [];
  let embedded: EmbeddedServer | null = null;

  const main = async () => {
    if (options.embedded) {
      if (options.startEmbedded === undefined) return stop('not_started', 'embedded: no server factory given (startEmbedded)');
      try {
        embedded = await options.startEmbedded();
      } catch (err) {
        return stop('not_started', `embedded server failed to start: ${err instanceof Error ? err.message : String(err)}`);
      }
      servers.default = embedded.url;
      say(`embedded server at ${embedded.url}`);
    }
    for (const [name, url] of Object.entries(servers)) apis.set(name, new ScenarioApi(name, url));

    const reach = await Promise.all([...apis.values()].map((api) => api.version(REACH_TIMEOUT_MS).then(
      (version) => { say(`server ${api.server} at ${api.baseUrl}: faultline ${version}`); return null; },
      (err: Error) => `server ${api.server} unreachable: ${err.message}`)));
    const unreachable = reach.filter((r): r is string => r !== null);
    if (unreachable.length > 0) return stop('not_started', unreachable.join('; '));
    if (stopper.signal.aborted) return;

    const ensured = await Promise.all(scenario.proxies.map(async (p) => {
      const api = apis.get(p.server);
      if (api === undefined) return `proxy ${p.name}: no server named ${p.server}`;
      try {
        const existing = await api.getProxy(p.name);
        if (existing !== null) {
          say(`proxy ${p.name} exists on ${p.server} (listen ${existing.listen}, upstream ${existing.upstream}); left as it is`);
          return null;
        }
        const created = await api.createProxy({ name: p.name, listen: p.listen, upstream: p.upstream, enabled: true, protocol: p.protocol });
        ledger.proxyCreated(p.server, p.name);
        say(`proxy ${p.name} created on ${p.server}: listen ${created.listen}, upstream ${created.upstream}`);
        return null;
      } catch (err) {
        return `proxy ${p.name} on ${p.server}: ${(err as Error).message}`;
      }
    }));
    const failures = ensured.filter((r): r is string => r !== null);
    if (failures.length > 0) return stop('not_started', `could not ensure proxies: ${failures.join('; ')}`);
    if (stopper.signal.aborted) return;

    const state = scenario.steadyState;
    if (state !== null && state.probes.length > 0) {
      const before = await Promise.all(state.probes.map((p) => probe(p, 'before')));
      for (const r of before) say(`steady state (before) ${describeProbe(r)}`);
      const failed = before.find((r) => !r.ok);
      if (failed !== undefined) {
        return stop('not_started', `steady state failed before the timeline (nothing injected): probe ${failed.probe}: ${failed.reason}`);
      }
    }
    if (stopper.signal.aborted) return;

    t0 = performance.now();
    say(`timeline starts: ${scenario.timeline.length} ${scenario.timeline.length === 1 ? 'step' : 'steps'} over ${(scenario.durationMs / 1000).toFixed(3)}s`);
    options.onTimelineStart?.(now());
    const watching = new AbortController();
    const watchSignal = AbortSignal.any([watching.signal, stopper.signal]);
    const hooks = { signal: watchSignal, say, probe: (p: Probe, phase: ProbePhase) => probe(p, phase, watchSignal) };
    const monitors = [
      ...scenario.haltWhen.map((c) => watchHalt(c, hooks, (reason) => { say(`HALT: ${reason}`); stop('halted', reason); })),
      ...(state !== null ? [watchSteadyState(state, hooks, deviated)] : []),
    ];
    try {
      steps = await runTimeline(scenario.timeline, scenario.durationMs, {
        ctx: { scenario, apis, ledger, graceMs, elapsed: () => performance.now() - t0! },
        t0, signal: stopper.signal, say, probe, deviated, failed: (reason) => stop('error', reason),
        ...(options.onStep !== undefined ? { progress: options.onStep } : {}),
      });
    } finally {
      watching.abort();
      await Promise.all(monitors);
    }
    const late = steps.reduce((m, s) => Math.max(m, s.lateMs), 0);
    say(`timeline ${stopper.signal.aborted ? 'stopped' : 'done'}: ${steps.length} of ${scenario.timeline.length} steps fired, max late ${late}ms`);

    if (stopper.signal.aborted || state === null || state.probes.length === 0) return;
    const after = await Promise.all(state.probes.map((p) => probe(p, 'after')));
    for (const r of after) say(`steady state (after) ${describeProbe(r)}`);
    const failed = after.find((r) => !r.ok);
    if (failed !== undefined) deviated(`steady state failed after the timeline: probe ${failed.probe}: ${failed.reason}`);
  };

  try {
    await main();
  } catch (err) {
    stop('error', `runner failed: ${err instanceof Error ? err.message : String(err)}`);
    say(`ERROR ${verdict!.reason}`);
  }
  options.signal?.removeEventListener('abort', onAbort);
  stopper.abort();

  const rb = await rollback(ledger, apis, out);
  if (embedded !== null) await (embedded as EmbeddedServer).close().catch((err: Error) => out(`warning: embedded server close failed: ${err.message}`));

  const settled = verdict as { status: RunStatus; reason: string } | null;
  let status: RunStatus = settled?.status ?? (deviation !== null ? 'deviated' : 'held');
  let reason = settled?.reason ?? deviation ?? (scenario.steadyState !== null ? 'the steady state held' : 'the timeline completed');
  if (!rb.ok) {
    reason += `; ROLLBACK FAILED: ${rb.errors.join('; ')}`;
    if (status === 'held' || status === 'deviated') status = 'error';
  }
  const exitCode = EXIT[status];
  out(`verdict: ${status} (exit ${exitCode}): ${reason}`);
  return {
    exitCode, status, reason, steps, probes, rollback: { ok: rb.ok, errors: rb.errors }, startedAt, endedAt: now(), servers,
  };
}
