// Helpers for the end-to-end persistence, event API and live stream tests: a temp dir holding a
// real SQLite file, `faultline serve` as a child process, JSON/ndjson calls to any server URL,
// round trips that never throw, a well-formedness check for stored events, a Prometheus text
// parser, and a second SQLite connection that holds the write lock.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sqlite3 from 'sqlite3';

/** The compiled CLI, next to the compiled tests (dist/test/_helpers -> dist/src/cli). */
export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface TempDir { dir: string; file: string; remove(): Promise<void> }

export async function tempDir(): Promise<TempDir> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'faultline-persist-'));
  return { dir, file: path.join(dir, 'faultline.db'), remove: () => fs.rm(dir, { recursive: true, force: true }) };
}

export interface Child {
  url: string;
  proc: ChildProcess;
  /** Everything the child wrote to stderr so far. */
  stderr(): string;
  /** Sends `signal` (default SIGKILL) and resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** `faultline serve --port 0 ...args`, resolved once it prints the address it listens on.
 *  `fdLimit` starts it under that soft limit of open files (`ulimit -n`). */
export async function spawnServe(args: string[], cwd: string, options: { fdLimit?: number } = {}): Promise<Child> {
  const command = [process.execPath, CLI, 'serve', '--port', '0', ...args];
  const proc = options.fdLimit === undefined
    ? spawn(command[0]!, command.slice(1), { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('/bin/sh', ['-c', `ulimit -n ${options.fdLimit} && exec "$@"`, 'sh', ...command], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = once(proc, 'exit');
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (proc.exitCode === null && proc.signalCode === null) { proc.kill(signal); await exited; }
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve printed no address: ${out} ${err}`)), 10_000);
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /faultline listening on (http:\/\/\S+)/.exec(out);
        if (m) { clearTimeout(timer); resolve(m[1]!); }
      });
      proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited ${code}: ${err}`)); });
    });
    return { url, proc, stderr: () => err, kill };
  } catch (e) {
    await kill();
    throw e;
  }
}

export interface Reply { status: number; headers: Headers; text: string; json: any }

