// Runs the compiled CLI as a child process, as a user would.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The compiled CLI: this helper compiles to dist/test/_helpers/, the CLI to dist/src/cli/. */
export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface CliResult { code: number | null; stdout: string; stderr: string }

/** Runs the CLI with FAULTLINE_URL/TOXIPROXY_URL cleared, then `env` applied. */
export function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv.FAULTLINE_URL;
  delete childEnv.TOXIPROXY_URL;
  Object.assign(childEnv, env);
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: childEnv, timeout: 15_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}
