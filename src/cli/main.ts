#!/usr/bin/env node
// The faultline executable: runs the program on process.argv and exits with its code. This is
// the only file in the CLI that calls process.exit.

import { run } from './program.js';

const io = {
  out: (text: string) => void process.stdout.write(text),
  err: (text: string) => void process.stderr.write(text),
  env: process.env,
};

const code = await run(process.argv.slice(2), io);
// Exit only once both streams have flushed, so piped output is never cut short.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
