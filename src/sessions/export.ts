// A chaos session as a game-day scenario file (issue 6's format) that replays its control
// actions at the same offsets:
//   - toxic added -> a `toxic` step. Its end folds into `for` rather than a step of its own:
//     removed at t -> `for: t - at`; expired -> `for` its ttl; deleted with its proxy -> `for`
//     up to the deletion; still there at the end with a ttl -> `for` that ttl; else no `for`.
//   - toxic updated -> `update_toxic` with the attributes that changed (and toxicity if it
//     changed, or if nothing did, so the step still re-rolls it as the update did).
//   - proxy updated -> a `proxy` step with the fields (enabled, upstream, listen) that changed.
//   - proxy created -> an entry under `proxies` (listen, upstream, protocol); a proxy the
//     session touched that already existed is listed with its fields from the session's
//     start, so the file is self-contained (the runner leaves existing proxies alone).
//   - proxy deleted -> nothing: a scenario has no such action, so a comment says it was skipped.
// A toxic that already existed when the session began and that the session updates or removes
// is added by a step at 0s (commented), so those steps have something to act on. The parser
// wants an update or removal strictly after the add, so such steps move 1 ms later if needed.

import { Document, type YAMLMap, type YAMLSeq } from 'yaml';
import { formatDuration } from '../scenario/duration.js';
import type { ProxySnapshot, SessionRecord } from './record.js';

export interface ScenarioFile {
  title: string;
  description: string;
  tags: string[];
  proxies: Array<{ name: string; listen: string; upstream: string; protocol: 'tcp' | 'udp' | 'http' | 'dns' }>;
  timeline: Array<Record<string, unknown>>;
}

interface StepOut { at: number; key: string; value: Record<string, unknown>; for: number | null; note?: string }
interface Instance {
  step: StepOut; attributes: Record<string, unknown>; toxicity: unknown;
  /** expires_at as last seen, and the offset it falls at. */
  expires: unknown; ttlEnd: number | null; lastAt: number;
}

/** ttls come back a few ms short (the expiry is set just before the event is stamped): a
 *  value within 5 ms below a multiple of 10 ms is taken to be that multiple. */
function ttlFrom(expiresAt: unknown, ts: number): number | null {
  if (typeof expiresAt !== 'string') return null;
  const ms = Date.parse(expiresAt) - ts;
  if (!Number.isFinite(ms)) return null;
  const up = Math.ceil(ms / 10) * 10;
  return Math.max(1, up - ms <= 5 ? up : ms);
}

const keyOf = (proxy: string, toxic: string) => `${proxy}\0${toxic}`;
const plus = (ms: number) => `+${formatDuration(ms)}`;

