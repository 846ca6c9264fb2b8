// What a run changed, and how to undo it. The ledger is written as the run goes (every toxic it
// added, the first value of every proxy field it changed, the original of every existing toxic
// it updated or removed, the proxies it created); rollback() undoes all of it, whatever ended
// the run. Every undo runs even if others fail (they run in parallel, so a healthy server is
// done in milliseconds); a toxic or proxy already gone (404: a ttl expired, someone deleted
// it) counts as undone; every other failure is reported loudly and returned.

import { isNotFound, type ProxyFields, type ProxyJson, type ScenarioApi, type ToxicBody, type ToxicJson } from './api-client.js';

export interface AddedToxic {
  server: string;
  proxy: string;
  name: string;
  /** When the toxic is planned to end, in ms from the timeline's start (its ttl counts to it). */
  endMs: number;
}

interface ProxyOriginal { server: string; name: string; fields: ProxyFields }
interface ToxicOriginal { server: string; proxy: string; toxic: ToxicJson }

export interface RollbackResult {
  ok: boolean;
  errors: string[];
  /** How many undo calls were made, and how long the whole rollback took. */
  actions: number;
  ms: number;
}

const FIELDS = ['enabled', 'upstream', 'listen'] as const;
const key = (...parts: string[]) => parts.join('\u0000');

export class RunLedger {
  readonly createdProxies = new Map<string, { server: string; name: string }>();
  readonly toxics = new Map<string, AddedToxic>();
  readonly proxyOriginals = new Map<string, ProxyOriginal>();
  /** Toxics that existed before the run and that it updated: their values before. */
  readonly updatedToxics = new Map<string, ToxicOriginal>();
  /** Toxics that existed before the run and that it removed: their JSON, to add them back. */
  readonly removedToxics = new Map<string, ToxicOriginal>();

  proxyCreated(server: string, name: string): void {
    this.createdProxies.set(key(server, name), { server, name });
  }

  isCreated(server: string, proxy: string): boolean {
    return this.createdProxies.has(key(server, proxy));
  }

  toxicAdded(toxic: AddedToxic): void {
    this.toxics.set(key(toxic.server, toxic.proxy, toxic.name), toxic);
  }

  addedToxic(server: string, proxy: string, name: string): AddedToxic | undefined {
    return this.toxics.get(key(server, proxy, name));
  }

  /** The toxics the run added that are still in place, all or on one proxy. */
  addedToxics(proxy: string | null = null): AddedToxic[] {
    return [...this.toxics.values()].filter((t) => proxy === null || t.proxy === proxy);
  }

  /** A toxic the run added is gone (removed by a step, a revert or a heal). */
  toxicGone(server: string, proxy: string, name: string): void {
    this.toxics.delete(key(server, proxy, name));
  }

  /** Before an update of an existing toxic: keeps its first values, unless the run added it. */
  toxicUpdating(server: string, proxy: string, before: ToxicJson): void {
    const k = key(server, proxy, before.name);
    if (this.toxics.has(k) || this.updatedToxics.has(k)) return;
    this.updatedToxics.set(k, { server, proxy, toxic: before });
  }

  /** Before a removal: a toxic the run added is simply gone; an older one is kept to restore. */
  toxicRemoving(server: string, proxy: string, before: ToxicJson): void {
    const k = key(server, proxy, before.name);
    if (this.toxics.delete(k)) return;
    // Restore what was there before the run, not an update the run made to it.
    const original = this.updatedToxics.get(k)?.toxic ?? before;
    this.updatedToxics.delete(k);
    if (!this.removedToxics.has(k)) this.removedToxics.set(k, { server, proxy, toxic: original });
  }

  /** An existing toxic the run removed is back (a `for` revert put it back). */
  toxicRestored(server: string, proxy: string, name: string): void {
    this.removedToxics.delete(key(server, proxy, name));
  }

  /** Before a proxy update: keeps the first value of each field it changes (not for proxies
   *  the run created: those are deleted at the end anyway). */
  proxyChanging(server: string, before: ProxyJson, fields: ProxyFields): void {
    if (this.isCreated(server, before.name)) return;
    const k = key(server, before.name);
    const entry = this.proxyOriginals.get(k) ?? { server, name: before.name, fields: {} };
    for (const f of FIELDS) {
      if (fields[f] !== undefined && !(f in entry.fields)) (entry.fields as Record<string, unknown>)[f] = before[f];
    }
    this.proxyOriginals.set(k, entry);
  }

