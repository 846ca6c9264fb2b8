#!/usr/bin/env node
// The faultline executable: runs the program on process.argv and exits with its code. This is
// the only file in the CLI that calls process.exit.

import type { CliIO } from './output.js';
import { run } from './program.js';

const io: CliIO = {
  out: (text: string) => void process.stdout.write(text),
  err: (text: string) => void process.stderr.write(text),
  env: process.env,
};
if (process.stdout.isTTY) {
  const tty: { columns?: number } = { columns: process.stdout.columns };
  // Live displays read the width on every redraw, so a resized window is followed.
  process.stdout.on('resize', () => { tty.columns = process.stdout.columns; });
  io.tty = tty;
}

const code = await run(process.argv.slice(2), io);
// Exit only once both streams have flushed, so piped output is never cut short.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
