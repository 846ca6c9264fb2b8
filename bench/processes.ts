// The programs the benchmark starts that are not Node (Toxiproxy, Redis, PostgreSQL and their
// benchmark clients): output kept for error messages, stopped by a signal with a SIGKILL
// fallback, and, with their temp directories, cleaned up when the benchmark exits early (an
// exception, Ctrl-C), so no run leaves a server or a data directory behind. The Node children
// (targets.ts spawnChild) need none of this: they exit when their stdin closes.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const live = new Set<ChildProcess>();
const dirs = new Set<string>();

process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
// A signal's default action skips 'exit' handlers; exiting through process.exit runs them.
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.once(signal, () => process.exit(code));
}

export interface Running {
  pid: number;
  /** Resolves with the exit code (null if killed by a signal or never started). */
  exited: Promise<number | null>;
  hasExited(): boolean;
  /** The last 8 KB of stdout and stderr together. */
  output(): string;
  /** Sends `signal`, then SIGKILL if the process is still there after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export function startProcess(file: string, args: string[], options: SpawnOptions = {}): Running {
  const child = spawn(file, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let output = '';
  const keep = (d: Buffer | string): void => { output = (output + d.toString()).slice(-8192); };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let done = false;
  const exited = new Promise<number | null>((resolve) => {
    const finish = (code: number | null): void => {
      done = true;
      live.delete(child);
      resolve(code);
    };
    child.once('error', (err) => { keep(`${err.message}\n`); finish(null); });
    child.once('exit', (code) => finish(code));
  });
  return {
    pid: child.pid ?? -1,
    exited,
    hasExited: () => done,
    output: () => output.trim(),
    async stop(signal = 'SIGTERM', graceMs = 10_000) {
      if (done) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs a program to completion; rejects with its output if it exits non-zero. */
export async function runToEnd(file: string, args: string[], options: SpawnOptions = {}): Promise<string> {
  const proc = startProcess(file, args, options);
  const code = await proc.exited;
  if (code !== 0) throw new Error(`${path.basename(file)} ${args.join(' ')} exited with ${code}: ${proc.output()}`);
  return proc.output();
}

/** A fresh directory under the system temp dir, removed at exit if removeDir was not called. */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  dirs.delete(dir);
}
