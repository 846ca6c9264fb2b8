// Game-day runs on the server itself (POST /scenarios/runs), so a run outlives the client that
// started it and the dashboard can launch and watch it. The run drives this very server over
// its REST API (`default` is the server's own URL), exactly as `faultline run` would.
// Each run is stored when it starts and again when it ends. While it runs, a bus listener
// sees what this server does to the scenario's proxies (exact, with or without an event log);
// other servers the scenario drives are read over their API after the run (observe.ts). The
// record's windows and event counts are built from both (record.ts). Aborting a run (DELETE,
// or the server closing) rolls it back before its final record is written.
// Runs from `faultline run` are stored here too, finished, with PUT (`put`).

import { nanoid } from 'nanoid';
import { publicId } from '../ids.js';
import { FaultlineError } from '../errors.js';
import type { BusEvents, EventBus, ScenarioEvent } from '../events/bus.js';
import { memoryRecords } from '../store/json-record-repo.js';
import type { RunStore, RunSummary, StoredRun } from '../store/run-repo.js';
import { ScenarioApi } from './api-client.js';
import { observeServers, watchBus } from './observe.js';
import { parseScenario } from './parse.js';
import { renderReportHtml } from './report-html.js';
import { asRunRecord } from './report.js';
import { newRecord, proxiesByServer, settle, withEvidence, type Observation, type RunRecord, type Seen } from './record.js';
import { runScenario } from './runner.js';
import type { Scenario } from './types.js';

export type { FaultWindow, RunRecord } from './record.js';

export interface RunManagerOptions {
  bus: EventBus;
  /** The server's own API URL, the runs' `default` server (known once it listens). */
  url: () => string;
  store: RunStore;
  /** Added to every toxic's ttl beyond its planned end (the runner's default when absent). */
  graceMs?: number;
  /** Whether this server keeps an event log, so a record can link to its events. Default true. */
  eventLog?: boolean;
  /** Lets posted scenarios run exec probes (`faultline serve --allow-exec`), and then only for
   *  requests that carry the server's token. Default false. */
  allowExec?: boolean;
}

/** What a posted run's exec probes see of the environment: nothing of the server's (its
 *  secrets stay its own), a PATH to find common tools, and what each probe declares. */
export const SERVER_EXEC_ENV: Readonly<Record<string, string>> = { PATH: '/usr/local/bin:/usr/bin:/bin' };

export const INTERRUPTED_REASON = 'interrupted: the server stopped during the run (the toxics it added expire by their ttl)';

interface Live { record: RunRecord; controller: AbortController; done: Promise<void> }

export class RunManager {
  private readonly live = new Map<string, Live>();
  private readonly closing = new AbortController();

  constructor(private readonly options: RunManagerOptions) {}

  /** Ends the runs a crash left marked running; the server calls it once at start. */
  recover(): Promise<string[]> {
    return this.options.store.endInterrupted(Date.now(), INTERRUPTED_REASON);
  }

  async start(text: string, from: { token: boolean }): Promise<{ record: RunRecord } | { issues: string[] }> {
    if (this.closing.signal.aborted) throw new FaultlineError('ERR_INTERNAL', 'the server is closing');
    const { scenario, issues } = parseScenario(text, { defaultServer: this.options.url() });
    if (scenario === null) {
      return { issues: issues.map((i) => `${i.line}:${i.column}: ${i.path === '' ? '' : `${i.path}: `}${i.message}`) };
    }
    this.checkExec(scenario, from.token);
    const record = newRecord({ id: publicId(), origin: 'server', scenario, text, startedAt: Date.now() });
    await this.options.store.save(record);
    const controller = new AbortController();
    const live: Live = { record, controller, done: Promise.resolve() };
    this.live.set(record.id, live);
    this.emit('scenario:started', record, { duration_ms: record.duration_ms });
    live.done = this.execute(scenario, record, controller.signal).finally(() => this.live.delete(record.id));
    return { record: { ...record } };
  }

  /** A run that would execute commands on this host needs both the server's consent and the
   *  token, checked before anything is stored or started. The token is asked of every client,
   *  browser or not: Toxiproxy's clients reach the rest of the API without one. */
  private checkExec(scenario: Scenario, token: boolean): void {
    const names = execProbeNames(scenario);
    if (names.length === 0) return;
    const which = `the scenario has exec probes (${names.join(', ')})`;
    if (this.options.allowExec !== true) {
      throw new FaultlineError('ERR_EXEC_NOT_ALLOWED', `exec not allowed on this server: ${which}; ` +
        'start the server with faultline serve --allow-exec to let runs posted with its token execute commands, ' +
        'or run the file from a shell with faultline run FILE');
    }
    if (!token) {
      throw new FaultlineError('ERR_EXEC_NEEDS_TOKEN', `exec needs the token: ${which}; ` +
        'send the server\'s token (faultline serve --token, or FAULTLINE_TOKEN) in the X-Faultline-Token header');
    }
  }

  /** Stores a finished run's record sent by a client (`faultline run`; the API checked its
   *  fields), as origin `cli`. */
  async put(record: { id: string } & Record<string, unknown>): Promise<'created' | 'replaced'> {
    if (this.live.has(record.id)) throw new FaultlineError('ERR_RUN_RUNNING');
    const existed = (await this.options.store.get(record.id)) !== null;
    await this.options.store.save({ ...record, origin: 'cli' } as unknown as StoredRun);
    return existed ? 'replaced' : 'created';
  }

