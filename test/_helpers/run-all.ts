// `npm test`: runs uvu over the compiled tests and fails when Total and Passed differ. uvu exits
// 0 when a suite's before-hook throws (its tests count in Total but never run), so its own exit
// code cannot be trusted alone.

import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// uvu's command line, ending its process once the last suite has reported (uvu-run.ts).
const uvu = join(dirname(fileURLToPath(import.meta.url)), 'uvu-run.js');
const tests = join(dirname(fileURLToPath(import.meta.url)), '..');
// uvu sets FORCE_COLOR=1 unless told --no-color, and every Node child a test spawns then warns
// that NO_COLOR is ignored. Colour only where someone reads it: a terminal that did not opt out.
const colour = process.stdout.isTTY === true && (process.env.NO_COLOR ?? '') === ''
  && process.env.FORCE_COLOR !== '0' && process.env.FORCE_COLOR !== 'false';
const child = spawn(process.execPath, [uvu, tests, '\\.test\\.js$', '-i', '_helpers', ...(colour ? [] : ['--no-color']), ...process.argv.slice(2)], {
  stdio: ['inherit', 'pipe', 'inherit'],
});
let tail = '';
child.stdout.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString('utf8')).slice(-4000);
});
child.on('close', (code) => {
  const plain = tail.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
  const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
  // Tests whose prerequisite is missing (Chromium, a database server) are skipped with a NOTE
  // saying why, and counted as skipped by uvu, never as passed.
  const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  if (skipped > 0) process.stdout.write(`\n${skipped} tests skipped: a prerequisite is missing (see the NOTE lines above)\n`);
  if (code !== 0) process.exit(code ?? 1);
  if (!Number.isFinite(total) || total !== passed) {
    process.stderr.write(`\n${Number.isFinite(total) ? total - passed : 'some'} tests did not pass (a suite's setup may have failed)\n`);
    process.exit(1);
  }
});
