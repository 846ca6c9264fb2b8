// Probes: how a scenario measures the system under test. Each kind returns a ProbeResult with
// what was observed (`value`), how long it took (`latencyMs`) and, on failure, why:
// - tcp: a connection within the timeout (value 'connected', or the error code / 'timeout');
// - http: the status, a body regex and a latency bound (value: the status code). A fresh
//   connection per probe (no keep-alive pool), so every probe measures what a new client sees;
// - exec: a shell command's exit code and a stdout regex (value: the exit code; output: the last
//   non-empty line of stdout, so a script can report what it measured, like `amplification
//   2.7x`). On timeout the whole process group is killed, so `sh -c 'sleep 60'` does not
//   outlive the probe.
// An optional AbortSignal ends a probe early (the run is stopping): value 'aborted', not ok.
// A regex test runs at most MATCH_TIMEOUT_MS; one that would run longer fails the probe.

import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import vm from 'node:vm';
import type { Probe, ProbeResult } from './types.js';

export interface ProbeOptions {
  signal?: AbortSignal;
  /** The environment an exec probe's command starts from, before the probe's own `env`;
   *  process.env when absent. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The clock for `ts` (epoch ms); Date.now by default. */
  now?: () => number;
}

const MAX_STDOUT = 64 * 1024;
const MAX_BODY = 1024 * 1024;
/** How much of the end of stdout is kept for `output` once MAX_STDOUT is reached. */
const TAIL = 4096;
const MAX_OUTPUT = 200;

type Outcome = { ok: boolean; value: string | number; reason?: string; output?: string };

export async function runProbe(probe: Probe, options: ProbeOptions = {}): Promise<ProbeResult> {
  const ts = (options.now ?? Date.now)();
  const start = performance.now();
  let outcome: Outcome;
  if (options.signal?.aborted) {
    outcome = { ok: false, value: 'aborted', reason: 'the run is stopping' };
  } else {
    try {
      outcome = probe.kind === 'tcp' ? await tcpProbe(probe, options.signal)
        : probe.kind === 'http' ? await httpProbe(probe, start, options.signal)
          : await execProbe(probe, { ...(options.env ?? process.env), ...probe.env }, options.signal);
    } catch (err) {
      outcome = { ok: false, value: 'error', reason: err instanceof Error ? err.message : String(err) };
    }
  }
  const result: ProbeResult = { probe: probe.name, ok: outcome.ok, value: outcome.value, latencyMs: round(performance.now() - start), ts };
  if (!outcome.ok) result.reason = outcome.reason ?? 'failed';
  if (outcome.output !== undefined) result.output = outcome.output;
  return result;
}

/**
 * A one-liner for live output: `health ok 200 in 3.1ms`, `amp ok 0 in 40ms (amplification
 * 1.1x)`. The output comes last, in parentheses, unless the reason already quotes it.
 */
export function describeProbe(result: ProbeResult): string {
  const head = `${result.probe} ${result.ok ? 'ok' : 'FAILED'} ${String(result.value)} in ${result.latencyMs}ms`;
  const line = result.ok ? head : `${head}: ${result.reason ?? 'failed'}`;
  const output = result.output;
  return output === undefined || output === '' || (!result.ok && (result.reason ?? '').includes(output)) ? line : `${line} (${output})`;
}

/** The last non-empty line, trimmed and cut to MAX_OUTPUT characters; undefined if none. */
export function lastLine(text: string): string | undefined {
  const line = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '').pop();
  if (line === undefined) return undefined;
  const chars = [...line];
  return chars.length <= MAX_OUTPUT ? line : `${chars.slice(0, MAX_OUTPUT - 1).join('')}…`;
}

/** Splits `host:port`, `[v6]:port` or `:port` (loopback). */
export function splitAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address.trim());
  if (m === null) throw new Error(`bad address ${JSON.stringify(address)}: expected host:port`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port: Number(m[3]) };
}

/** Calls `onAbort` when the signal fires; returns the function that stops listening. */
function onAbort(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (signal === undefined) return () => {};
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}

function tcpProbe(probe: Extract<Probe, { kind: 'tcp' }>, signal?: AbortSignal): Promise<Outcome> {
  const { host, port } = splitAddress(probe.address);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (outcome: Outcome) => { clearTimeout(timer); stop(); socket.destroy(); resolve(outcome); };
    const timer = setTimeout(() => finish({ ok: false, value: 'timeout', reason: `no connection to ${probe.address} within ${probe.timeoutMs}ms` }), probe.timeoutMs);
    const stop = onAbort(signal, () => finish({ ok: false, value: 'aborted', reason: 'the run is stopping' }));
    socket.once('connect', () => finish({ ok: true, value: 'connected' }));
    socket.once('error', (err: NodeJS.ErrnoException) => finish({ ok: false, value: err.code ?? 'error', reason: err.message }));
  });
}

