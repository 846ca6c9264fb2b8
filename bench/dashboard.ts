// `npm run bench:dashboard`: how the dashboard holds up under 1,000 fault events a second for
// 30 s in headless Chromium (the same load as test/dashboard-load.test.ts, which asserts only
// what must always hold). Prints the figures and the responsiveness budgets, PASS or FAIL; a
// busy machine fails budgets here, never a test.
//
//   node dist/bench/dashboard.js [--json] [--rate N] [--seconds N]

import { CHROMIUM, launch } from '../test/_helpers/browser.js';
import { describeLoad, runDashboardLoad, type DashboardLoad } from '../test/_helpers/dashboard-load.js';
import { startServer } from '../test/_helpers/net.js';
import type { Check } from './report.js';
import { existsSync } from 'node:fs';
import os from 'node:os';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const rate = flag('--rate', 1000);
const seconds = flag('--seconds', 30);

function dashboardChecks(r: DashboardLoad): Check[] {
  const maxLong = Math.max(0, ...r.longTasks);
  const totalLong = r.longTasks.reduce((a, b) => a + b, 0);
  const maxFrame = Math.max(0, ...r.longFrames);
  const slowest = Math.max(0, ...r.slowInput.map((s) => Number(s.split(' ')[1])));
  const maxAge = Math.max(...r.newestAges);
  const rateRatio = r.medianPageRate / r.sentRate;
  return [
    { target: 'longest task < 250 ms', measured: `${maxLong.toFixed(0)} ms`, pass: maxLong < 250 },
    { target: 'long tasks < 15 % of the load', measured: `${((100 * totalLong) / r.windowMs).toFixed(1)} %`, pass: totalLong < r.windowMs * 0.15 },
    { target: 'longest animation frame < 500 ms', measured: `${maxFrame.toFixed(0)} ms`, pass: maxFrame < 500 },
    { target: 'clicks answered in < 1000 ms', measured: `pause ${r.pauseMs.toFixed(0)} ms, row → detail ${r.detailMs.toFixed(0)} ms`, pass: r.pauseMs < 1000 && r.detailMs < 1000 },
    { target: 'every input event handled in < 500 ms', measured: `${slowest} ms`, pass: slowest < 500 },
    { target: 'newest row < 2000 ms old', measured: `${maxAge} ms`, pass: maxAge < 2000 },
    { target: 'page rate 0.8x–1.25x the rate sent', measured: `${rateRatio.toFixed(3)}x`, pass: rateRatio >= 0.8 && rateRatio <= 1.25 },
  ];
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    process.stderr.write(`${CHROMIUM} is missing: apt-get install chromium\n`);
    process.exit(2);
  }
  if (!(rate > 0) || !(seconds >= 20)) {
    process.stderr.write('usage: node dist/bench/dashboard.js [--json] [--rate N (> 0)] [--seconds N (>= 20)]\n');
    process.exit(2);
  }
  const server = await startServer();
  const browser = await launch();
  try {
    const r = await runDashboardLoad(server, browser, rate, seconds);
    const list = dashboardChecks(r);
    if (args.includes('--json')) {
      process.stdout.write(`${JSON.stringify({ load: os.loadavg(), ...r, checks: list }, null, 2)}\n`);
    } else {
      process.stdout.write(`dashboard under ${rate} events/s for ${seconds} s (load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})\n`);
      process.stdout.write(`${describeLoad(r)}\n\n${list.map((c) => `  ${c.pass ? 'PASS' : 'FAIL'}  ${c.target}: ${c.measured}`).join('\n')}\n`);
    }
  } finally {
    await browser.close();
    await server.close();
  }
}

await main();