/** A JSON request to a server at `url` (in-process or child). */
export async function call(url: string, method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(url + p, init);
  const text = await res.text();
  let json: any;
  try { json = text === '' ? undefined : JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

/** The same call, failing unless the status is `expect`. */
export async function ok(url: string, method: string, p: string, body?: unknown, expect = method === 'POST' && p === '/proxies' ? 201 : 200): Promise<any> {
  const r = await call(url, method, p, body);
  if (r.status !== expect) throw new Error(`${method} ${p}: ${r.status} ${r.text}`);
  return r.json;
}

/** GET /events?format=ndjson&query, each line parsed. */
export async function ndjson(url: string, query = ''): Promise<any[]> {
  const res = await fetch(`${url}/events?format=ndjson${query ? `&${query}` : ''}`);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`ndjson export: ${res.status} ${text}`);
  if (!/^application\/x-ndjson/.test(res.headers.get('content-type') ?? '')) throw new Error(`content-type ${res.headers.get('content-type')}`);
  if (text !== '' && !text.endsWith('\n')) throw new Error('ndjson export does not end with a newline');
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
}

/** Every event GET /events returns for `query`, following `next` (pages of `limit`). */
export async function allPages(url: string, query = '', limit = 10_000): Promise<{ events: any[]; pages: number }> {
  const events: any[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const q: string = [query, `limit=${limit}`, cursor ? `cursor=${cursor}` : ''].filter((s) => s !== '').join('&');
    const page = await ok(url, 'GET', `/events?${q}`);
    events.push(...page.events);
    cursor = page.next;
    pages++;
  } while (cursor !== null);
  return { events, pages };
}

/** Polls `check` until true; throws naming `what` after `ms`. Returns the ms it took. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

/**
 * Sends `data` through a TCP proxy to an echo upstream and resolves with the round trip in ms,
 * or null if the connection failed, was cut, or took longer than `timeoutMs`. Never throws.
 */
export function roundTrip(port: number, data: Buffer, timeoutMs = 5000): Promise<number | null> {
  return new Promise((resolve) => {
    const start = performance.now();
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    let got = 0;
    const done = (v: number | null) => { clearTimeout(timer); socket.destroy(); resolve(v); };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.on('error', () => done(null));
    socket.on('close', () => done(null));
    socket.on('connect', () => socket.write(data));
    socket.on('data', (d: Buffer) => { got += d.length; if (got >= data.length) done(performance.now() - start); });
  });
}

const NANOID = /^[\w-]{21}$/;
const STATE_KINDS = ['proxy:created', 'proxy:updated', 'proxy:deleted', 'toxic:added', 'toxic:updated', 'toxic:removed', 'toxic:expired'];
const str = (v: unknown) => typeof v === 'string' && v !== '';
const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** What is wrong with a stored event (as GET /events returns it), or null if it is well-formed. */
export function malformed(e: any, now = Date.now()): string | null {
  const need = (cond: boolean, what: string) => (cond ? null : `${what}: ${JSON.stringify(e)}`);
  const base = need(NANOID.test(e?.id ?? ''), 'id') ?? need(Number.isInteger(e.seq) && e.seq > 0, 'seq')
    ?? need(Number.isInteger(e.ts) && e.ts > now - 3_600_000 && e.ts <= now, 'ts')
    ?? need(e.detail === undefined || (typeof e.detail === 'object' && e.detail !== null), 'detail');
  if (base) return base;
  const conn = () => need(str(e.proxy) && (e.protocol === 'tcp' || e.protocol === 'udp') && str(e.conn) && /:\d+$/.test(e.client ?? ''), 'connection fields');
  switch (e.kind) {
    case 'fault:injected':
      return conn() ?? need(str(e.toxic) && str(e.type) && (e.stream === 'upstream' || e.stream === 'downstream') && str(e.action), 'fault fields');
    case 'fault:folded':
      return need(str(e.proxy) && str(e.toxic) && str(e.action) && Number.isInteger(e.detail?.count) && e.detail.count > 0, 'folded fields');
    case 'conn:opened':
      return conn() ?? need(str(e.detail?.upstream), 'detail.upstream');
    case 'conn:closed':
      return conn() ?? need(str(e.detail?.upstream) && num(e.detail.bytesUp) && num(e.detail.bytesDown) && num(e.detail.durationMs) && typeof e.detail.reason === 'string', 'close detail');
    default:
      if (!STATE_KINDS.includes(e.kind)) return `unknown kind: ${JSON.stringify(e)}`;
      if (e.kind.startsWith('proxy:')) return need(str(e.proxy) && (e.kind === 'proxy:deleted' || str(e.detail?.listen)), 'proxy change');
      return need(str(e.proxy) && str(e.toxic) && (!/added|updated/.test(e.kind) || (str(e.type) && str(e.detail?.name))), 'toxic change');
  }
}

/** One sample of a Prometheus text exposition. */
export interface Sample { name: string; labels: Record<string, string>; value: number }

/** Parses the text exposition: `# HELP`/`# TYPE` lines into `types`, the rest into samples. */
export function parseMetrics(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) { types.set(t[1]!, t[2]!); continue; }
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const rest = (m[2] ?? '').replace(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)",?/g, (_a, k: string, v: string) => {
      labels[k] = v.replace(/\\(.)/g, (_e, c: string) => (c === 'n' ? '\n' : c));
      return '';
    });
    if (rest !== '') throw new Error(`bad labels: ${line}`);
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { types, samples };
}

/** The sum of the samples named `name` whose labels include `labels` (0 if none). */
export function metric(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/**
 * A second connection to the database file holding the write lock (BEGIN EXCLUSIVE, which WAL
 * treats as IMMEDIATE): the server's writes wait out its busy timeout and fail with SQLITE_BUSY
 * until release() commits and closes.
 */
export async function holdWriteLock(file: string): Promise<{ release(): Promise<void> }> {
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const d: sqlite3.Database = new sqlite3.Database(file, sqlite3.OPEN_READWRITE, (e) => (e ? reject(e) : resolve(d)));
  });
  const exec = (sql: string) => new Promise<void>((resolve, reject) => db.exec(sql, (e) => (e ? reject(e) : resolve())));
  await exec('BEGIN EXCLUSIVE');
  let released: Promise<void> | null = null;
  return {
    release: () => (released ??= exec('COMMIT').then(() => new Promise<void>((resolve) => db.close(() => resolve())))),
  };
}
