// Reads a scenario file (YAML, or JSON, which is YAML) into a typed Scenario, or reports every
// problem it finds, each with its 1-based line and column, key path and what was expected.
// YAML syntax errors are reported alone: the document they leave behind is not worth
// checking. The keys are fixed everywhere (issue 6 describes the format). Environment
// references in values (`${NAME:-default}`, interpolate.ts) are substituted before anything is
// checked, so a substituted value is checked as if it had been written there.

import { LineCounter, isMap, isScalar } from 'yaml';
import type { HaltCondition, Scenario, ScenarioIssue, ScenarioProxy, SteadyState, Step } from './types.js';
import {
  Checker, child, duration, fields, get, hostPort, httpUrl, item, list, lookup, oneOf, text, type YamlNode,
} from './validate-node.js';
import { optional, readProbe, readProbeList, unlessIssues } from './validate-probe.js';
import { readStep, type ReadStep, type StepContext } from './validate-steps.js';
import { checkTimeline } from './validate-timeline.js';
import { describeValue } from './duration.js';
import { interpolate, type Env } from './interpolate.js';
import { readYaml } from './read-yaml.js';

export interface ParseOptions {
  /** The URL of the server named `default`, unless the file defines one (from --url). */
  defaultServer: string;
  /** What `${NAME}` references read. Absent: an empty environment, where only defaults apply;
   *  never process.env implicitly, so a scenario posted to a server cannot read its secrets. */
  env?: Env;
}

export interface ParseResult {
  scenario: Scenario | null;
  /** Sorted by position; empty exactly when `scenario` is not null. */
  issues: ScenarioIssue[];
}

const HINT_LINE_CHARS = 1000;
const MAX_SYNTAX_ISSUES = 100;
const TOP_KEYS = ['title', 'description', 'tags', 'servers', 'proxies', 'steady_state', 'halt_when', 'timeline'];

export function parseScenario(source: string, options: ParseOptions): ParseResult {
  const lines = new LineCounter();
  const { doc, problems } = readYaml(source, lines);
  if (doc === null) {
    // A limit was passed: report it alone, as YAML syntax errors are.
    return { scenario: null, issues: problems.map((p) => ({ ...position(lines, p.offset), path: '', message: p.message })) };
  }
  const c = new Checker(doc, lines);
  if (problems.length > 0) {
    // Each line is looked at once for the hint: a long line can carry thousands of errors.
    const looked = new Set<number>();
    for (const e of problems.slice(0, MAX_SYNTAX_ISSUES)) {
      const key = /^("[^"\n]*"|'[^'\n]*'|[^\s:,{}[\]]+)/.exec(source.slice(e.offset, e.offset + 1024))?.[1];
      let message = e.code === 'DUPLICATE_KEY' && key !== undefined
        ? `duplicate key ${key.startsWith('"') || key.startsWith("'") ? key : `'${key}'`}; a key may appear once in a mapping`
        : `invalid YAML: ${e.message}`;
      const lineStart = lines.lineStarts[lines.linePos(e.offset).line - 1] ?? 0;
      if (!looked.has(lineStart)) {
        looked.add(lineStart);
        if (unquotedFlowReference(source, lineStart)) message += '; inside { } or [ ], a value with ${...} must be quoted, like "${NAME:-default}"';
      }
      c.reportAt(e.offset, '', message);
    }
    // Past the first errors YAML's are mostly echoes of them, and a megabyte can hold 100,000.
    const more = problems[MAX_SYNTAX_ISSUES];
    if (more !== undefined) c.reportAt(more.offset, '', `${problems.length - MAX_SYNTAX_ISSUES} more YAML errors from here on are not listed`);
    return finish(c, null);
  }
  interpolate(c, doc, options.env ?? {});
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    c.reportAt(0, '', 'the file is empty; expected a mapping with at least title and timeline');
    return finish(c, null);
  }
  const f = fields(c, doc.contents, '', TOP_KEYS, ['title', 'timeline']);
  if (!f) return finish(c, null);

  const title = optional(c, f, 'title', '', text);
  const description = optional(c, f, 'description', '', text);
  const tags = optional(c, f, 'tags', '', (c2, n, p) => list(c2, n, p, 'tags')?.map((t, i) => text(c2, t, item(p, i), 'a tag')));
  const { servers, serverNames } = readServers(c, get(f, 'servers'), options.defaultServer);
  const { proxies, ctx } = readProxies(c, get(f, 'proxies'), serverNames);
  const steadyState = optional(c, f, 'steady_state', '', readSteadyState) ?? null;
  const haltWhen = optional(c, f, 'halt_when', '', readHaltWhen) ?? [];
  const reads: ReadStep[] = [];
  const stepNodes = f.entries.has('timeline') ? list(c, get(f, 'timeline'), 'timeline', 'steps', 1) : undefined;
  stepNodes?.forEach((node, i) => {
    const read = readStep(c, node, i, ctx);
    if (read) reads.push(read);
  });
  const timeline: Step[] = checkTimeline(c, reads, proxies, ctx.uncertain);

  const scenario: Scenario = {
    title: title!,
    ...(description !== undefined ? { description } : {}),
    tags: (tags ?? []) as string[],
    servers,
    proxies,
    steadyState,
    haltWhen,
    timeline,
    durationMs: timeline.reduce((end, s) => Math.max(end, s.atMs + (s.forMs ?? 0)), 0),
  };
  return finish(c, scenario);
}

