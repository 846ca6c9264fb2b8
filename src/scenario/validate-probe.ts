// Probes in a scenario file: exactly one of tcp, http or exec, each with its own fixed keys
// and defaults (timeouts: tcp 1s, http 2s, exec 5s; http status 200, exec exit code 0).

import { isMap, isScalar } from 'yaml';
import type { Probe } from './types.js';
import {
  child, duration, fields, get, hostPort, httpUrl, integer, item, list, lookup, regex, text,
  type Checker, type YamlNode,
} from './validate-node.js';

const KINDS = ['tcp', 'http', 'exec'] as const;

export const PROBE_DEFAULT_TIMEOUT_MS = { tcp: 1000, http: 2000, exec: 5000 } as const;

/**
 * Builds a value once the readers it depends on have run; undefined if any of them (or
 * anything since `before`) reported an issue, so half-read values never escape.
 */
export function unlessIssues<T>(c: Checker, before: number, build: () => T): T | undefined {
  return c.issues.length > before ? undefined : build();
}

/** Reads an optional key: undefined when absent, else what `read` gives. */
export function optional<T>(
  c: Checker, f: { entries: Map<string, { value: YamlNode }> }, key: string, path: string,
  read: (c: Checker, node: YamlNode, path: string) => T | undefined,
): T | undefined {
  const entry = f.entries.get(key);
  return entry === undefined ? undefined : read(c, entry.value, child(path, key));
}

export function readProbe(c: Checker, node: YamlNode, path: string): Probe | undefined {
  const before = c.issues.length;
  const f = fields(c, node, path, ['name', ...KINDS], ['name']);
  if (!f) return undefined;
  const name = optional(c, f, 'name', path, text);
  const kinds = [...f.entries.keys()].filter((k): k is (typeof KINDS)[number] => (KINDS as readonly string[]).includes(k));
  if (kinds.length !== 1) {
    const found = kinds.length === 0 ? 'none' : `${kinds.length}: ${kinds.join(', ')}`;
    const at = kinds.length === 0 ? f.node : f.entries.get(kinds[1]!)!.key;
    c.report(at, path, `a probe needs exactly one of tcp, http, exec, found ${found}`);
    return undefined;
  }
  const kind = kinds[0]!;
  const sub = child(path, kind);
  const body = get(f, kind);
  const probe = kind === 'tcp' ? readTcp(c, body, sub) : kind === 'http' ? readHttp(c, body, sub) : readExec(c, body, sub);
  return unlessIssues(c, before, () => ({ name: name!, ...probe! }) as Probe);
}

type Body<K> = K extends Probe['kind'] ? Omit<Extract<Probe, { kind: K }>, 'name'> : never;

function readTcp(c: Checker, node: YamlNode, path: string): Body<'tcp'> | undefined {
  const f = fields(c, node, path, ['address', 'timeout'], ['address']);
  if (!f) return undefined;
  return {
    kind: 'tcp',
    address: optional(c, f, 'address', path, (c2, n, p) => hostPort(c2, n, p, false))!,
    timeoutMs: optional(c, f, 'timeout', path, positiveDuration) ?? PROBE_DEFAULT_TIMEOUT_MS.tcp,
  };
}

function readHttp(c: Checker, node: YamlNode, path: string): Body<'http'> | undefined {
  const f = fields(c, node, path, ['url', 'status', 'body', 'max_latency', 'timeout'], ['url']);
  if (!f) return undefined;
  return {
    kind: 'http',
    url: optional(c, f, 'url', path, (c2, n, p) => httpUrl(c2, n, p, 'http://127.0.0.1:8080/health'))!,
    status: f.entries.has('status') ? readStatus(c, get(f, 'status'), child(path, 'status')) ?? null : 200,
    body: optional(c, f, 'body', path, regex) ?? null,
    maxLatencyMs: optional(c, f, 'max_latency', path, positiveDuration) ?? null,
    timeoutMs: optional(c, f, 'timeout', path, positiveDuration) ?? PROBE_DEFAULT_TIMEOUT_MS.http,
  };
}

/** An HTTP status code, or null (written `status: null` or `~`) for any status. */
function readStatus(c: Checker, node: YamlNode, path: string): number | null | undefined {
  const target = c.resolve(node);
  if (isScalar(target) && target.value === null) return null;
  return integer(c, target, path, 100, 599);
}

function readExec(c: Checker, node: YamlNode, path: string): Body<'exec'> | undefined {
  const f = fields(c, node, path, ['command', 'exit_code', 'stdout', 'timeout', 'env'], ['command']);
  if (!f) return undefined;
  const env = optional(c, f, 'env', path, readEnv);
  return {
    kind: 'exec',
    command: optional(c, f, 'command', path, (c2, n, p) => text(c2, n, p, 'a command line as a non-empty string'))!,
    exitCode: optional(c, f, 'exit_code', path, (c2, n, p) => integer(c2, n, p, 0, 255)) ?? 0,
    stdout: optional(c, f, 'stdout', path, regex) ?? null,
    timeoutMs: optional(c, f, 'timeout', path, positiveDuration) ?? PROBE_DEFAULT_TIMEOUT_MS.exec,
    ...(env !== undefined ? { env } : {}),
  };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `env: {NAME: value}`: names as a shell writes them; a value is a string, or a number or
 *  true/false written plainly, which the command sees as its text. */
function readEnv(c: Checker, node: YamlNode, path: string): Record<string, string> | undefined {
  const target = c.resolve(node);
  if (!isMap(target)) {
    c.report(target, path, 'expected a mapping of variable names to values like {TARGET: db, RETRIES: 3}');
    return undefined;
  }
  const before = c.issues.length;
  const env: Record<string, string> = {};
  for (const pair of target.items) {
    const key = c.resolve(pair.key);
    const name = isScalar(key) ? String(key.value) : '';
    if (!ENV_NAME.test(name)) {
      c.report(key, path, `expected a variable name (letters, digits and _, not starting with a digit), got ${JSON.stringify(name)}`);
      continue;
    }
    const value = c.resolve(pair.value ?? key);
    const written = isScalar(value) && pair.value !== null ? value.value : undefined;
    if (typeof written === 'string' || typeof written === 'number' || typeof written === 'boolean') env[name] = String(written);
    else c.report(value, child(path, name), 'expected a string, a number or true/false');
  }
  return unlessIssues(c, before, () => env);
}

function positiveDuration(c: Checker, node: YamlNode, path: string): number | undefined {
  return duration(c, node, path, true);
}

/** A list of probes whose names are unique within it. */
export function readProbeList(c: Checker, node: YamlNode, path: string, min: number): Probe[] | undefined {
  const before = c.issues.length;
  const items = list(c, node, path, 'probes', min);
  if (!items) return undefined;
  const probes: Probe[] = [];
  const seen = new Map<string, number>();
  items.forEach((entry, i) => {
    const probe = readProbe(c, entry, item(path, i));
    if (!probe) return;
    const first = seen.get(probe.name);
    if (first !== undefined) {
      c.report(lookup(c, entry, 'name'), child(item(path, i), 'name'),
        `duplicate probe name '${probe.name}'; ${path}[${first}] already uses it`);
    } else {
      seen.set(probe.name, i);
    }
    probes.push(probe);
  });
  return unlessIssues(c, before, () => probes);
}