/** The scenario, or null if the session has no action a scenario can replay. */
export function exportScenario(record: SessionRecord, options: { url: string; now: number }): { scenario: ScenarioFile; yaml: string } | null {
  const steps: StepOut[] = [];
  const notes: Array<{ at: number; text: string }> = [];
  const header: string[] = [];
  const start = new Map(record.start_state.map((p) => [p.name, p]));
  const listed = new Map<string, ScenarioFile['proxies'][number]>();
  const open = new Map<string, Instance>();
  const setUp = new Set<string>();

  const ensureListed = (name: string, at: number): boolean => {
    if (listed.has(name)) return true;
    const p = start.get(name);
    if (p === undefined) {
      notes.push({ at, text: `proxy ${name}: its fields are unknown (not seen at the start or created); its actions are skipped` });
      return false;
    }
    listed.set(name, fieldsOf(p));
    if (!p.enabled) steps.push({ at: 0, key: 'proxy', value: { name, enabled: false }, for: null, note: `proxy ${name} was disabled when the session started` });
    return true;
  };
  const addToxic = (proxy: string, body: Record<string, unknown>, at: number, ts: number, note?: string): Instance => {
    const step: StepOut = {
      at, key: 'toxic', for: null, ...(note !== undefined ? { note } : {}),
      value: {
        proxy, name: String(body.name), type: String(body.type), stream: String(body.stream ?? 'downstream').toLowerCase(),
        toxicity: body.toxicity ?? 1, attributes: { ...(body.attributes as Record<string, unknown> ?? {}) },
      },
    };
    steps.push(step);
    const ttl = ttlFrom(body.expires_at, ts);
    const inst: Instance = {
      step, attributes: { ...(step.value.attributes as Record<string, unknown>) }, toxicity: step.value.toxicity,
      expires: body.expires_at, ttlEnd: ttl === null ? null : at + ttl, lastAt: at,
    };
    open.set(keyOf(proxy, String(body.name)), inst);
    return inst;
  };
  /** The open instance of a toxic, or one set up at 0s from the start state. */
  const instanceOf = (proxy: string, toxic: string): Instance | null => {
    const key = keyOf(proxy, toxic);
    const inst = open.get(key);
    if (inst !== undefined) return inst;
    const body = start.get(proxy)?.toxics.find((t) => t.name === toxic);
    if (body === undefined || setUp.has(key)) return null;
    setUp.add(key);
    return addToxic(proxy, body, 0, record.started_at, `toxic ${toxic} on ${proxy} existed when the session started`);
  };
  const close = (key: string, inst: Instance, end: number) => {
    inst.step.for = Math.max(1, end - inst.step.at, inst.lastAt - inst.step.at + 1);
    open.delete(key);
  };

  for (const a of record.actions) {
    const t = a.offset_ms;
    const body = a.body ?? {};
    if (a.kind === 'proxy:created' && !start.has(a.proxy) && !listed.has(a.proxy)) {
      listed.set(a.proxy, fieldsOf({
        name: a.proxy, listen: String(body.listen), upstream: String(body.upstream), protocol: body.protocol === 'udp' || body.protocol === 'http' || body.protocol === 'dns' ? body.protocol : 'tcp',
      }));
      if (body.enabled === false) steps.push({ at: t, key: 'proxy', value: { name: a.proxy, enabled: false }, for: null });
      continue;
    }
    if (a.kind === 'proxy:created') {
      notes.push({ at: t, text: `${plus(t)}: proxy ${a.proxy} created again; the proxies section keeps its earlier fields; skipped` });
      continue;
    }
    const toxic = a.toxic ?? '';
    const key = keyOf(a.proxy, toxic);
    if (a.kind === 'toxic:expired' && !open.has(key)) {
      notes.push({ at: t, text: `${plus(t)}: toxic ${toxic} on ${a.proxy} expired (added before the session); nothing to replay` });
      continue;
    }
    if (!ensureListed(a.proxy, t)) continue;
    switch (a.kind) {
      case 'proxy:updated': {
        const changes = a.changes ?? {};
        if (Object.keys(changes).length === 0) notes.push({ at: t, text: `${plus(t)}: proxy ${a.proxy} updated with no change to enabled, upstream or listen; skipped` });
        else steps.push({ at: t, key: 'proxy', value: { name: a.proxy, ...changes }, for: null });
        break;
      }
      case 'proxy:deleted':
        for (const [k, inst] of [...open]) if (k.startsWith(`${a.proxy}\0`)) close(k, inst, t);
        notes.push({ at: t, text: `${plus(t)}: proxy ${a.proxy} deleted; a scenario has no action for that; skipped` });
        break;
      case 'toxic:added': {
        const was = open.get(key);
        if (was !== undefined) close(key, was, t);
        addToxic(a.proxy, body, t, a.ts);
        break;
      }
      case 'toxic:updated': {
        const inst = instanceOf(a.proxy, toxic);
        if (inst === null) {
          notes.push({ at: t, text: `${plus(t)}: toxic ${toxic} on ${a.proxy} updated, but its settings before are unknown; skipped` });
          break;
        }
        const attributes = (body.attributes ?? {}) as Record<string, unknown>;
        const changed = Object.fromEntries(Object.entries(attributes).filter(([k, v]) => inst.attributes[k] !== v));
        const value: Record<string, unknown> = { proxy: a.proxy, toxic };
        if (body.toxicity !== inst.toxicity || Object.keys(changed).length === 0) value.toxicity = body.toxicity ?? inst.toxicity;
        if (Object.keys(changed).length > 0) value.attributes = changed;
        const at = Math.max(t, inst.step.at + 1);
        steps.push({ at, key: 'update_toxic', value, for: null });
        Object.assign(inst, { attributes: { ...attributes }, toxicity: body.toxicity ?? inst.toxicity, lastAt: Math.max(inst.lastAt, at) });
        if (body.expires_at !== inst.expires) {
          const ttl = ttlFrom(body.expires_at, a.ts);
          Object.assign(inst, { expires: body.expires_at, ttlEnd: ttl === null ? null : t + ttl });
        }
        break;
      }
      case 'toxic:removed':
      case 'toxic:expired': {
        const inst = instanceOf(a.proxy, toxic);
        if (inst === null) {
          notes.push({ at: t, text: `${plus(t)}: toxic ${toxic} on ${a.proxy} removed, but its settings are unknown; skipped` });
          break;
        }
        close(key, inst, a.kind === 'toxic:expired' && inst.ttlEnd !== null ? inst.ttlEnd : t);
        break;
      }
    }
  }
  for (const [key, inst] of [...open]) if (inst.ttlEnd !== null) close(key, inst, inst.ttlEnd);
  if (steps.length === 0) return null;

  for (const name of listed.keys()) {
    const p = start.get(name);
    const untouched = (p?.toxics ?? []).map((t) => String(t.name)).filter((t) => !setUp.has(keyOf(name, t)));
    if (untouched.length > 0) header.push(`proxy ${name} also carried toxics the session did not touch: ${untouched.join(', ')}`);
  }
  steps.sort((x, y) => x.at - y.at);
  const scenario: ScenarioFile = {
    title: record.name,
    description: `Recorded chaos session ${record.id}: ${record.action_count} actions over ` +
      `${formatDuration((record.ended_at ?? options.now) - record.started_at)}, from ${new Date(record.started_at).toISOString()}`,
    tags: ['recorded-session'],
    proxies: [...listed.values()],
    timeline: steps.map((s) => ({ at: formatDuration(s.at), [s.key]: s.value, ...(s.for !== null ? { for: formatDuration(s.for) } : {}) })),
  };
  return { scenario, yaml: render(record, scenario, steps, notes, header, options) };
}

