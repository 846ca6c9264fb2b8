// Lets one section of the benchmark run on its own (`node dist/bench/udp.js [--quick] [--json]`),
// printing its table and its PASS/FAIL lines as the full run would.

import { pathToFileURL } from 'node:url';
import type { Check } from './report.js';

interface Section<R> {
  measure(quick: boolean, log: (line: string) => void): Promise<R>;
  /** Loaded lazily: report.js imports the section modules, so importing it up front would cycle. */
  render(): Promise<{ format(results: R): string[]; checks(results: R): Check[] }>;
}

/** Runs the section if `moduleUrl` is the script node was started with; otherwise does nothing. */
export function runIfMain<R extends object>(moduleUrl: string, section: Section<R>): void {
  if (process.argv[1] === undefined || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const log = (line: string) => { if (!json) process.stderr.write(`${line}\n`); };
  void Promise.all([section.render(), section.measure(args.includes('--quick'), log)]).then(([{ format, checks }, results]) => {
    const text = json
      ? JSON.stringify({ ...results, checks: checks(results) }, null, 2)
      : [...format(results), '', ...checks(results).map((c) => `  ${c.pass ? 'PASS' : 'FAIL'}  ${c.target}: ${c.measured}`)].join('\n');
    process.stdout.write(`${text}\n`);
  });
}
