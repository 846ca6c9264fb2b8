// Real services for the services section (bench/services.ts): Debian's redis-server and a
// PostgreSQL cluster made by initdb, each on 127.0.0.1 on a free port, with its data in a temp
// directory removed afterwards (never the system's instance or cluster), and the clients that
// load them: redis-benchmark and pgbench. Durability is switched off (no RDB or AOF for Redis;
// fsync off for PostgreSQL): the section measures the network path, not the disk.
//
// initdb and postgres refuse to run as root; as root, both run as the `postgres` user that
// Debian's package creates, and the temp directory is handed to it.

import { accessSync, chownSync, constants, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTempDir, removeDir, runToEnd, startProcess, type Running } from './processes.js';
import { freePort } from './servers.js';

export interface ServiceHost {
  port: number;
  stop(): Promise<void>;
}

/** A service's programs, or why it cannot run here. */
export type Found<T> = { tools: T; missing?: undefined } | { tools?: undefined; missing: string };

const executable = (file: string): boolean => {
  try { accessSync(file, constants.X_OK); return true; } catch { return false; }
};

function onPath(name: string): string | undefined {
  return (process.env.PATH ?? '').split(path.delimiter).map((dir) => path.join(dir, name)).find(executable);
}

export interface RedisTools { server: string; benchmark: string }

export function findRedis(): Found<RedisTools> {
  const server = onPath('redis-server');
  const benchmark = onPath('redis-benchmark');
  if (server !== undefined && benchmark !== undefined) return { tools: { server, benchmark } };
  return { missing: 'redis-server and redis-benchmark are not installed (apt-get install redis-server)' };
}

export interface PostgresTools { bin: string; user?: { uid: number; gid: number } }

/** The newest Debian PostgreSQL under /usr/lib/postgresql/<version>/bin. */
export function findPostgres(): Found<PostgresTools> {
  const root = '/usr/lib/postgresql';
  let versions: string[] = [];
  try { versions = readdirSync(root).sort((a, b) => Number(b) - Number(a)); } catch { /* not installed */ }
  const bin = versions.map((v) => path.join(root, v, 'bin'))
    .find((dir) => ['initdb', 'postgres', 'pg_isready', 'pgbench'].every((p) => executable(path.join(dir, p))));
  if (bin === undefined) return { missing: `no ${root}/<version>/bin with initdb, postgres and pgbench (apt-get install postgresql)` };
  if (process.getuid?.() !== 0) return { tools: { bin } };
  const entry = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === 'postgres');
  if (entry === undefined) return { missing: 'running as root and there is no postgres user for initdb to run as' };
  return { tools: { bin, user: { uid: Number(entry[2]), gid: Number(entry[3]) } } };
}

/** Starts a server on a free port, retrying with another if the port was taken meanwhile. */
async function onFreePort(name: string, start: (port: number) => Running, ready: (port: number, proc: Running) => Promise<boolean>): Promise<{ port: number; proc: Running }> {
  let output = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const proc = start(port);
    const deadline = Date.now() + 30_000;
    while (!proc.hasExited() && Date.now() < deadline) {
      if (await ready(port, proc)) return { port, proc };
      await sleep(100);
    }
    output = proc.output();
    await proc.stop('SIGKILL');
  }
  throw new Error(`${name} did not start: ${output || 'no output'}`);
}

/** A reply to PING, over a fresh connection. */
function redisAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.setTimeout(1000, () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d: Buffer) => { socket.destroy(); resolve(d.toString().startsWith('+PONG')); });
  });
}

export async function startRedis(tools: RedisTools): Promise<ServiceHost> {
  const dir = await makeTempDir('faultline-bench-redis-');
  try {
    const { port, proc } = await onFreePort('redis-server', (p) => startProcess(tools.server, [
      '--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning',
    ]), (p) => redisAnswers(p));
    return { port, async stop() { await proc.stop('SIGTERM'); await removeDir(dir); } };
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
}

/** GET requests per second from redis-benchmark with `clients` connections. */
export async function redisBenchmark(tools: RedisTools, port: number, clients: number, requests: number): Promise<number> {
  const out = await runToEnd(tools.benchmark, ['-h', '127.0.0.1', '-p', String(port), '-c', String(clients), '-n', String(requests), '-t', 'get', '--csv']);
  const row = out.split('\n').find((l) => l.startsWith('"GET"'));
  const rps = row === undefined ? NaN : Number(row.split(',')[1]?.replace(/"/g, ''));
  if (!Number.isFinite(rps)) throw new Error(`redis-benchmark: no GET rate in its output: ${out}`);
  return rps;
}

export async function startPostgres(tools: PostgresTools): Promise<ServiceHost> {
  const dir = await makeTempDir('faultline-bench-pg-');
  const as = tools.user === undefined ? {} : { uid: tools.user.uid, gid: tools.user.gid };
  try {
    if (tools.user !== undefined) chownSync(dir, tools.user.uid, tools.user.gid);
    const data = path.join(dir, 'data');
    await runToEnd(path.join(tools.bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions'], as);
    const { port, proc } = await onFreePort('postgres', (p) => startProcess(path.join(tools.bin, 'postgres'), [
      '-D', data, '-k', dir, '-p', String(p), '-c', 'listen_addresses=127.0.0.1',
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
    ], as), async (p, pg) => !pg.hasExited()
      && await runToEnd(path.join(tools.bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(p)]).then(() => true, () => false));
    // SIGINT is PostgreSQL's fast shutdown: clients are disconnected, nothing waits.
    const host = { port, async stop() { await proc.stop('SIGINT', 15_000); await removeDir(dir); } };
    try {
      await runToEnd(path.join(tools.bin, 'pgbench'), ['-i', '-s', '1', '-q', ...pgArgs(port)], { env: pgEnv() });
    } catch (err) {
      await host.stop();
      throw err;
    }
    return host;
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
}

const pgArgs = (port: number): string[] => ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'postgres'];
/** A fresh cluster has ssl off; disabling it here saves the SSLRequest round trip per connection. */
const pgEnv = (): NodeJS.ProcessEnv => ({ ...process.env, PGSSLMODE: 'disable' });

/** Select-only transactions per second from pgbench (-S) with `clients` connections. */
export async function pgbench(tools: PostgresTools, port: number, clients: number, seconds: number): Promise<number> {
  const out = await runToEnd(path.join(tools.bin, 'pgbench'), ['-S', '-n', '-c', String(clients), '-T', String(seconds), ...pgArgs(port)], { env: pgEnv() });
  const match = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
  if (match === null) throw new Error(`pgbench: no tps in its output: ${out}`);
  return Number(match[1]);
}
