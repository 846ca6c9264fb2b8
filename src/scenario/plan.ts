// The resolved plan of a scenario as readable lines, for `faultline run --dry-run`: a header
// (title, servers, proxies, steady-state probes, halt conditions), then one line per event in
// time order, including the reverts of `for` steps and partitions expanded to the streams they
// cut, then the final rollback. Nothing here touches the network.

import { formatDuration, formatOffset } from './duration.js';
import { partitionCuts, type PartitionCut } from './partition-cuts.js';
import type { Action, Probe, Scenario, Step } from './types.js';

export { partitionCuts, type PartitionCut };

type Of<K extends Action['kind']> = Extract<Action, { kind: K }>;

interface PlanEvent {
  atMs: number;
  /** Reverts (0) come before steps (1) at the same instant, as the validator assumes. */
  rank: number;
  order: number;
  text: string;
}

export function planLines(scenario: Scenario): string[] {
  const out: string[] = [`scenario: ${scenario.title}`];
  if (scenario.description !== undefined) out.push(`  ${scenario.description}`);
  if (scenario.tags.length > 0) out.push(`  tags: ${scenario.tags.join(', ')}`);

  out.push('servers:');
  out.push(...columns(Object.entries(scenario.servers).map(([name, url]) => [name, url])));

  if (scenario.proxies.length === 0) out.push('proxies: none');
  else out.push('proxies (created if missing, removed afterwards if the run created them):');
  out.push(...columns(scenario.proxies.map((p) => [
    `${p.name}@${p.server}`, p.protocol, `${p.listen} -> ${p.upstream}`,
    p.labels.from !== undefined || p.labels.to !== undefined ? `labels ${p.labels.from ?? '?'} -> ${p.labels.to ?? '?'}` : '',
  ])));

  const steady = scenario.steadyState;
  if (steady === null) {
    out.push('steady state: none (no probes before, during or after the timeline)');
  } else {
    const during = steady.duringMs === null ? '' : `, and every ${formatDuration(steady.duringMs)} during it`;
    out.push(`steady state (checked before and after the timeline${during}):`);
    out.push(...columns(steady.probes.map((p) => [p.name, describeProbe(p)])));
  }

  if (scenario.haltWhen.length === 0) out.push('halt when: never (no halt conditions)');
  else out.push('halt when (then stop at once and roll back):');
  out.push(...columns(scenario.haltWhen.map((h) => [h.probe.name, `fails for ${formatDuration(h.failingForMs)}`, describeProbe(h.probe)])));

  out.push(`timeline (${formatDuration(scenario.durationMs)}):`);
  const events = timelineEvents(scenario);
  const width = Math.max(8, ...events.map((e) => formatOffset(e.atMs).length));
  for (const e of events) out.push(`  ${formatOffset(e.atMs).padEnd(width)} ${e.text}`);
  return out;
}

function timelineEvents(scenario: Scenario): PlanEvent[] {
  const events: PlanEvent[] = [];
  scenario.timeline.forEach((step, order) => {
    events.push({ atMs: step.atMs, rank: 1, order, text: describeStep(scenario, step) });
    if (step.forMs !== null) {
      const at = step.atMs + step.forMs;
      events.push({ atMs: at, rank: 0, order, text: `revert: ${describeRevert(scenario, step, at)}` });
    }
  });
  events.sort((a, b) => a.atMs - b.atMs || a.rank - b.rank || a.order - b.order);
  events.push({
    atMs: scenario.durationMs, rank: 2, order: 0,
    text: 'rollback: remove every toxic the run added, restore every proxy it changed, delete the proxies it created',
  });
  return events;
}

function describeStep(scenario: Scenario, step: Step): string {
  const a = step.action;
  const on = (proxy: string) => `${proxy}@${serverOf(scenario, proxy)}`;
  switch (a.kind) {
    case 'toxic':
      return `add toxic ${a.name} (${a.type}, ${a.stream}, toxicity ${a.toxicity}) on ${on(a.proxy)}${attrs(a.attributes)}`;
    case 'update_toxic': {
      const toxicity = a.toxicity === undefined ? '' : `: toxicity ${a.toxicity}`;
      return `update toxic ${a.toxic} on ${on(a.proxy)}${toxicity}${attrs(a.attributes)}`;
    }
    case 'remove_toxic':
      return `remove toxic ${a.toxic} on ${on(a.proxy)}`;
    case 'proxy':
      return `change proxy ${on(a.name)}: ${proxyFields(a).map(([k, v]) => `${k} ${v}`).join(', ')}`;
    case 'partition':
      return `partition ${groupsText(a)}: cut ${cutsText(scenario, partitionCuts(scenario, a), true)}`;
    case 'heal':
      return a.proxy === null ? 'heal all: remove every toxic the run added'
        : `heal ${on(a.proxy)}: remove every toxic the run added on it`;
    case 'probe':
      return `probe ${a.probe.name}: ${describeProbe(a.probe)}`;
  }
}

