// One timeline step at a time: `at`, optionally `for`, and exactly one action, each action
// with its fixed keys and defaults. What needs the whole timeline (does the toxic an update
// names exist at that time?) is checked afterwards, in validate-timeline.ts.

import { isMap, isScalar } from 'yaml';
import type { Action, ScenarioProxy, Step } from './types.js';
import { cutsOf } from './partition-cuts.js';
import { optional, readProbe, unlessIssues } from './validate-probe.js';
import { checkAttributes, toxicType } from './validate-toxic.js';
import {
  bool, child, duration, fields, get, hostPort, item, list, lookup, oneOf, plain, text, fraction,
  type Checker, type Fields, type YamlNode,
} from './validate-node.js';
import { describeValue } from './duration.js';
import { defaultAttributes, type Attributes } from '../toxic.js';

const ACTIONS = ['toxic', 'update_toxic', 'remove_toxic', 'proxy', 'partition', 'heal', 'probe'] as const;
/** Actions that a `for` reverts (a removed toxic comes back); heal and probe are instants. */
const REVERTIBLE: readonly string[] = ['toxic', 'update_toxic', 'remove_toxic', 'proxy', 'partition'];

export interface StepContext {
  /** Proxies that validated, in file order. */
  proxies: ScenarioProxy[];
  /** Every proxy name the file lists, valid entry or not, so a broken entry is reported once. */
  names: Set<string>;
  /** Service names used in proxy labels. */
  services: Set<string>;
  /** False when some proxy entry was invalid: then "cuts no proxy" could be a false alarm. */
  proxiesValid: boolean;
  /** `proxy\0toxic` keys of toxic steps that failed to validate (`proxy\0*` when the name is
   *  unreadable): later references to them are not reported again. */
  uncertain: Set<string>;
}

export interface ReadStep {
  step: Step;
  path: string;
  /** The path of the action, e.g. `timeline[2].toxic`. */
  actionPath: string;
  /** Where a toxic reference is reported: the `toxic` or `name` value, else the action. */
  refNode: YamlNode;
  /** toxic: the attributes merged over the defaults, as the server will hold them. */
  full?: Attributes;
  /** update_toxic: its attributes node, checked once the toxic's type is known. */
  attributesNode?: YamlNode;
}

export function readStep(c: Checker, node: YamlNode, index: number, ctx: StepContext): ReadStep | undefined {
  const path = item('timeline', index);
  const before = c.issues.length;
  const f = fields(c, node, path, ['at', 'for', ...ACTIONS], ['at']);
  if (!f) return undefined;
  const atMs = optional(c, f, 'at', path, duration);
  // In file order, so "found 2" names them as written and points at the second one.
  const kinds = [...f.entries.keys()].filter((k): k is (typeof ACTIONS)[number] => (ACTIONS as readonly string[]).includes(k));
  if (kinds.length !== 1) {
    optional(c, f, 'for', path, (c2, n, p) => duration(c2, n, p, true));
    if (kinds.length === 0) c.report(f.node, path, `a step needs exactly one action (${ACTIONS.join(', ')}), found none`);
    else c.report(f.entries.get(kinds[1]!)!.key, path, `a step needs exactly one action, found ${kinds.length}: ${kinds.join(', ')}`);
    if (kinds.includes('toxic')) markUncertain(c, get(f, 'toxic'), ctx);
    return undefined;
  }
  const kind = kinds[0]!;
  const forEntry = f.entries.get('for');
  if (forEntry && !REVERTIBLE.includes(kind)) {
    c.report(forEntry.key, child(path, 'for'), `'for' does not apply to a ${kind} step; only ${REVERTIBLE.join(', ')} steps revert`);
  }
  const forMs = forEntry && REVERTIBLE.includes(kind) ? duration(c, forEntry.value, child(path, 'for'), true) ?? null : null;
  const actionPath = child(path, kind);
  const actionNode = get(f, kind);
  const read = readAction(c, kind, actionNode, actionPath, ctx);
  const result = unlessIssues(c, before, () => ({
    step: { index, atMs: atMs!, forMs, action: read!.action, line: c.lineOf(f.node) },
    path,
    actionPath,
    refNode: read!.refNode ?? actionNode,
    full: read!.full,
    attributesNode: read!.attributesNode,
  }));
  if (!result && kind === 'toxic') markUncertain(c, actionNode, ctx);
  return result;
}

