// Builds the commander program with injectable writers, and runs it to an exit code. Nothing
// here exits the process: main.ts does that with the code `run` returns.

import { Command, CommanderError, type Option } from 'commander';
import { DEFAULT_URL, VERSION } from './client.js';
import type { CliIO } from './output.js';
import { registerProxyCommands } from './proxies.js';
import { registerReportCommand } from './report.js';
import { registerScenarioCommands } from './scenario.js';
import { registerServeCommand } from './serve.js';
import { registerToxicCommands } from './toxics.js';

const ROOT_HELP = `
The server address comes from --url, else $FAULTLINE_URL, else $TOXIPROXY_URL, else
${DEFAULT_URL}; http:// is added when there is no scheme.

Examples:
  faultline serve --port 8474
  faultline create redis -l 127.0.0.1:26379 -u 127.0.0.1:6379
  faultline toxic add redis -t latency -a latency=200 -a jitter=50
  faultline list --json`;

// The root options a command reads, listed under "Global Options" in its help, so `list --help`
// tells of --url and its environment variables. By the command's name under the root; the proxy
// and toxic commands, not listed, read both. serve reads neither, and run and report declare
// their own --url.
const ROOT_OPTIONS_READ: Readonly<Record<string, readonly string[]>> = {
  serve: [], validate: ['--url'], run: [], report: [],
};
const CLIENT_ROOT_OPTIONS = ['--url', '--json'];

function globalOptionsFor(cmd: Command): Option[] {
  if (cmd.parent === null) return [];
  let top = cmd;
  while (top.parent?.parent) top = top.parent;
  const read = ROOT_OPTIONS_READ[top.name()] ?? CLIENT_ROOT_OPTIONS;
  const own = new Set(cmd.options.map((o) => o.long));
  const root = top.parent ?? top;
  return root.options.filter((o) => o.long !== undefined && read.includes(o.long) && !own.has(o.long));
}

export function buildProgram(io: CliIO): Command {
  const program = new Command('faultline');
  // Set before any subcommand is added: `.command()` copies these settings to its children.
  program
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text),
      writeErr: (text) => io.err(text),
      outputError: (text, write) => write(text),
    })
    .description('faultline: a chaos network fault proxy speaking the Toxiproxy v2 API')
    .version(VERSION, '-v, --version', 'print the faultline version')
    .helpOption('-h, --help', 'show help for a command')
    .helpCommand('help [command]', 'show help for a command')
    .configureHelp({ showGlobalOptions: true, visibleGlobalOptions: globalOptionsFor })
    .option('--url <url>', `server API address (env FAULTLINE_URL or TOXIPROXY_URL; default ${DEFAULT_URL})`)
    .option('--json', 'print the server JSON response instead of text (proxy and toxic commands)')
    .addHelpText('after', ROOT_HELP);

  registerServeCommand(program, io);
  registerProxyCommands(program, io);
  registerToxicCommands(program, io);
  registerScenarioCommands(program, io);
  registerReportCommand(program, io);
  return program;
}

/** Parses `argv` (the user's arguments, without node and the script) and returns the exit code. */
export async function run(argv: readonly string[], io: CliIO): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    // Commander already printed its own message (usage error) or the help/version text.
    if (err instanceof CommanderError) return err.exitCode;
    const message = err instanceof Error ? err.message : String(err);
    io.err(`faultline: ${message.trim().replace(/\s*\n\s*/g, ' ')}\n`);
    return 1;
  }
}