function fieldsOf(p: Pick<ProxySnapshot, 'name' | 'listen' | 'upstream' | 'protocol'>): ScenarioFile['proxies'][number] {
  return { name: p.name, listen: p.listen, upstream: p.upstream, protocol: p.protocol };
}

function render(
  record: SessionRecord, scenario: ScenarioFile, steps: StepOut[], notes: Array<{ at: number; text: string }>,
  header: string[], options: { url: string; now: number },
): string {
  const doc = new Document(scenario);
  const end = record.ended_at === null ? `still recording at ${new Date(options.now).toISOString()}` : new Date(record.ended_at).toISOString();
  doc.commentBefore = [
    `Exported by faultline from chaos session ${record.id} (${JSON.stringify(record.name)}) on ${options.url},`,
    `recorded ${new Date(record.started_at).toISOString()} to ${end}.`,
    'It replays the control actions at their offsets from the session\'s start. A toxic that was',
    'removed, expired or lost with its proxy has a `for` of how long it stayed.',
    'Proxies the session created are created by the run and deleted after it; the others are',
    'listed with their fields at the session\'s start, and a server that has them keeps them as they are.',
    ...header,
  ].map((line) => ` ${line}`).join('\n');
  const flow = (node: unknown) => { for (const item of (node as YAMLSeq).items) (item as YAMLMap).flow = true; };
  (doc.get('tags') as YAMLSeq).flow = true;
  flow(doc.get('proxies'));
  const timeline = doc.get('timeline') as YAMLSeq;
  flow(timeline);
  const before = new Map<number, string[]>();
  const trailing: string[] = [];
  steps.forEach((s, i) => { if (s.note !== undefined) before.set(i, [s.note]); });
  for (const note of notes) {
    const i = steps.findIndex((s) => s.at >= note.at);
    if (i < 0) trailing.push(note.text);
    else before.set(i, [...(before.get(i) ?? []), note.text]);
  }
  for (const [i, lines] of before) (timeline.items[i] as YAMLMap).commentBefore = lines.map((l) => ` ${l}`).join('\n');
  if (trailing.length > 0) timeline.comment = trailing.map((l) => ` ${l}`).join('\n');
  return doc.toString({ lineWidth: 0 });
}
