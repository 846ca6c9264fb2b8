// uvu's command line (`uvu DIR PATTERN -i IGNORE`), except that the process ends once the last
// suite has reported instead of waiting for Node's own teardown. On a loaded machine that
// teardown was once seen spinning after every test had passed (the main thread looping in
// Node's handle cleanup, every worker idle) until the CI timeout killed it. What was still open
// is printed first, so a handle a test left behind is named rather than hidden.

import { parse } from 'uvu/parse';
import { run } from 'uvu/run';

const args = process.argv.slice(2);
const ignore: string[] = [];
const positional: string[] = [];
for (let i = 0; i < args.length; i++) {
  const arg = args[i]!;
  if (arg === '-i' || arg === '--ignore') ignore.push(args[++i] ?? '');
  else if (arg === '--no-color') process.env.FORCE_COLOR = '0';
  else positional.push(arg);
}
if (process.env.FORCE_COLOR === undefined) process.env.FORCE_COLOR = '1';

const [dir, pattern] = positional;
const ctx = await parse(dir ?? '.', pattern, { ignore });
await run(ctx.suites, { bail: false });

type Internal = NodeJS.Process & { _getActiveHandles(): object[]; _getActiveRequests(): object[] };
const internal = process as Internal;
const isStdio = (h: object) => (h as { fd?: number }).fd !== undefined && (h as { fd: number }).fd <= 2;
const open = internal._getActiveHandles().filter((h) => !isStdio(h)).map((h) => h.constructor.name);
const pending = internal._getActiveRequests().map((r) => r.constructor.name);
if (open.length > 0 || pending.length > 0) {
  const count = (names: string[]) => [...new Set(names)].map((n) => `${names.filter((x) => x === n).length} ${n}`).join(', ');
  process.stderr.write(`NOTE: still open when the tests ended: ${count(open) || 'no handles'}; ${count(pending) || 'no requests'}\n`);
}
process.exit(process.exitCode ?? 0);
