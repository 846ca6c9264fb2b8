// Scenario commands: `validate FILE` and `run FILE [--dry-run] [--embedded [--db FILE]]
// [--report DIR]`. An invalid file prints one line per issue, `FILE:line:column: path: message`,
// on stderr and ends with exit code 3; `run` ends with the runner's code (0 held, 1 deviated,
// 2 halted, 4 could not start). Codes travel to main.ts as a CommanderError, which
// program.ts's `run` returns.
// After the rollback, `run` builds the run's record (scenario/record.ts, with what every server
// it drove was seen doing, scenario/observe.ts) and stores it on the `default` server with
// PUT /scenarios/runs/{id}, so `faultline report ID` finds it there; --report writes the report
// files at once. Keeping the record is best effort: a failure is a warning, never an exit code.

import { open } from 'node:fs/promises';
import { CommanderError, type Command } from 'commander';
import { publicId } from '../ids.js';
import { resolveUrl } from './client.js';
import { createProgress } from './progress.js';
import { printLine, type CliIO } from './output.js';
import { writeReport } from './report.js';
import { formatDuration } from '../scenario/duration.js';
import { parseScenario } from '../scenario/parse.js';
import { planLines } from '../scenario/plan.js';
import { SCENARIO_LIMITS, tooLarge } from '../scenario/read-yaml.js';
import type { RunResult } from '../scenario/runner.js';
import type { Scenario } from '../scenario/types.js';

/** The exit code of a scenario that does not validate (issue 6). */
export const EXIT_INVALID = 3;

interface RunOptions {
  dryRun?: boolean;
  embedded?: boolean;
  report?: string;
  db?: string;
}

/** Ends the command with `code`, without printing anything more. */
function exitWith(code: number): never {
  throw new CommanderError(code, 'faultline.scenario', '');
}

/** The file's text, reading no more than the size limit allows (FILE may be huge, or endless
 *  like a FIFO); the size when it is over the limit. */
async function readBounded(file: string): Promise<{ text: string } | { over: number }> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(SCENARIO_LIMITS.bytes + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await handle.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n <= SCENARIO_LIMITS.bytes) return { text: buf.toString('utf8', 0, n) };
    return { over: Math.max(n, (await handle.stat()).size) };
  } finally {
    await handle.close();
  }
}

/** Reads and parses FILE; on failure prints every issue and ends with exit code 3. */
async function load(file: string, cmd: Command, io: CliIO): Promise<{ scenario: Scenario; text: string }> {
  let read: { text: string } | { over: number };
  try {
    read = await readBounded(file);
  } catch (err) {
    io.err(`${file}: cannot read the scenario: ${(err as Error).message}\n`);
    return exitWith(EXIT_INVALID);
  }
  if ('over' in read) {
    io.err(`${file}:1:1: ${tooLarge(read.over)}\n${file}: 1 error\n`);
    return exitWith(EXIT_INVALID);
  }
  const { text } = read;
  const { url } = cmd.optsWithGlobals<{ url?: string }>();
  const { scenario, issues } = parseScenario(text, { defaultServer: resolveUrl(url, io.env), env: io.env });
  if (scenario === null) {
    for (const i of issues) {
      io.err(`${file}:${i.line}:${i.column}: ${i.path === '' ? '' : `${i.path}: `}${i.message}\n`);
    }
    io.err(`${file}: ${issues.length} ${issues.length === 1 ? 'error' : 'errors'}\n`);
    return exitWith(EXIT_INVALID);
  }
  return { scenario, text };
}

const steps = (n: number) => `${n} ${n === 1 ? 'step' : 'steps'}`;

