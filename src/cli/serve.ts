// `faultline serve`: start the API server, print where it listens, and close it gracefully on
// SIGINT or SIGTERM. The action resolves once the server is closed; main.ts then exits 0.

import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { isLoopbackHost } from '../api/browser-access.js';
import type { CliIO } from './output.js';

interface ServeOptions {
  host: string;
  port: number;
  config?: string;
  seed?: number;
  db: string;
  retainEvents?: number;
  token?: string;
  insecure?: boolean;
  allowedHost?: string[];
  scenarios?: string;
  allowExec?: boolean;
}

/** Names from a comma-separated list; empty items (a trailing comma) are skipped. */
function hostList(raw: string): string[] {
  return raw.split(',').map((name) => name.trim()).filter((name) => name !== '');
}

/** --allowed-host repeats and takes commas; the server says what is wrong with a bad name. */
function collectHosts(raw: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...hostList(raw)];
}

/** An integer port in 0..65535 (0 picks a free port). */
export function parsePort(raw: string): number {
  const port = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(port) || port > 65535) {
    throw new InvalidArgumentError('port must be an integer between 0 and 65535.');
  }
  return port;
}

/** A safe integer seed. */
export function parseSeed(raw: string): number {
  const seed = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(seed)) throw new InvalidArgumentError('seed must be an integer.');
  return seed;
}

/** A positive whole number of events to keep. */
export function parseRetain(raw: string): number {
  const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('retain-events must be a positive integer.');
  return n;
}

/** An explicit folder must exist; the default is used only when it does. */
function scenariosFolder(given: string | undefined): string | undefined {
  const dir = given ?? 'scenarios';
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    // missing: handled below
  }
  if (isDir) return resolve(dir);
  if (given !== undefined) throw new Error(`--scenarios ${given}: not a folder`);
  return undefined;
}

/** Resolves with the signal's name the first time SIGINT or SIGTERM arrives. */
function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export function registerServeCommand(program: Command, io: CliIO): void {
  program
    .command('serve')
    .description('run the faultline server (the Toxiproxy v2 API plus the proxies it manages)')
    .option('--host <host>', 'host the API listens on', '127.0.0.1')
    .option('--port <port>', 'port the API listens on (0 picks a free port)', parsePort, 8474)
    .option('--config <file>', 'JSON file with an array of proxies to create at start (the /populate format)')
    .option('--seed <n>', 'seed for the random source, so toxic decisions replay (default: random)', parseSeed)
    .option('--db <path>', 'SQLite file for proxies, toxics and the event log (:memory: keeps nothing)', 'faultline.db')
    .option('--retain-events <n>', 'events kept in the log before the oldest are pruned (default 1000000)', parseRetain)
    .option('--token <token>', 'token the dashboard page carries and browsers must send (env FAULTLINE_TOKEN; default: random); needed to listen beyond loopback')
    .option('--insecure', 'listen on a non-loopback address without a chosen token')
    .option('--allowed-host <name>', 'a host name browsers may open the dashboard by, besides IP addresses and localhost; ' +
      '.example.com allows its subdomains (repeatable or comma-separated; env FAULTLINE_ALLOWED_HOSTS)', collectHosts)
    .option('--scenarios <dir>', 'folder of scenario files the dashboard can start (default: ./scenarios when it exists)')
    .option('--allow-exec', 'let scenario runs posted with the token run exec probes: shell commands as this server\'s user')
    .action(async (opts: ServeOptions) => {
      const token = opts.token ?? (io.env.FAULTLINE_TOKEN || undefined);
      const allowedHosts = opts.allowedHost ?? hostList(io.env.FAULTLINE_ALLOWED_HOSTS ?? '');
      const scenariosDir = scenariosFolder(opts.scenarios);
      // Loaded lazily so the client commands never pay for the server's modules.
      const { createServer } = await import('../server.js');
      const signal = nextSignal();
      const server = await createServer({
        host: opts.host,
        port: opts.port,
        ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
        ...(opts.config !== undefined ? { config: opts.config } : {}),
        db: opts.db,
        ...(opts.retainEvents !== undefined ? { retainEvents: opts.retainEvents } : {}),
        ...(token !== undefined ? { token } : {}),
        ...(opts.insecure === true ? { insecure: true } : {}),
        allowedHosts,
        ...(scenariosDir !== undefined ? { scenariosDir } : {}),
        ...(opts.allowExec === true ? { allowExec: true } : {}),
        log: (line: string) => io.err(line.endsWith('\n') ? line : `${line}\n`),
      });
      io.out(`faultline listening on ${server.url} (seed ${server.seed})\n`);
      // With exec allowed beyond loopback the page does not carry the token; the user brings it.
      const bring = opts.allowExec === true && !isLoopbackHost(opts.host) ? '#token=<your token>' : '';
      io.out(`dashboard: ${server.url}/dashboard/${bring}\n`);
      const received = await signal;
      io.err(`faultline: ${received} received, shutting down\n`);
      await server.close();
    });
}
