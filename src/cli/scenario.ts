// Scenario commands: `validate FILE` and `run FILE [--dry-run] [--embedded]`. An invalid file
// prints one line per issue, `FILE:line:column: path: message`, on stderr and ends with exit
// code 3; `run` ends with the runner's code (0 held, 1 deviated, 2 halted, 4 could not
// start). Codes travel to main.ts as a CommanderError, which program.ts's `run` returns.

import { readFile } from 'node:fs/promises';
import { CommanderError, type Command } from 'commander';
import { resolveUrl } from './client.js';
import { printLine, type CliIO } from './output.js';
import { formatDuration } from '../scenario/duration.js';
import { parseScenario } from '../scenario/parse.js';
import { planLines } from '../scenario/plan.js';
import type { Scenario } from '../scenario/types.js';

/** The exit code of a scenario that does not validate (issue 6). */
export const EXIT_INVALID = 3;

interface RunOptions {
  dryRun?: boolean;
  embedded?: boolean;
}

/** Ends the command with `code`, without printing anything more. */
function exitWith(code: number): never {
  throw new CommanderError(code, 'faultline.scenario', '');
}

/** Reads and parses FILE; on failure prints every issue and ends with exit code 3. */
async function load(file: string, cmd: Command, io: CliIO): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    io.err(`${file}: cannot read the scenario: ${(err as Error).message}\n`);
    return exitWith(EXIT_INVALID);
  }
  const { url } = cmd.optsWithGlobals<{ url?: string }>();
  const { scenario, issues } = parseScenario(text, { defaultServer: resolveUrl(url, io.env) });
  if (scenario === null) {
    for (const i of issues) {
      io.err(`${file}:${i.line}:${i.column}: ${i.path === '' ? '' : `${i.path}: `}${i.message}\n`);
    }
    io.err(`${file}: ${issues.length} ${issues.length === 1 ? 'error' : 'errors'}\n`);
    return exitWith(EXIT_INVALID);
  }
  return scenario;
}

const steps = (n: number) => `${n} ${n === 1 ? 'step' : 'steps'}`;

export function registerScenarioCommands(program: Command, io: CliIO): void {
  program
    .command('validate')
    .description('check a scenario file and report every error with its line and column (exit 3 if invalid)')
    .argument('<file>', 'scenario file, YAML or JSON')
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      const scenario = await load(file, cmd, io);
      printLine(io, `ok: ${scenario.title} (${steps(scenario.timeline.length)}, ${formatDuration(scenario.durationMs)})`);
    });

  program
    .command('run')
    .description('run a game-day scenario: exit 0 steady state held, 1 deviated, 2 halted, 3 invalid, 4 could not start')
    .argument('<file>', 'scenario file, YAML or JSON')
    .option('--url <url>', 'the `default` server (also accepted before the command; env FAULTLINE_URL)')
    .option('--embedded', 'run against an in-process server as the default server (for CI)')
    .option('--dry-run', 'print the resolved plan as a timeline and touch nothing')
    .action(async (file: string, opts: RunOptions, cmd: Command) => {
      const scenario = await load(file, cmd, io);
      if (opts.dryRun) {
        for (const line of planLines(scenario)) printLine(io, line);
        return;
      }
      // Loaded lazily: validate and --dry-run never pay for the runner or the server.
      const { runScenario } = await import('../scenario/runner.js');
      const abort = new AbortController();
      const onSignal = (signal: NodeJS.Signals): void => {
        io.err(`faultline: ${signal} received, rolling back\n`);
        abort.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const { exitCode } = await runScenario(scenario, {
          embedded: opts.embedded === true,
          startEmbedded: async () => {
            const { createServer } = await import('../server.js');
            const server = await createServer({ host: '127.0.0.1', port: 0, db: ':memory:' });
            return { url: server.url, close: () => server.close() };
          },
          out: (line: string) => printLine(io, line),
          signal: abort.signal,
        });
        if (exitCode !== 0) exitWith(exitCode);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