  async list(): Promise<RunSummary[]> {
    return this.options.store.list();
  }

  async get(id: string): Promise<RunRecord | null> {
    const live = this.live.get(id);
    if (live !== undefined) return { ...live.record };
    return (await this.options.store.get(id)) as RunRecord | null;
  }

  /** The run's self-contained HTML report, as `faultline report` writes it (null: no such run). */
  async report(id: string): Promise<string | null> {
    const record = await this.get(id);
    return record === null ? null : renderReportHtml(asRunRecord(record, id));
  }

  async abort(id: string): Promise<'aborted' | 'finished' | 'not_found'> {
    const live = this.live.get(id);
    if (live !== undefined) {
      live.controller.abort();
      await live.done;
      return 'aborted';
    }
    return (await this.options.store.get(id)) === null ? 'not_found' : 'finished';
  }

  /** Aborts every running run and waits for their rollbacks and final records. */
  async close(): Promise<void> {
    this.closing.abort();
    const running = [...this.live.values()];
    for (const live of running) live.controller.abort();
    await Promise.all(running.map((live) => live.done));
  }

  private async execute(scenario: Scenario, record: RunRecord, signal: AbortSignal): Promise<void> {
    const url = this.options.url();
    const byServer = proxiesByServer(scenario);
    const own = [...byServer].filter(([server]) => scenario.servers[server] === url);
    const watch = watchBus(this.options.bus, new Set(own.flatMap(([, names]) => [...names])));
    let t0: number | null = null;
    // The live record stays `running` until its evidence is in, so a reader never sees a
    // verdict without its windows and counts.
    const final: RunRecord = { ...record };
    try {
      settle(final, await runScenario(scenario, {
        out: () => {},
        onTimelineStart: (at) => { t0 = at; },
        onStep: (e) => this.emit('scenario:step', record, { step: e.step, kind: e.kind, revert: e.revert, ok: e.ok, detail: e.detail }),
        signal, now: Date.now, execEnv: SERVER_EXEC_ENV, ...(this.options.graceMs !== undefined ? { graceMs: this.options.graceMs } : {}),
      }));
    } catch (err) {
      Object.assign(final, { status: 'error', exit_code: 1, reason: `runner failed: ${(err as Error).message}`, ended_at: Date.now() });
    }
    const end = final.ended_at ?? Date.now();
    await watch.stop(end, this.closing.signal);
    const observations = new Map<string, Observation>();
    for (const [server, names] of own) observations.set(server, this.ownObservation(watch.seen, names, record.started_at, end));
    const others = [...byServer].filter(([server]) => !observations.has(server) && scenario.servers[server] !== undefined);
    if (others.length > 0 && final.steps.length > 0) {
      const targets = others.map(([server, names]) => ({ server, api: new ScenarioApi(server, scenario.servers[server]!), proxies: [...names] }));
      for (const [server, o] of await observeServers(targets, record.started_at, end, { healed: final.rollback?.ok !== false })) {
        observations.set(server, o);
      }
    }
    Object.assign(record, withEvidence(final, scenario, t0, observations));
    try {
      await this.options.store.save(record);
    } catch (err) {
      this.options.bus.warn(`cannot store the record of scenario run ${record.id}: ${(err as Error).message}`, { run: record.id });
    }
    this.emit('scenario:finished', record, { status: record.status, exit_code: record.exit_code ?? 1, reason: record.reason });
  }

  private ownObservation(all: Seen, names: ReadonlySet<string>, since: number, end: number): Observation {
    const seen: Seen = { faults: all.faults.filter((f) => names.has(f.proxy)), toxics: all.toxics.filter((t) => names.has(t.proxy)) };
    const events_url = `${this.options.url()}/events?since=${since}&until=${end + 1}`;
    return {
      seen,
      observed: { source: 'events', ...(this.options.eventLog !== false ? { events_url } : {}), events: seen.faults.length + seen.toxics.length },
    };
  }

  private emit<K extends 'scenario:started' | 'scenario:step' | 'scenario:finished'>(
    kind: K, record: RunRecord, fields: Omit<BusEvents[K], keyof ScenarioEvent>,
  ): void {
    this.options.bus.emit(kind, { id: nanoid(), ts: Date.now(), run: record.id, title: record.title, ...fields } as BusEvents[K]);
  }
}

/** The names of the probes that run commands: steady state, halt conditions and steps. */
export function execProbeNames(scenario: Scenario): string[] {
  const probes = [
    ...(scenario.steadyState?.probes ?? []),
    ...scenario.haltWhen.map((h) => h.probe),
    ...scenario.timeline.flatMap((s) => (s.action.kind === 'probe' ? [s.action.probe] : [])),
  ];
  return [...new Set(probes.filter((p) => p.kind === 'exec').map((p) => p.name))];
}

/** Run records kept in memory, for a server started without persistence (db: false). */
export function memoryRunStore(): RunStore {
  return memoryRecords<StoredRun, RunSummary>(({ id, title, status, exit_code, reason, started_at, ended_at, duration_ms, origin }) =>
    ({ id, title, status, exit_code, reason, started_at, ended_at, duration_ms, origin: typeof origin === 'string' ? origin : null }));
}