interface ReadAction {
  action: Action;
  refNode?: YamlNode;
  full?: Attributes;
  attributesNode?: YamlNode;
}

function readAction(c: Checker, kind: (typeof ACTIONS)[number], node: YamlNode, path: string, ctx: StepContext): ReadAction | undefined {
  switch (kind) {
    case 'toxic': return readToxic(c, node, path, ctx);
    case 'update_toxic': return readUpdate(c, node, path, ctx);
    case 'remove_toxic': {
      const f = fields(c, node, path, ['proxy', 'toxic'], ['proxy', 'toxic']);
      if (!f) return undefined;
      const action = { kind, proxy: proxyRef(c, f, path, ctx, 'proxy')!, toxic: optional(c, f, 'toxic', path, text)! };
      return { action, refNode: get(f, 'toxic') };
    }
    case 'proxy': return readProxyChange(c, node, path, ctx);
    case 'partition': return readPartition(c, node, path, ctx);
    case 'heal': {
      const target = c.resolve(node);
      if (isScalar(target) && target.value === 'all') return { action: { kind, proxy: null } };
      if (!isMap(target)) {
        c.report(target, path, `expected 'all' or {proxy: NAME}, got ${describeValue(plain(c, target))}`);
        return undefined;
      }
      const f = fields(c, target, path, ['proxy'], ['proxy']);
      return f && { action: { kind, proxy: proxyRef(c, f, path, ctx, 'proxy')! } };
    }
    case 'probe': {
      const probe = readProbe(c, node, path);
      return probe && { action: { kind, probe } };
    }
  }
}

/** A proxy named by a step: it must be listed under `proxies`, so its server is known. */
function proxyRef(c: Checker, f: Fields, path: string, ctx: StepContext, key: string): string | undefined {
  const name = optional(c, f, key, path, text);
  if (name === undefined || ctx.names.has(name)) return name;
  const listed = ctx.names.size > 0 ? `listed: ${[...ctx.names].join(', ')}` : 'none are listed';
  c.report(get(f, key), child(path, key), `unknown proxy '${name}'; a step may only name a proxy listed under proxies (${listed})`);
  return undefined;
}

function readToxic(c: Checker, node: YamlNode, path: string, ctx: StepContext): ReadAction | undefined {
  const f = fields(c, node, path, ['proxy', 'name', 'type', 'stream', 'toxicity', 'attributes'], ['proxy', 'type']);
  if (!f) return undefined;
  const before = c.issues.length;
  const proxy = proxyRef(c, f, path, ctx, 'proxy');
  const type = optional(c, f, 'type', path, text);
  const stream = optional(c, f, 'stream', path, (c2, n, p) => oneOf(c2, n, p, ['upstream', 'downstream'] as const)) ?? 'downstream';
  const toxicity = optional(c, f, 'toxicity', path, fraction) ?? 1;
  const name = optional(c, f, 'name', path, text) ?? `${type}_${stream}`;
  if (type === undefined) return undefined;
  // The type and attributes are checked even when the proxy is wrong, so all is said at once.
  const protocol = ctx.proxies.find((p) => p.name === proxy)?.protocol;
  const definition = toxicType(c, get(f, 'type'), child(path, 'type'), type, protocol, proxy ?? '');
  if (!definition) return undefined;
  const attributes = f.entries.has('attributes')
    ? checkAttributes(c, definition, get(f, 'attributes'), child(path, 'attributes'))
    : { given: {}, full: defaultAttributes(definition) };
  if (!attributes || c.issues.length > before) return undefined;
  const action: Action = { kind: 'toxic', proxy: proxy!, name, type: type!, stream, toxicity, attributes: attributes.given };
  return { action, refNode: get(f, 'name') ?? f.node, full: attributes.full };
}

function readUpdate(c: Checker, node: YamlNode, path: string, ctx: StepContext): ReadAction | undefined {
  const f = fields(c, node, path, ['proxy', 'toxic', 'toxicity', 'attributes'], ['proxy', 'toxic']);
  if (!f) return undefined;
  const proxy = proxyRef(c, f, path, ctx, 'proxy');
  const toxic = optional(c, f, 'toxic', path, text);
  const toxicity = optional(c, f, 'toxicity', path, fraction);
  if (!f.entries.has('toxicity') && !f.entries.has('attributes')) {
    c.report(f.node, path, 'an update_toxic step needs toxicity or attributes (or both)');
  }
  const action: Action = { kind: 'update_toxic', proxy: proxy!, toxic: toxic!, attributes: {} };
  if (toxicity !== undefined) action.toxicity = toxicity;
  return { action, refNode: get(f, 'toxic'), attributesNode: get(f, 'attributes') };
}

