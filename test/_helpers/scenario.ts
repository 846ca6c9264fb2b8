// Helpers for the scenario runner's tests: Scenario objects built directly (no parser), small
// HTTP services, a recorder of a faultline server's state changes, and a run wrapper that
// exposes the live output and the moment the timeline started.

import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import type { Action, Probe, Scenario, ScenarioProxy, Step } from '../../src/scenario/types.js';
import { runScenario, type RunOptions, type RunResult } from '../../src/scenario/runner.js';
import type { TestServer } from './net.js';

/** A step: `at` and `for` in ms; the index is filled in by scenario(). */
export function step(atMs: number, action: Action, forMs: number | null = null): Step {
  return { index: -1, atMs, forMs, action, line: 0 };
}

export function proxy(name: string, upstream: string, labels: ScenarioProxy['labels'] = {}): ScenarioProxy {
  return { name, listen: '127.0.0.1:0', upstream, protocol: 'tcp', labels, server: 'default' };
}

export function toxic(proxyName: string, name: string, attributes: Record<string, unknown> = { latency: 10 }, type = 'latency'): Action {
  return { kind: 'toxic', proxy: proxyName, name, type, stream: 'downstream', toxicity: 1, attributes };
}

export const tcpProbe = (name: string, address: string, timeoutMs = 500): Probe => ({ name, kind: 'tcp', address, timeoutMs });

export function httpProbe(name: string, url: string, extra: Partial<Extract<Probe, { kind: 'http' }>> = {}): Probe {
  return { name, kind: 'http', url, status: 200, body: null, maxLatencyMs: null, timeoutMs: 1000, ...extra };
}

export function execProbe(name: string, command: string, extra: Partial<Extract<Probe, { kind: 'exec' }>> = {}): Probe {
  return { name, kind: 'exec', command, exitCode: 0, stdout: null, timeoutMs: 2000, ...extra };
}

/** A Scenario with defaults; indexes the steps and computes durationMs unless given. */
export function scenario(url: string, fields: Partial<Scenario>): Scenario {
  const timeline = (fields.timeline ?? []).map((s, index) => ({ ...s, index }));
  const durationMs = fields.durationMs ?? Math.max(0, ...timeline.map((s) => s.atMs + (s.forMs ?? 0)));
  return {
    title: 'test', tags: [], servers: { default: url }, proxies: [], steadyState: null, haltWhen: [],
    ...fields, timeline, durationMs,
  };
}

export interface Run {
  result: Promise<RunResult>;
  lines: string[];
  /** performance.now() when the runner announced the timeline's start. */
  timelineStart: Promise<number>;
  /** Resolves when a line matching `re` has been printed. */
  line(re: RegExp): Promise<string>;
}

export function run(s: Scenario, options: Partial<RunOptions> = {}): Run {
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (line: string) => void }> = [];
  let started: (t: number) => void = () => {};
  const timelineStart = new Promise<number>((resolve) => { started = resolve; });
  const out = (line: string) => {
    lines.push(line);
    if (/timeline starts/.test(line)) started(performance.now());
    for (const w of [...waiters]) {
      if (w.re.test(line)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(line); }
    }
  };
  const line = (re: RegExp) => {
    const seen = lines.find((l) => re.test(l));
    return seen !== undefined ? Promise.resolve(seen) : new Promise<string>((resolve) => waiters.push({ re, resolve }));
  };
  return { result: runScenario(s, { out, graceMs: 2000, ...options }), lines, timelineStart, line };
}

export interface Change { kind: string; proxy: string; toxic?: string; at: number }

/** Records a server's state changes (toxic:added, toxic:removed, proxy:updated, ...) with
 *  their performance.now() time. */
export function recordChanges(server: TestServer): { changes: Change[]; stop(): void } {
  const changes: Change[] = [];
  const stop = server.events.on('state:changed', (e) => {
    const c = e as unknown as { kind: string; proxy: string; toxic?: string };
    changes.push({ kind: c.kind, proxy: c.proxy, ...(c.toxic !== undefined ? { toxic: c.toxic } : {}), at: performance.now() });
  });
  return { changes, stop };
}

/** `proxy:stream:name` of every toxic on the named proxies, sorted. */
export async function toxicsOn(server: TestServer, names: string[]): Promise<string[]> {
  const all: string[] = [];
  for (const name of names) {
    const res = await server.api('GET', `/proxies/${name}/toxics`);
    if (res.status === 404) continue;
    for (const t of res.json as Array<{ name: string; stream: string }>) all.push(`${name}:${t.stream}:${t.name}`);
  }
  return all.sort();
}

export interface HttpService {
  url: string;
  port: number;
  /** What the next responses are: status, body and delay before answering. */
  set(reply: { status?: number; body?: string; delayMs?: number }): void;
  close(): Promise<void>;
}

export async function httpService(): Promise<HttpService> {
  let reply = { status: 200, body: 'ok', delayMs: 0 };
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((_req, res) => {
    const { status, body, delayMs } = reply;
    const t = setTimeout(() => { timers.delete(t); res.writeHead(status, { 'Content-Type': 'text/plain' }).end(body); }, delayMs);
    timers.add(t);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    set: (r) => { reply = { ...reply, ...r }; },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** An address nobody listens on (bound, then closed). */
export async function closedAddress(): Promise<string> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `127.0.0.1:${port}`;
}

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
