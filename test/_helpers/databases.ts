// Real Redis and PostgreSQL servers for the interop tests, from the Debian packages
// (`redis-server`, `postgresql`), each started by the test on an ephemeral loopback port in a
// temporary directory and stopped (directory removed) afterwards, whatever happened.
//
// PostgreSQL refuses to run as root. When the tests run as root (CI containers usually do),
// initdb and postgres run as the unprivileged `nobody` user (spawned with its uid and gid; the
// temporary directory is handed to it), so no `su`, `runuser` or sudo rule is needed; as any
// other user they run as that user. The system's own cluster and service are never touched.
// FAULTLINE_REDIS_SERVER (a redis-server binary) and FAULTLINE_PG_BIN (a folder holding initdb
// and postgres) point elsewhere, for a machine that keeps them outside Debian's paths.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Service {
  port: number;
  /** `127.0.0.1:<port>` */
  address: string;
  /** Stops the server and removes its directory. */
  close(): Promise<void>;
}

/** Why a server cannot be started here, or null when it can. */
export type Availability = { ok: true } | { ok: false; reason: string };

const REDIS = process.env.FAULTLINE_REDIS_SERVER || '/usr/bin/redis-server';

export function redisAvailable(): Availability {
  return existsSync(REDIS) ? { ok: true } : { ok: false, reason: `no ${REDIS} (install the Debian package redis-server)` };
}

/** initdb and postgres of FAULTLINE_PG_BIN, else of the newest PostgreSQL under /usr/lib/postgresql. */
function postgresBin(): { initdb: string; postgres: string } | null {
  const given = process.env.FAULTLINE_PG_BIN;
  if (given) return existsSync(`${given}/initdb`) && existsSync(`${given}/postgres`) ? { initdb: `${given}/initdb`, postgres: `${given}/postgres` } : null;
  let versions: string[];
  try {
    versions = readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  } catch {
    return null;
  }
  for (const version of versions) {
    const bin = `/usr/lib/postgresql/${version}/bin`;
    if (existsSync(`${bin}/initdb`) && existsSync(`${bin}/postgres`)) return { initdb: `${bin}/initdb`, postgres: `${bin}/postgres` };
  }
  return null;
}

/** The uid and gid to run PostgreSQL as: `nobody`'s under root, else none (this user). */
function postgresUser(): { uid: number; gid: number } | null | 'missing' {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('nobody:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  return uid !== undefined && gid !== undefined ? { uid: Number(uid), gid: Number(gid) } : 'missing';
}

export function postgresAvailable(): Availability {
  if (postgresBin() === null) {
    const where = process.env.FAULTLINE_PG_BIN ? `in ${process.env.FAULTLINE_PG_BIN}` : 'under /usr/lib/postgresql/*/bin';
    return { ok: false, reason: `no initdb and postgres ${where} (install the Debian package postgresql)` };
  }
  if (postgresUser() === 'missing') return { ok: false, reason: 'running as root, and there is no `nobody` user to run postgres as' };
  return { ok: true };
}

/** A port that was free a moment ago: bound on 0, then released. Callers retry on a clash. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

// Servers still running if this process ends without their close() (a crash skips the
// after-hooks): killed on the way out, and their directories removed.
const running = new Set<ChildProcess>();
const dirs = new Set<string>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
  for (const dir of dirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Exiting anyway: a directory a killed server still held is left to the OS's tmp cleaning.
    }
  }
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

interface Started { child: ChildProcess; output: () => string }

/**
 * Spawns a server and resolves once `ready(output)` says it is up; rejects (after killing it)
 * if it exits first or takes longer than `limitMs`, quoting what it printed.
 */
async function launch(
  command: string, args: string[], options: { cwd: string; uid?: number; gid?: number },
  ready: (output: string) => boolean | Promise<boolean>, limitMs: number,
): Promise<Started> {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } });
  running.add(child);
  let output = '';
  const collect = (d: Buffer) => { output = (output + d.toString('utf8')).slice(-8000); };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => {
    running.delete(child);
    resolve(`exited (${signal ?? code})`);
  }));
  child.once('error', (err) => { output += `\n${err.message}`; });
  const deadline = Date.now() + limitMs;
  for (;;) {
    const state = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 50))]);
    if (state !== null) throw new Error(`${command} ${state}:\n${output.trim()}`);
    if (await ready(output)) return { child, output: () => output };
    if (Date.now() > deadline) {
      await stop(child, 'SIGKILL');
      throw new Error(`${command} not ready within ${limitMs} ms:\n${output.trim()}`);
    }
  }
}

