// The dashboard under load, in headless Chromium against a real server: fault events reported into
// the server's bus as the proxies report them (40 proxy, toxic and action combinations, each under
// the bus's 50/s limit, so every one is streamed), with clicks during the load. Shared by the
// test, which asserts only what must hold on any machine (nothing lost, memory and DOM bounded,
// the page answers), and by `npm run bench:dashboard`, which reports the responsiveness figures
// against their budgets.

import { performance } from 'node:perf_hooks';
import type { Browser, CDPSession, Page } from 'playwright-core';
import type { FaultAction } from '../../src/toxic.js';
import { openDashboard, screenshot } from './browser.js';
import { sleep, type TestServer } from './net.js';

const PROXIES = ['orders', 'payments', 'search', 'sessions', 'stock'];
const TOXICS = [{ toxic: 'lat', type: 'latency' }, { toxic: 'cut', type: 'slicer' }];
const ACTIONS: FaultAction[] = ['delayed', 'dropped', 'sliced', 'corrupted'];

/** Long tasks and slow input events, observed from before the page's own scripts run. */
const OBSERVE = `(() => {
  window.__long = [];
  window.__frames = [];
  window.__input = [];
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__frames.push([e.startTime, e.duration]); })
    .observe({ type: 'long-animation-frame', buffered: true });
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push([e.startTime, e.duration]); })
    .observe({ type: 'longtask', buffered: true });
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__input.push([e.name, e.duration]); })
    .observe({ type: 'event', durationThreshold: 16, buffered: true });
})();`;

export interface Sample { at: number; heapMB: number; nodes: number; domElements: number }

export interface DashboardLoad {
  rate: number;
  seconds: number;
  sent: number;
  streamed: number;
  folded: number;
  /** Events per second the load actually reached, by the test's clock. */
  sentRate: number;
  /** The rate the page showed, sampled every 2 s, and its median. */
  pageRates: number[];
  medianPageRate: number;
  /** Milliseconds between an event's emission and the sample that found it as the page's newest row. */
  newestAges: number[];
  /** Long tasks and long animation frames in the load window, outside forced GCs (ms each). */
  longTasks: number[];
  longFrames: number[];
  /** Click on the pause button until it showed pressed; click on a row until its detail opened (ms). */
  pauseMs: number;
  detailMs: number;
  /** Pointer and key events slower than 16 ms, as "name ms". */
  slowInput: string[];
  detailTitle: string | null;
  early: Sample;
  late: Sample;
  /** The page's newest row, once the load stopped and the page caught up: the last event sent. */
  caughtUp: boolean;
  logCount: string;
  logFolded: string | null;
  connState: string | null;
  windowMs: number;
  problems: string[];
}

async function sample(page: Page, cdp: CDPSession, t0: number, gcWindows: Array<[number, number]>): Promise<Sample> {
  const from = await page.evaluate(() => performance.now());
  await cdp.send('HeapProfiler.collectGarbage');
  gcWindows.push([from, await page.evaluate(() => performance.now())]);
  const { metrics } = await cdp.send('Performance.getMetrics');
  const metric = (name: string) => metrics.find((m) => m.name === name)?.value ?? Number.NaN;
  return {
    at: Math.round((performance.now() - t0) / 100) / 10,
    heapMB: Math.round(metric('JSHeapUsedSize') / 1e4) / 100,
    nodes: metric('Nodes'),
    domElements: await page.evaluate(() => document.getElementsByTagName('*').length),
  };
}