/**
 * Whether the line starting at `start` has an unquoted `${` right after a flow indicator or a
 * key inside a flow collection, where `{` ends the plain scalar: the likeliest cause of a
 * syntax error on a line that uses references.
 */
function unquotedFlowReference(source: string, start: number): boolean {
  const end = source.indexOf('\n', start);
  // Written lines are short; the cap keeps a one-line megabyte from costing quadratic time.
  const line = source.slice(start, Math.min(end < 0 ? source.length : end, start + HINT_LINE_CHARS));
  for (const m of line.matchAll(/(?:[[{,]|:\s)\s*\$\{/g)) {
    const before = line.slice(0, m.index + 1);
    const quotes = (before.match(/"/g)?.length ?? 0) + (before.match(/'/g)?.length ?? 0);
    if (quotes % 2 === 0 && /[[{]/.test(before.replace(/\$\{[^}]*\}?/g, ''))) return true;
  }
  return false;
}

function position(lines: LineCounter, offset: number): { line: number; column: number } {
  const { line, col } = lines.linePos(offset);
  return { line, column: col };
}

function finish(c: Checker, scenario: Scenario | null): ParseResult {
  const issues = c.visibleIssues().sort((a, b) => a.line - b.line || a.column - b.column);
  return { scenario: issues.length > 0 ? null : scenario, issues };
}

/** `servers: {name: url}`; `default` is the --url server unless the file names its own. */
function readServers(c: Checker, node: YamlNode | undefined, defaultServer: string) {
  const servers: Record<string, string> = { default: defaultServer };
  const serverNames = new Set(['default']);
  if (node === undefined) return { servers, serverNames };
  const target = c.resolve(node);
  if (!isMap(target)) {
    c.report(target, 'servers', `expected a mapping of server names to URLs like {edge: http://10.0.0.5:8474}, got ${describeValue(target === null ? null : (target as { toJSON(): unknown }).toJSON())}`);
    return { servers, serverNames };
  }
  for (const pair of target.items) {
    const name = text(c, pair.key, 'servers', 'a server name');
    if (name === undefined) continue;
    serverNames.add(name);
    const url = httpUrl(c, pair.value ?? lookup(c, target, name), child('servers', name), 'http://10.0.0.5:8474');
    if (url !== undefined) servers[name] = url;
  }
  return { servers, serverNames };
}

const PROXY_KEYS = ['name', 'listen', 'upstream', 'protocol', 'labels', 'server'];

function readProxies(c: Checker, node: YamlNode | undefined, serverNames: Set<string>) {
  const proxies: ScenarioProxy[] = [];
  const ctx: StepContext = { proxies, names: new Set(), services: new Set(), proxiesValid: true, uncertain: new Set() };
  const firstUse = new Map<string, string>();
  const items = node === undefined ? [] : list(c, node, 'proxies', 'proxies');
  if (!items) ctx.proxiesValid = false;
  (items ?? []).forEach((entry, i) => {
    const path = item('proxies', i);
    const before = c.issues.length;
    const f = fields(c, entry, path, PROXY_KEYS, ['name', 'upstream']);
    if (!f) return void (ctx.proxiesValid = false);
    const name = optional(c, f, 'name', path, text);
    if (name !== undefined && firstUse.has(name)) {
      c.report(get(f, 'name'), child(path, 'name'), `duplicate proxy name '${name}'; ${firstUse.get(name)} already uses it`);
    } else if (name !== undefined) {
      firstUse.set(name, path);
      ctx.names.add(name);
    }
    const listen = optional(c, f, 'listen', path, (c2, n, p) => hostPort(c2, n, p, true)) ?? '127.0.0.1:0';
    const upstream = optional(c, f, 'upstream', path, (c2, n, p) => hostPort(c2, n, p, false));
    const protocol = optional(c, f, 'protocol', path, (c2, n, p) => oneOf(c2, n, p, ['tcp', 'udp', 'http', 'dns'] as const)) ?? 'tcp';
    const labels = optional(c, f, 'labels', path, readLabels) ?? {};
    for (const service of [labels.from, labels.to]) if (service !== undefined) ctx.services.add(service);
    const server = optional(c, f, 'server', path, text) ?? 'default';
    if (f.entries.has('server') && !serverNames.has(server)) {
      c.report(get(f, 'server'), child(path, 'server'),
        `unknown server '${server}'; expected one of ${[...serverNames].join(', ')} (servers are named under servers)`);
    }
    const proxy = unlessIssues(c, before, () => ({ name: name!, listen, upstream: upstream!, protocol, labels, server }));
    if (proxy) proxies.push(proxy);
    else ctx.proxiesValid = false;
  });
  return { proxies, ctx };
}

function readLabels(c: Checker, node: YamlNode, path: string): ScenarioProxy['labels'] | undefined {
  const f = fields(c, node, path, ['from', 'to']);
  if (!f) return undefined;
  const labels: ScenarioProxy['labels'] = {};
  const from = optional(c, f, 'from', path, (c2, n, p) => text(c2, n, p, 'a service name'));
  const to = optional(c, f, 'to', path, (c2, n, p) => text(c2, n, p, 'a service name'));
  if (from !== undefined) labels.from = from;
  if (to !== undefined) labels.to = to;
  return labels;
}

function readSteadyState(c: Checker, node: YamlNode, path: string): SteadyState | undefined {
  const f = fields(c, node, path, ['during', 'probes'], ['probes']);
  if (!f) return undefined;
  const duringMs = optional(c, f, 'during', path, (c2, n, p) => duration(c2, n, p, true)) ?? null;
  const probes = optional(c, f, 'probes', path, (c2, n, p) => readProbeList(c2, n, p, 1));
  return probes && { duringMs, probes };
}

function readHaltWhen(c: Checker, node: YamlNode, path: string): HaltCondition[] | undefined {
  const before = c.issues.length;
  const conditions: HaltCondition[] = [];
  const firstUse = new Map<string, string>();
  list(c, node, path, 'halt conditions')?.forEach((entry, i) => {
    const at = item(path, i);
    const f = fields(c, entry, at, ['probe', 'failing_for'], ['probe', 'failing_for']);
    if (!f) return;
    const probe = optional(c, f, 'probe', at, readProbe);
    const failingForMs = optional(c, f, 'failing_for', at, duration);
    if (probe && firstUse.has(probe.name)) {
      c.report(lookup(c, get(f, 'probe'), 'name'), child(child(at, 'probe'), 'name'),
        `duplicate probe name '${probe.name}'; ${firstUse.get(probe.name)} already uses it`);
    } else if (probe) {
      firstUse.set(probe.name, at);
    }
    if (probe && failingForMs !== undefined) conditions.push({ probe, failingForMs });
  });
  return unlessIssues(c, before, () => conditions);
}