function httpProbe(probe: Extract<Probe, { kind: 'http' }>, start: number, signal?: AbortSignal): Promise<Outcome> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (outcome: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stop();
      req.destroy();
      resolve(outcome);
    };
    const url = new URL(probe.url);
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.request(url, { method: 'GET', agent: false, headers: { 'User-Agent': 'faultline-probe' } }, (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (d: Buffer) => { if (size < MAX_BODY) { parts.push(d); size += d.length; } });
      res.once('error', (err) => finish({ ok: false, value: res.statusCode ?? 'error', reason: `response failed: ${err.message}` }));
      res.once('end', () => {
        const status = res.statusCode ?? 0;
        const latency = performance.now() - start;
        const body = Buffer.concat(parts).toString('utf8');
        const statusOk = probe.status !== null ? status === probe.status : status >= 200 && status <= 299;
        const matched = !statusOk || probe.body === null ? true : matches(probe.body, body);
        if (!statusOk) {
          finish({ ok: false, value: status, reason: `status ${status}, expected ${probe.status ?? '2xx'}` });
        } else if (matched !== true) {
          finish({ ok: false, value: status, reason: `body ${mismatch(matched, probe.body!, body)}` });
        } else if (probe.maxLatencyMs !== null && latency > probe.maxLatencyMs) {
          finish({ ok: false, value: status, reason: `took ${round(latency)}ms, over the ${probe.maxLatencyMs}ms bound` });
        } else {
          finish({ ok: true, value: status });
        }
      });
    });
    const timer = setTimeout(() => finish({ ok: false, value: 'timeout', reason: `no complete response within ${probe.timeoutMs}ms` }), probe.timeoutMs);
    const stop = onAbort(signal, () => finish({ ok: false, value: 'aborted', reason: 'the run is stopping' }));
    req.once('error', (err: NodeJS.ErrnoException) => finish({ ok: false, value: err.code ?? 'error', reason: err.message }));
    req.end();
  });
}

function execProbe(probe: Extract<Probe, { kind: 'exec' }>, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<Outcome> {
  return new Promise((resolve) => {
    // Its own process group, so a timeout kills the shell and everything it started.
    const child = spawn(probe.command, { shell: true, detached: true, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    // The end of stdout, kept past MAX_STDOUT: a script reports what it measured last.
    let tail = '';
    let stderr = '';
    let killedFor: Outcome | null = null;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    let whole = true;
    child.stdout.on('data', (d: string) => {
      if (stdout.length < MAX_STDOUT) stdout += d;
      else whole = false;
      tail = (tail + d).slice(-TAIL);
    });
    child.stderr.on('data', (d: string) => { if (stderr.length < MAX_STDOUT) stderr += d; });
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone (ESRCH).
      }
    };
    const kill = (outcome: Outcome) => { killedFor = outcome; killGroup(); };
    const timer = setTimeout(() => kill({ ok: false, value: 'timeout', reason: `still running after ${probe.timeoutMs}ms; killed` }), probe.timeoutMs);
    const stop = onAbort(signal, () => kill({ ok: false, value: 'aborted', reason: 'the run is stopping' }));
    let exit: { code: number | null; sig: NodeJS.Signals | null } | null = null;
    let drainTimer: NodeJS.Timeout | undefined;
    let streamsOpen = 2;
    let settled = false;
    const settle = (result: Outcome) => {
      if (settled) return;
      settled = true;
      const output = lastLine(whole ? stdout : tail);
      const outcome = output === undefined ? result : { ...result, output };
      clearTimeout(timer);
      clearTimeout(drainTimer);
      stop();
      child.stdout.destroy();
      child.stderr.destroy();
      // Whatever the command left running in the background goes with the probe.
      killGroup();
      resolve(outcome);
    };
    const evaluate = () => {
      if (exit === null) return;
      const { code, sig } = exit;
      if (killedFor !== null) return settle(killedFor);
      if (code === null) return settle({ ok: false, value: sig ?? 'killed', reason: `killed by ${sig ?? 'a signal'}` });
      if (code !== probe.exitCode) {
        const detail = (stderr.trim() || stdout.trim()).slice(0, 120);
        return settle({ ok: false, value: code, reason: `exit code ${code}, expected ${probe.exitCode}${detail ? `: ${detail}` : ''}` });
      }
      const matched = probe.stdout === null ? true : matches(probe.stdout, stdout);
      if (matched !== true) {
        return settle({ ok: false, value: code, reason: `stdout ${mismatch(matched, probe.stdout!, stdout)}` });
      }
      settle({ ok: true, value: code });
    };
    const streamDone = () => { if (--streamsOpen === 0) evaluate(); };
    child.stdout.once('close', streamDone);
    child.stderr.once('close', streamDone);
    child.once('error', (err) => settle({ ok: false, value: 'error', reason: err.message }));
    // The output is read to its end; but a grandchild that keeps the pipes open must not keep
    // the probe waiting, so the verdict comes at most 100 ms after the shell exits.
    child.once('exit', (code, sig) => {
      exit = { code, sig };
      if (streamsOpen === 0 || killedFor !== null) evaluate();
      else drainTimer = setTimeout(evaluate, 100);
    });
  });
}

/** How long one regex test may run. A pattern with nested quantifiers, like `^(a+)+$`, can
 *  backtrack for hours over a long body, holding the event loop (and every proxy) with it; V8
 *  interrupts a regex only inside a script run with a timeout. Each run costs about 0.1 ms. */
export const MATCH_TIMEOUT_MS = 250;
const sandbox = vm.createContext({ re: /$^/, text: '' });
const TEST = new vm.Script('re.lastIndex = 0; re.test(text)');

/** A regex test that ignores any `g`/`y` state left from an earlier test. */
function matches(re: RegExp, text: string): boolean | 'timeout' {
  Object.assign(sandbox, { re, text });
  try {
    return TEST.runInContext(sandbox, { timeout: MATCH_TIMEOUT_MS }) === true;
  } catch {
    return 'timeout';
  } finally {
    Object.assign(sandbox, { re: null, text: '' });
  }
}

function mismatch(result: false | 'timeout', re: RegExp, text: string): string {
  return result === 'timeout'
    ? `could not be tested: ${String(re)} ran over ${MATCH_TIMEOUT_MS}ms (it backtracks too much; simplify it)`
    : `does not match ${String(re)}: ${JSON.stringify(text.slice(0, 80))}`;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