/** Runs `rate` events/s for `seconds` (at least 20) into `server` and the dashboard open in `browser`. */
export async function runDashboardLoad(server: TestServer, browser: Browser, rate: number, seconds: number): Promise<DashboardLoad> {
  if (seconds < 20) throw new Error('the load runs at least 20 s: its samples and clicks are placed up to 18 s');
  for (const name of PROXIES) await server.proxy(name, '127.0.0.1:9');
  const streamed = new Map<string, number>();
  let folded = 0;
  let lastId = '';
  const unsubscribe = [
    server.events.on('fault:injected', (e) => { streamed.set(e.id, e.ts); lastId = e.id; }),
    server.events.on('fault:folded', (e) => { folded += e.count; }),
  ];
  const dash = await openDashboard(browser, server.url, { initScript: OBSERVE });
  let timer: NodeJS.Timeout | null = null;
  try {
    const page = dash.page;
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');

    // The observers work here: a deliberate 150 ms task shows up as a long task and a long frame.
    // (It runs from a timer: code evaluated by the test itself is not a task of the page's.)
    await page.evaluate(() => setTimeout(() => { const end = performance.now() + 150; while (performance.now() < end); }));
    await page.waitForFunction(() => [(window as any).__long, (window as any).__frames]
      .every((entries: Array<[number, number]>) => entries.some(([, d]) => d >= 140)));

    const combos = PROXIES.flatMap((proxy) => TOXICS.flatMap((t) => ACTIONS.map((action) => ({ proxy, ...t, action }))));
    const total = rate * seconds;
    let sent = 0;
    const t0 = performance.now();
    const pageT0 = await page.evaluate(() => performance.now());
    // Catches up to the schedule on every tick, so timer jitter changes the batching, not the rate.
    timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000));
      for (; sent < due; sent++) {
        const c = combos[sent % combos.length]!;
        server.events.fault({ proxy: c.proxy, protocol: 'tcp', conn: `conn-${sent % 64}`, client: `127.0.0.1:${40_000 + (sent % 64)}`,
          toxic: c.toxic, type: c.type, stream: 'downstream', action: c.action, detail: { ms: 5 } });
      }
    }, 5);
    const at = (s: number) => sleep(Math.max(0, t0 + s * 1000 - performance.now()));
    const pageRates: number[] = [];
    const newestAges: number[] = [];
    const observe = async () => {
      pageRates.push(Number((await page.textContent('#log-rate'))?.split(' ')[0]));
      const newest = await page.getAttribute('#event-log .event-row[aria-posinset="1"]', 'data-id');
      newestAges.push(Date.now() - (streamed.get(newest ?? '') ?? 0));
    };
    const gcWindows: Array<[number, number]> = [];
    for (const s of [3, 5, 7, 9]) { await at(s); await observe(); }
    await at(10);
    const early = await sample(page, cdp, t0, gcWindows);

    // Input during the load: a button, then a row (focused first: rows slide while the list moves).
    await at(14);
    let t = performance.now();
    await page.click('#log-pause');
    await page.waitForSelector('#log-pause[aria-pressed="true"]');
    const pauseMs = performance.now() - t;
    await page.click('#log-pause');
    await page.waitForSelector('#log-pause[aria-pressed="false"]');
    await page.focus('#event-log .event-row[aria-posinset="3"]');
    t = performance.now();
    await page.click('#event-log .event-row:focus');
    await page.waitForSelector('#event-detail[open]');
    const detailMs = performance.now() - t;
    const detailTitle = await page.textContent('#event-detail-title');
    await page.keyboard.press('Escape');
    await page.locator('#event-detail').waitFor({ state: 'hidden' });
    await page.focus('#log-pause');
    await page.$eval('#event-log', (el) => { el.scrollTop = 0; });

    for (let s = 18; s < seconds; s += 2) { await at(s); await observe(); }
    await screenshot(page, 'load');
    await at(seconds);
    // Every event is due by now; the last tick may still be pending on a starved timer.
    while (sent < total) await sleep(5);
    const sentRate = (sent * 1000) / (performance.now() - t0);
    const late = await sample(page, cdp, t0, gcWindows);
    clearInterval(timer);
    timer = null;
    const caughtUp = await page.waitForFunction(
      (id) => document.querySelector('#event-log .event-row[aria-posinset="1"]')?.getAttribute('data-id') === id,
      lastId, { timeout: 20_000 },
    ).then(() => true, () => false);

    const { long, frames, input } = await page.evaluate(() => ({
      long: (window as any).__long as Array<[number, number]>,
      frames: (window as any).__frames as Array<[number, number]>,
      input: (window as any).__input as Array<[string, number]>,
    }));
    const windowStart = pageT0 + 2000;
    const windowMs = seconds * 1000 - 2000;
    const inGc = (start: number) => gcWindows.some(([a, b]) => start >= a - 5 && start <= b + 5);
    const inWindow = ([start]: [number, number]) => start >= windowStart && start < pageT0 + seconds * 1000 && !inGc(start);
    const sorted = [...pageRates].sort((a, b) => a - b);
    return {
      rate, seconds, sent, streamed: streamed.size, folded, sentRate,
      pageRates, medianPageRate: sorted[Math.floor(sorted.length / 2)]!, newestAges,
      longTasks: long.filter(inWindow).map(([, d]) => d),
      longFrames: frames.filter(inWindow).map(([, d]) => d),
      pauseMs, detailMs,
      // Rows sliding under a resting mouse make hover events too; what matters is what the user did.
      slowInput: input.filter(([name]) => ['pointerdown', 'pointerup', 'click', 'keydown'].includes(name)).map(([n, d]) => `${n} ${d}`),
      detailTitle, early, late, caughtUp,
      logCount: await page.textContent('#log-count') ?? '',
      logFolded: await page.textContent('#log-folded'),
      connState: await page.getAttribute('#conn-status', 'data-state'),
      windowMs,
      problems: dash.problems,
    };
  } finally {
    if (timer !== null) clearInterval(timer);
    for (const off of unsubscribe) off();
    await dash.close();
  }
}

/** The figures, for the CI log and the bench. */
export function describeLoad(r: DashboardLoad): string {
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return [
    `  load: ${r.sent} events sent in ${r.seconds} s (${r.sentRate.toFixed(0)}/s), ${r.streamed} streamed, ${r.folded} folded`,
    `  long tasks (${r.windowMs / 1000} s window): ${r.longTasks.length}, max ${Math.max(0, ...r.longTasks).toFixed(0)} ms, total ${sum(r.longTasks).toFixed(0)} ms (${((100 * sum(r.longTasks)) / r.windowMs).toFixed(1)} %)`,
    `  long animation frames: ${r.longFrames.length}, max ${Math.max(0, ...r.longFrames).toFixed(0)} ms, total ${sum(r.longFrames).toFixed(0)} ms`,
    `  input: pause ${r.pauseMs.toFixed(0)} ms, row → detail ${r.detailMs.toFixed(0)} ms; input events over 16 ms: ${r.slowInput.join(', ')}`,
    `  page rate (events/s): ${r.pageRates.join(' ')}; newest row age (ms): ${r.newestAges.join(' ')}`,
    `  log: ${r.logCount}; caught up after the load: ${r.caughtUp}`,
    `  heap: ${r.early.heapMB} MB at ${r.early.at} s, ${r.late.heapMB} MB at ${r.late.at} s; nodes ${r.early.nodes} → ${r.late.nodes}; elements ${r.early.domElements} → ${r.late.domElements}`,
  ].join('\n');
}
