// One timeline step's action as API calls, and how to revert it when the step has a `for`.
// Every toxic the run adds carries a ttl of its remaining planned time plus a grace period, so
// servers heal themselves even if the runner dies; the ledger records each change for the
// rollback at the end. A step either succeeds (returning a description and, when it can be
// reverted, the revert) or throws; a partial success (one of several partition toxics) is
// still recorded in the ledger, so the rollback undoes it.

import { isNotFound, type ProxyFields, type ScenarioApi, type ToxicBody } from './api-client.js';
import { partitionCuts } from './partition-cuts.js';
import { describeFields, readdBody, type AddedToxic, type RunLedger } from './rollback.js';
import type { Action, Scenario, Step } from './types.js';

export interface ActionContext {
  scenario: Scenario;
  apis: ReadonlyMap<string, ScenarioApi>;
  ledger: RunLedger;
  graceMs: number;
  /** Milliseconds since the timeline started. */
  elapsed(): number;
}

export interface ActionOutcome {
  /** What was done, for the live output: `added latency toxic lat on db (downstream, ttl 15000ms)`. */
  detail: string;
  /** Undoes the step (for `for`); resolves with what it did. */
  revert: (() => Promise<string>) | null;
}

type Of<K extends Action['kind']> = Extract<Action, { kind: K }>;

/** Which server a proxy lives on: the one its scenario entry names, else `default`. */
export function serverOf(scenario: Scenario, proxy: string): string {
  return scenario.proxies.find((p) => p.name === proxy)?.server ?? 'default';
}

export function apiFor(ctx: ActionContext, server: string): ScenarioApi {
  const api = ctx.apis.get(server);
  if (api === undefined) throw new Error(`no server named ${server}`);
  return api;
}

export async function executeAction(ctx: ActionContext, step: Step): Promise<ActionOutcome> {
  const a = step.action;
  switch (a.kind) {
    case 'toxic': return addToxic(ctx, step, a);
    case 'update_toxic': return updateToxic(ctx, step, a);
    case 'remove_toxic': return removeToxic(ctx, step, a);
    case 'proxy': return changeProxy(ctx, a);
    case 'partition': return partition(ctx, step, a);
    case 'heal': return { detail: await heal(ctx, a.proxy), revert: null };
    case 'probe': throw new Error('probe steps are run by the timeline');
  }
}

/** The ttl that carries a toxic to its planned end, plus the grace period. */
function ttlTo(ctx: ActionContext, endMs: number): number {
  return Math.max(1, Math.round(endMs - ctx.elapsed() + ctx.graceMs));
}

function endOf(ctx: ActionContext, step: Step): number {
  return step.forMs !== null ? step.atMs + step.forMs : ctx.scenario.durationMs;
}