export function registerScenarioCommands(program: Command, io: CliIO): void {
  program
    .command('validate')
    .description('check a scenario file and report every error with its line and column (exit 3 if invalid)')
    .argument('<file>', 'scenario file, YAML or JSON')
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      const { scenario } = await load(file, cmd, io);
      printLine(io, `ok: ${scenario.title} (${steps(scenario.timeline.length)}, ${formatDuration(scenario.durationMs)})`);
    });

  program
    .command('run')
    .description('run a game-day scenario: exit 0 steady state held, 1 deviated, 2 halted, 3 invalid, 4 could not start')
    .argument('<file>', 'scenario file, YAML or JSON')
    .option('--url <url>', 'the `default` server (also accepted before the command; env FAULTLINE_URL)')
    .option('--embedded', 'run against an in-process server as the default server (for CI)')
    .option('--db <file>', 'with --embedded: the SQLite file the embedded server keeps its events and the run record in (default: memory)')
    .option('--report <dir>', 'also write the run\'s report, <id>.json and <id>.html, into this directory at the end')
    .option('--dry-run', 'print the resolved plan as a timeline and touch nothing')
    .action(async (file: string, opts: RunOptions, cmd: Command) => {
      if (opts.db !== undefined && opts.embedded !== true) {
        throw new Error('--db is for --embedded runs; a standalone server keeps its own (faultline serve --db FILE)');
      }
      const { scenario, text } = await load(file, cmd, io);
      if (opts.dryRun) {
        for (const line of planLines(scenario)) printLine(io, line);
        return;
      }
      // Loaded lazily: validate and --dry-run never pay for the runner or the server.
      const { runScenario } = await import('../scenario/runner.js');
      const id = publicId();
      const abort = new AbortController();
      const progress = createProgress(io, scenario);
      const onSignal = (signal: NodeJS.Signals): void => {
        progress.err(`faultline: ${signal} received, rolling back\n`);
        abort.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      let embedded: { url: string; close(): Promise<void> } | null = null;
      let t0: number | null = null;
      let result: RunResult;
      try {
        try {
          result = await runScenario(scenario, {
            embedded: opts.embedded === true,
            // The runner's close is a no-op: the server stays up until the record is stored.
            startEmbedded: async () => {
              const { createServer } = await import('../server.js');
              embedded = await createServer({ host: '127.0.0.1', port: 0, db: opts.db ?? ':memory:' });
              return { url: embedded.url, close: async () => {} };
            },
            out: progress.out,
            onTimelineStart: (at) => { t0 = at; progress.onTimelineStart(at); },
            onStep: progress.onStep,
            onProbe: progress.onProbe,
            signal: abort.signal,
          });
        } finally {
          progress.done();
          // The rollback is done: a second interrupt may now end the process as usual.
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
        await keepRecord({ id, scenario, text, result, t0, opts, io, embedded: embedded !== null });
      } finally {
        const server = embedded as { close(): Promise<void> } | null;
        if (server !== null) await server.close().catch((err: Error) => io.err(`faultline: warning: embedded server close failed: ${err.message}\n`));
      }
      if (result.exitCode !== 0) exitWith(result.exitCode);
    });
}

interface Kept {
  id: string;
  scenario: Scenario;
  text: string;
  result: RunResult;
  /** The timeline's start, epoch ms; null when it never started. */
  t0: number | null;
  opts: RunOptions;
  io: CliIO;
  /** The embedded server started (it is still up). */
  embedded: boolean;
}

/** Builds the run's record, stores it and writes the report; prints where to find it. */
async function keepRecord({ id, scenario, text, result, t0, opts, io, embedded }: Kept): Promise<void> {
  const warn = (message: string) => io.err(`faultline: warning: ${message}\n`);
  const store = opts.embedded !== true || (embedded && opts.db !== undefined);
  const lines = [`run ${id}: ${result.status} (exit ${result.exitCode})`];
  if (store || opts.report !== undefined) {
    try {
      await storeAndWrite();
    } catch (err) {
      warn(`the record of run ${id} was not kept: ${(err as Error).message}`);
    }
  }
  if (opts.embedded && opts.db === undefined) {
    lines.push(opts.report !== undefined
      ? `note: the embedded server is gone, so run ${id} is kept in the report only; --db FILE stores it too`
      : `note: the embedded server is gone, so run ${id} is not stored; --report DIR or --db FILE keeps it`);
  }
  for (const line of lines) printLine(io, line);

  async function storeAndWrite(): Promise<void> {
    const [{ ScenarioApi }, { observeServers }, record] = await Promise.all([
      import('../scenario/api-client.js'), import('../scenario/observe.js'), import('../scenario/record.js'),
    ]);
    const run = record.newRecord({ id, origin: 'cli', scenario, text, startedAt: result.startedAt });
    record.settle(run, result);
    const targets = [...record.proxiesByServer(scenario)]
      .filter(([server]) => result.servers[server] !== undefined)
      .map(([server, names]) => ({ server, api: new ScenarioApi(server, result.servers[server]!), proxies: [...names] }));
    const observed = result.steps.length === 0 ? new Map()
      : await observeServers(targets, result.startedAt, result.endedAt, { healed: result.rollback.ok });
    record.withEvidence(run, scenario, t0, observed);
    const url = result.servers.default!;
    if (store) {
      try {
        await new ScenarioApi('default', url).putRun(run);
        if (opts.embedded) lines.push(`report: faultline serve --db ${opts.db}, then faultline report ${id}`);
        else lines.push(`report: faultline report ${id}${url === resolveUrl(undefined, io.env) ? '' : ` --url ${url}`}`);
      } catch (err) {
        warn(`run ${id} was not stored on ${url}: ${(err as Error).message}`);
      }
    }
    if (opts.report !== undefined) {
      try {
        const paths = await writeReport(run, opts.report);
        lines.push(`report: ${paths.json}`, `report: ${paths.html}`);
      } catch (err) {
        warn(`cannot write the report of run ${id} into ${opts.report}: ${(err as Error).message}`);
      }
    }
  }
}