  /** After a revert: fields back at their original values need no rollback. */
  proxyRestored(server: string, name: string, fields: ProxyFields): void {
    const k = key(server, name);
    const entry = this.proxyOriginals.get(k);
    if (entry === undefined) return;
    for (const f of FIELDS) {
      if (fields[f] !== undefined && entry.fields[f] === fields[f]) delete entry.fields[f];
    }
    if (Object.keys(entry.fields).length === 0) this.proxyOriginals.delete(k);
  }
}

/**
 * Undoes everything in the ledger: removes the toxics the run added, restores proxy fields and
 * existing toxics, then deletes the proxies the run created. Never throws.
 */
export async function rollback(
  ledger: RunLedger, apis: ReadonlyMap<string, ScenarioApi>, out: (line: string) => void, timeoutMs = 2_000,
): Promise<RollbackResult> {
  const started = performance.now();
  const errors: string[] = [];
  let actions = 0;
  const attempt = async (server: string, what: string, call: (api: ScenarioApi) => Promise<unknown>, onDone: () => void) => {
    actions++;
    const api = apis.get(server);
    try {
      if (api === undefined) throw new Error(`no server named ${server}`);
      await call(api);
      onDone();
    } catch (err) {
      if (isNotFound(err)) { onDone(); return; }
      const message = `could not ${what} on server ${server}: ${err instanceof Error ? err.message : String(err)}`;
      errors.push(message);
      out(`ROLLBACK FAILED: ${message}`);
    }
  };

  await Promise.all([
    ...[...ledger.toxics.values()].map((t) => attempt(t.server, `remove toxic ${t.name} from ${t.proxy}`,
      (api) => api.removeToxic(t.proxy, t.name, timeoutMs), () => ledger.toxicGone(t.server, t.proxy, t.name))),
    ...[...ledger.proxyOriginals.values()].map((p) => attempt(p.server, `restore ${describeFields(p.fields)} of proxy ${p.name}`,
      (api) => api.updateProxy(p.name, p.fields, timeoutMs), () => ledger.proxyRestored(p.server, p.name, p.fields))),
    ...[...ledger.updatedToxics.entries()].map(([k, t]) => attempt(t.server, `restore toxic ${t.toxic.name} on ${t.proxy}`,
      (api) => api.updateToxic(t.proxy, t.toxic.name, { toxicity: t.toxic.toxicity, attributes: t.toxic.attributes }, timeoutMs),
      () => ledger.updatedToxics.delete(k))),
    ...[...ledger.removedToxics.values()].map((t) => attempt(t.server, `add back toxic ${t.toxic.name} on ${t.proxy}`,
      (api) => api.addToxic(t.proxy, readdBody(t.toxic), timeoutMs), () => ledger.toxicRestored(t.server, t.proxy, t.toxic.name))),
  ]);
  // Last, so nothing above races a deletion.
  await Promise.all([...ledger.createdProxies.entries()].map(([k, p]) => attempt(p.server, `delete proxy ${p.name}`,
    (api) => api.deleteProxy(p.name, timeoutMs), () => ledger.createdProxies.delete(k))));

  const ms = Math.round(performance.now() - started);
  if (errors.length === 0) out(`rollback: ok, ${actions} change${actions === 1 ? '' : 's'} undone in ${ms}ms`);
  else out(`ROLLBACK INCOMPLETE: ${errors.length} of ${actions} undo actions failed (see above); the servers may still carry faults until their ttls expire`);
  return { ok: errors.length === 0, errors, actions, ms };
}

export function describeFields(fields: ProxyFields): string {
  return FIELDS.filter((f) => fields[f] !== undefined).map((f) => `${f}=${String(fields[f])}`).join(' ');
}

/** An existing toxic as it was, with what was left of its ttl (if it had one). */
export function readdBody(toxic: ToxicJson): ToxicBody {
  const body = { name: toxic.name, type: toxic.type, stream: toxic.stream, toxicity: toxic.toxicity, attributes: toxic.attributes };
  if (toxic.expires_at === undefined) return body;
  return { ...body, ttl: Math.max(1, Date.parse(toxic.expires_at) - Date.now()) };
}