function readProxyChange(c: Checker, node: YamlNode, path: string, ctx: StepContext): ReadAction | undefined {
  const f = fields(c, node, path, ['name', 'enabled', 'upstream', 'listen'], ['name']);
  if (!f) return undefined;
  const action: Action = { kind: 'proxy', name: proxyRef(c, f, path, ctx, 'name')! };
  const enabled = optional(c, f, 'enabled', path, bool);
  const upstream = optional(c, f, 'upstream', path, (c2, n, p) => hostPort(c2, n, p, false));
  const listen = optional(c, f, 'listen', path, (c2, n, p) => hostPort(c2, n, p, true));
  if (enabled !== undefined) action.enabled = enabled;
  if (upstream !== undefined) action.upstream = upstream;
  if (listen !== undefined) action.listen = listen;
  if (!['enabled', 'upstream', 'listen'].some((k) => f.entries.has(k))) {
    c.report(f.node, path, 'a proxy step needs at least one of enabled, upstream, listen');
  }
  return { action };
}

function readPartition(c: Checker, node: YamlNode, path: string, ctx: StepContext): ReadAction | undefined {
  const f = fields(c, node, path, ['groups', 'oneway'], ['groups']);
  if (!f) return undefined;
  const before = c.issues.length;
  const groupsPath = child(path, 'groups');
  const groupNodes = f.entries.has('groups') ? list(c, get(f, 'groups'), groupsPath, 'groups', 2) : undefined;
  const groups: string[][] = [];
  const seen = new Map<string, number>();
  groupNodes?.forEach((groupNode, g) => {
    const names = list(c, groupNode, item(groupsPath, g), 'service names', 1) ?? [];
    const group: string[] = [];
    names.forEach((nameNode, i) => {
      const where = item(item(groupsPath, g), i);
      const service = text(c, nameNode, where, 'a service name');
      if (service === undefined) return;
      const known = [...ctx.services];
      if (!ctx.services.has(service)) {
        const hint = known.length > 0 ? `services named in proxy labels: ${known.join(', ')}` : 'no proxy has labels {from, to}';
        c.report(nameNode, where, `unknown service '${service}'; ${hint}`);
      } else if (seen.has(service)) {
        c.report(nameNode, where, `service '${service}' is already in ${item(groupsPath, seen.get(service)!)}; a service belongs to one group`);
      } else {
        seen.set(service, g);
      }
      group.push(service);
    });
    groups.push(group);
  });
  const oneway = optional(c, f, 'oneway', path, bool) ?? false;
  if (oneway && groupNodes && groupNodes.length !== 2) {
    c.report(get(f, 'oneway'), child(path, 'oneway'),
      `oneway needs exactly 2 groups (it cuts traffic from the first to the second), got ${groupNodes.length}`);
  }
  if (c.issues.length > before) return undefined;
  if (ctx.proxiesValid && cutsOf(ctx.proxies, groups, oneway).length === 0) {
    const labelled = ctx.proxies.filter((p) => p.labels.from !== undefined && p.labels.to !== undefined)
      .map((p) => `${p.name} ${p.labels.from}->${p.labels.to}`);
    c.report(f.node, path, 'this partition cuts no proxy: no proxy runs from a service in one group to a service ' +
      `in another (${labelled.length > 0 ? `labelled proxies: ${labelled.join(', ')}` : 'no proxy has both labels'})`);
    return undefined;
  }
  return { action: { kind: 'partition', groups, oneway } };
}

/** A toxic step that failed: later references to its toxic should not pile on. */
function markUncertain(c: Checker, node: YamlNode, ctx: StepContext): void {
  const proxy = plain(c, lookup(c, node, 'proxy') ?? null);
  if (typeof proxy !== 'string') return;
  const name = plain(c, lookup(c, node, 'name') ?? null);
  const type = plain(c, lookup(c, node, 'type') ?? null);
  const stream = plain(c, lookup(c, node, 'stream') ?? null) ?? 'downstream';
  const key = typeof name === 'string' ? name : typeof type === 'string' ? `${type}_${String(stream)}` : '*';
  ctx.uncertain.add(`${proxy}\0${key}`);
}