/** Removes a toxic the run added, if it is still there; a 404 (it expired) is fine. */
async function removeAdded(ctx: ActionContext, t: AddedToxic): Promise<void> {
  try {
    await apiFor(ctx, t.server).removeToxic(t.proxy, t.name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  ctx.ledger.toxicGone(t.server, t.proxy, t.name);
}

async function addToxic(ctx: ActionContext, step: Step, a: Of<'toxic'>): Promise<ActionOutcome> {
  const server = serverOf(ctx.scenario, a.proxy);
  const endMs = endOf(ctx, step);
  const body: ToxicBody = {
    name: a.name, type: a.type, stream: a.stream, toxicity: a.toxicity, attributes: a.attributes, ttl: ttlTo(ctx, endMs),
  };
  await apiFor(ctx, server).addToxic(a.proxy, body);
  const added: AddedToxic = { server, proxy: a.proxy, name: a.name, endMs };
  ctx.ledger.toxicAdded(added);
  return {
    detail: `${a.name} on ${a.proxy}: added ${a.type} ${a.stream}, ttl ${body.ttl}ms`,
    revert: async () => {
      if (ctx.ledger.addedToxic(server, a.proxy, a.name) === undefined) return `toxic ${a.name} on ${a.proxy} already gone`;
      await removeAdded(ctx, added);
      return `removed toxic ${a.name} from ${a.proxy}`;
    },
  };
}

async function updateToxic(ctx: ActionContext, step: Step, a: Of<'update_toxic'>): Promise<ActionOutcome> {
  const server = serverOf(ctx.scenario, a.proxy);
  const api = apiFor(ctx, server);
  const before = await api.getToxic(a.proxy, a.toxic);
  ctx.ledger.toxicUpdating(server, a.proxy, before);
  const added = ctx.ledger.addedToxic(server, a.proxy, a.toxic);
  // A toxic the run added keeps a ttl to its planned end; an older one is not given a ttl.
  const ttl = () => (added !== undefined ? { ttl: ttlTo(ctx, added.endMs) } : {});
  const body = { attributes: a.attributes, ...(a.toxicity !== undefined ? { toxicity: a.toxicity } : {}), ...ttl() };
  await api.updateToxic(a.proxy, a.toxic, body);
  const revert = step.forMs === null ? null : async () => {
    try {
      await api.updateToxic(a.proxy, a.toxic, { toxicity: before.toxicity, attributes: before.attributes, ...ttl() });
    } catch (err) {
      if (isNotFound(err)) return `toxic ${a.toxic} on ${a.proxy} already gone`;
      throw err;
    }
    return `restored toxic ${a.toxic} on ${a.proxy}`;
  };
  const changes = Object.entries(a.attributes).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  if (a.toxicity !== undefined) changes.push(`toxicity=${a.toxicity}`);
  return { detail: `${a.toxic} on ${a.proxy}: ${changes.join(' ')}${body.ttl !== undefined ? `, ttl ${body.ttl}ms` : ''}`, revert };
}

async function removeToxic(ctx: ActionContext, step: Step, a: Of<'remove_toxic'>): Promise<ActionOutcome> {
  const server = serverOf(ctx.scenario, a.proxy);
  const api = apiFor(ctx, server);
  const before = await api.getToxic(a.proxy, a.toxic);
  const added = ctx.ledger.addedToxic(server, a.proxy, a.toxic);
  await api.removeToxic(a.proxy, a.toxic);
  ctx.ledger.toxicRemoving(server, a.proxy, before);
  const revert = step.forMs === null ? null : async () => {
    const body = added !== undefined ? { ...readdBody({ ...before, expires_at: undefined }), ttl: ttlTo(ctx, added.endMs) } : readdBody(before);
    await api.addToxic(a.proxy, body);
    if (added !== undefined) ctx.ledger.toxicAdded(added);
    else ctx.ledger.toxicRestored(server, a.proxy, a.toxic);
    return `added back toxic ${a.toxic} on ${a.proxy}`;
  };
  return { detail: `${a.toxic} on ${a.proxy}: removed`, revert };
}

async function changeProxy(ctx: ActionContext, a: Of<'proxy'>): Promise<ActionOutcome> {
  const server = serverOf(ctx.scenario, a.name);
  const api = apiFor(ctx, server);
  const fields: ProxyFields = {};
  if (a.enabled !== undefined) fields.enabled = a.enabled;
  if (a.upstream !== undefined) fields.upstream = a.upstream;
  if (a.listen !== undefined) fields.listen = a.listen;
  const before = await api.getProxy(a.name);
  if (before === null) throw new Error(`HTTP 404: proxy ${a.name} not found on server ${server}`);
  ctx.ledger.proxyChanging(server, before, fields);
  await api.updateProxy(a.name, fields);
  const previous: ProxyFields = {};
  if (fields.enabled !== undefined) previous.enabled = before.enabled;
  if (fields.upstream !== undefined) previous.upstream = before.upstream;
  if (fields.listen !== undefined) previous.listen = before.listen;
  return {
    detail: `${a.name}: ${describeFields(fields)}`,
    revert: async () => {
      await api.updateProxy(a.name, previous);
      ctx.ledger.proxyRestored(server, a.name, previous);
      return `restored ${describeFields(previous)} on proxy ${a.name}`;
    },
  };
}

async function partition(ctx: ActionContext, step: Step, a: Of<'partition'>): Promise<ActionOutcome> {
  const endMs = endOf(ctx, step);
  const ttl = ttlTo(ctx, endMs);
  const cuts = partitionCuts(ctx.scenario, a).map((c) => ({
    ...c, server: serverOf(ctx.scenario, c.proxy), name: `scenario_partition_${step.index}_${c.stream}`,
  }));
  const results = await Promise.allSettled(cuts.map(async (c) => {
    await apiFor(ctx, c.server).addToxic(c.proxy, { name: c.name, type: 'partition', stream: c.stream, toxicity: 1, attributes: {}, ttl });
    const added: AddedToxic = { server: c.server, proxy: c.proxy, name: c.name, endMs };
    ctx.ledger.toxicAdded(added);
    return added;
  }));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  const added = results.map((r) => (r as PromiseFulfilledResult<AddedToxic>).value);
  const groups = a.groups.map((g) => `[${g.join(', ')}]`).join(a.oneway ? ' -> ' : ' | ');
  const what = cuts.length === 0 ? 'no labelled proxy crosses the groups' : cuts.map((c) => `${c.proxy} ${c.stream}`).join(', ');
  return {
    detail: `${groups}: cut ${what}${cuts.length > 0 ? `, ttl ${ttl}ms` : ''}`,
    revert: async () => {
      const still = added.filter((t) => ctx.ledger.addedToxic(t.server, t.proxy, t.name) !== undefined);
      await Promise.all(still.map((t) => removeAdded(ctx, t)));
      return `healed partition of step ${step.index} (${still.length} toxic${still.length === 1 ? '' : 's'} removed)`;
    },
  };
}

/** Removes every toxic the run added (all, or on one proxy); every removal is attempted. */
export async function heal(ctx: ActionContext, proxy: string | null): Promise<string> {
  const toxics = ctx.ledger.addedToxics(proxy);
  const results = await Promise.allSettled(toxics.map((t) => removeAdded(ctx, t)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return `${proxy ?? 'all'}: removed ${toxics.length} toxic${toxics.length === 1 ? '' : 's'}`;
}