/** Sends `signal`, then SIGKILL if the process is still there after 10 s. */
async function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Tries a start on fresh ports until one is not taken by someone else meanwhile. */
async function onFreePort<T>(start: (port: number) => Promise<T>, clash: RegExp): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (err) {
      if (attempt >= 5 || !clash.test((err as Error).message)) throw err;
    }
  }
}

/** True once a RESP PING on `port` answers PONG. */
function pingRedis(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (ok: boolean) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('data', (d: Buffer) => done(d.toString().startsWith('+PONG')));
    socket.write('PING\r\n');
  });
}

export async function startRedis(): Promise<Service> {
  const dir = tempDir('faultline-redis-');
  try {
    const { port, child } = await onFreePort(async (port) => {
      const args = [
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--dir', dir, '--daemonize', 'no', '--protected-mode', 'no', '--loglevel', 'warning',
      ];
      const { child } = await launch(REDIS, args, { cwd: dir }, () => pingRedis(port), 20_000);
      return { port, child };
    }, /Address already in use/i);
    return {
      port,
      address: `127.0.0.1:${port}`,
      async close() {
        await stop(child, 'SIGTERM');
        removeDir(dir);
      },
    };
  } catch (err) {
    removeDir(dir);
    throw err;
  }
}

/** A throwaway cluster (initdb in a temporary directory) with trust auth for `postgres`. */
export async function startPostgres(): Promise<Service & { user: string; database: string }> {
  const bin = postgresBin();
  const as = postgresUser();
  if (bin === null || as === 'missing') throw new Error(`cannot start postgres: ${(postgresAvailable() as { reason: string }).reason}`);
  const dir = tempDir('faultline-pg-');
  const data = join(dir, 'data');
  const owner = as === null ? {} : as;
  try {
    if (as !== null) chownSync(dir, as.uid, as.gid);
    // --no-sync: nothing here needs to survive a crash, and fsyncs cost seconds on a busy disk.
    const init = spawn(bin.initdb, ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync'], {
      ...owner, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
    });
    let initOutput = '';
    init.stdout.on('data', (d: Buffer) => { initOutput += d; });
    init.stderr.on('data', (d: Buffer) => { initOutput += d; });
    const [code] = await once(init, 'exit') as [number | null];
    if (code !== 0) throw new Error(`initdb failed (${code}):\n${initOutput.trim()}`);

    const { port, child } = await onFreePort(async (port) => {
      const args = [
        '-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir,
        '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
        '-c', 'max_connections=40', '-c', 'shared_buffers=16MB', '-c', 'logging_collector=off',
      ];
      const { child } = await launch(bin.postgres, args, { ...owner, cwd: dir },
        (output) => output.includes('database system is ready to accept connections'), 30_000);
      return { port, child };
    }, /could not bind|Address already in use|could not create any TCP\/IP sockets/i);
    return {
      port,
      address: `127.0.0.1:${port}`,
      user: 'postgres',
      database: 'postgres',
      async close() {
        // SIGINT is PostgreSQL's fast shutdown: clients are disconnected, not waited for.
        await stop(child, 'SIGINT');
        removeDir(dir);
      },
    };
  } catch (err) {
    removeDir(dir);
    throw err;
  }
}