function describeRevert(scenario: Scenario, step: Step, at: number): string {
  const a = step.action;
  switch (a.kind) {
    case 'toxic': {
      const gone = goneBefore(scenario, step, a.proxy, a.name, at);
      return `remove toxic ${a.name} on ${a.proxy}${gone === null ? '' : ` (already gone: ${gone})`}`;
    }
    case 'update_toxic':
      return `restore toxic ${a.toxic} on ${a.proxy} as it was before ${formatOffset(step.atMs)}`;
    case 'remove_toxic':
      return `add toxic ${a.toxic} back on ${a.proxy}`;
    case 'proxy':
      return `restore ${proxyFields(a).map(([k]) => k).join(', ')} of proxy ${a.name} as before ${formatOffset(step.atMs)}`;
    case 'partition':
      return `heal partition ${groupsText(a)}: remove its toxics on ${cutsText(scenario, partitionCuts(scenario, a), false)}`;
    default:
      return `${a.kind} (nothing to revert)`;
  }
}

/** What removed a toxic before its `for` ended: a removal or a heal at a later `at`. */
function goneBefore(scenario: Scenario, added: Step, proxy: string, name: string, end: number): string | null {
  const by = scenario.timeline.find((s) => s.atMs > added.atMs && s.atMs < end && (
    (s.action.kind === 'remove_toxic' && s.action.proxy === proxy && s.action.toxic === name) ||
    (s.action.kind === 'heal' && (s.action.proxy === null || s.action.proxy === proxy))));
  if (by === undefined) return null;
  return `${by.action.kind === 'heal' ? 'healed' : 'removed'} at ${formatOffset(by.atMs)}`;
}

function serverOf(scenario: Scenario, proxy: string): string {
  return scenario.proxies.find((p) => p.name === proxy)?.server ?? 'default';
}

function proxyFields(a: Of<'proxy'>): [string, string][] {
  const fields: [string, string][] = [];
  if (a.enabled !== undefined) fields.push(['enabled', String(a.enabled)]);
  if (a.upstream !== undefined) fields.push(['upstream', a.upstream]);
  if (a.listen !== undefined) fields.push(['listen', a.listen]);
  return fields;
}

function groupsText(a: Of<'partition'>): string {
  const groups = a.groups.map((g) => `[${g.join(', ')}]`);
  return a.oneway ? `${groups.join(' -> ')} (oneway)` : groups.join(' | ');
}

/** `db@edge (upstream, downstream), cache@default (upstream)`, in proxy order. */
function cutsText(scenario: Scenario, cuts: readonly PartitionCut[], withServer: boolean): string {
  const byProxy = new Map<string, string[]>();
  for (const c of cuts) byProxy.set(c.proxy, [...(byProxy.get(c.proxy) ?? []), c.stream]);
  return [...byProxy].map(([proxy, streams]) =>
    `${withServer ? `${proxy}@${serverOf(scenario, proxy)}` : proxy} (${streams.join(', ')})`).join(', ');
}

/** `  {latency: 200, jitter: 10}`, or nothing when there are no attributes. */
function attrs(attributes: Record<string, unknown>): string {
  const entries = Object.entries(attributes);
  if (entries.length === 0) return '';
  return `  {${entries.map(([k, v]) => `${k}: ${typeof v === 'string' || Array.isArray(v) ? JSON.stringify(v) : String(v)}`).join(', ')}}`;
}

export function describeProbe(p: Probe): string {
  switch (p.kind) {
    case 'tcp':
      return `tcp connect ${p.address} (timeout ${formatDuration(p.timeoutMs)})`;
    case 'http': {
      const checks = [p.status === null ? 'any status' : `status ${p.status}`];
      if (p.body !== null) checks.push(`body ${String(p.body)}`);
      if (p.maxLatencyMs !== null) checks.push(`latency <= ${formatDuration(p.maxLatencyMs)}`);
      return `http GET ${p.url}: ${checks.join(', ')} (timeout ${formatDuration(p.timeoutMs)})`;
    }
    case 'exec': {
      const checks = [`exit code ${p.exitCode}`];
      if (p.stdout !== null) checks.push(`stdout ${String(p.stdout)}`);
      // Names only: a value may have come from the environment, and plans are shared.
      const names = Object.keys(p.env ?? {});
      if (names.length > 0) checks.push(`env ${names.join(', ')}`);
      return `exec ${JSON.stringify(p.command)}: ${checks.join(', ')} (timeout ${formatDuration(p.timeoutMs)})`;
    }
  }
}

/** Rows indented two spaces, columns two spaces apart; empty trailing cells dropped. */
function columns(rows: readonly string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length); });
  return rows.map((row) => {
    const cells = [...row];
    while (cells.length > 0 && cells[cells.length - 1] === '') cells.pop();
    return `  ${cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')}`;
  });
}
