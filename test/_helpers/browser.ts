// Headless Chromium for the dashboard's browser tests: Debian's chromium driven by
// playwright-core. A machine without /usr/bin/chromium skips these tests with a note; CI installs
// it. Screenshots go to artifacts/ (gitignored), which CI keeps.

import { existsSync } from 'node:fs';
import type { Test } from 'uvu';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** This helper compiles to dist/test/_helpers/: the repository is three levels up. */
export const ARTIFACTS = fileURLToPath(new URL('../../../artifacts/', import.meta.url));

/** True when Chromium is missing; says so once per file, so a skipped run is visible. */
/** Whether Chromium is absent; says so once, the first time a file asks. */
export function chromiumMissing(): boolean {
  if (existsSync(CHROMIUM)) return false;
  if (!warned) console.log(`\n  NOTE: skipping the browser tests: ${CHROMIUM} is missing (apt-get install chromium)\n`);
  warned = true;
  return true;
}
let warned = false;

/** `test`, or `test.skip` without Chromium, so uvu counts those tests as skipped, not passed. */
export function browserTest(test: Test): Test | Test['skip'] {
  return chromiumMissing() ? test.skip : test;
}

/**
 * A file's shared setup, run once, on the first test that asks, so a failure fails every test
 * (uvu counts a suite whose before hook throws as passed). Tests are skipped without Chromium.
 */
export function setupOnce(setup: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | null = null;
  return () => (done ??= setup());
}

export async function launch(extraArgs: string[] = []): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', ...extraArgs],
  });
}

export interface Dashboard {
  page: Page;
  /** Console errors, uncaught exceptions, failed requests and HTTP errors seen so far. A test
   *  that provokes one on purpose empties it afterwards. */
  problems: string[];
  close(): Promise<void>;
}

export interface OpenOptions extends BrowserContextOptions {
  /** Runs in the page before any of its own scripts. */
  initScript?: string;
  /** Path under the server; default /dashboard/. */
  path?: string;
}

/** Opens the dashboard of `url` in a new context and waits until its stream is connected. */
export async function openDashboard(browser: Browser, url: string, options: OpenOptions = {}): Promise<Dashboard> {
  const { initScript, path = '/dashboard/', ...contextOptions } = options;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true, ...contextOptions });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`requestfailed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`); });
  if (initScript !== undefined) await page.addInitScript(initScript);
  await page.goto(url + path);
  await page.waitForSelector('#conn-status[data-state="open"]', { timeout: 10_000 });
  return { page, problems, close: () => context.close() };
}

/** Saves artifacts/dashboard-NAME.png and returns its size in bytes. */
export async function screenshot(page: Page, name: string, fullPage = false): Promise<number> {
  await mkdir(ARTIFACTS, { recursive: true });
  const file = join(ARTIFACTS, `dashboard-${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return (await stat(file)).size;
}

/**
 * An init script that keeps every uPlot chart the page makes in `window.__charts`, so a test
 * can read the data a chart draws. uplot.js declares `var uPlot` in a classic script, which
 * assigns through this setter; the page gets a Proxy that constructs exactly as uPlot does.
 */
export const RECORD_CHARTS = `(() => {
  window.__charts = [];
  let ctor;
  Object.defineProperty(window, 'uPlot', {
    configurable: true,
    get() { return ctor; },
    set(value) {
      ctor = new Proxy(value, { construct(target, args) { const chart = Reflect.construct(target, args); window.__charts.push(chart); return chart; } });
    },
  });
})();`;

/** One number per series of the newest live chart with that class (throughput or faults). */
export interface ChartData { points: number; labels: string[]; max: number[] }

export function chartData(page: Page, name: 'throughput' | 'faults'): Promise<ChartData | null> {
  return page.evaluate((cls) => {
    const charts = (window as unknown as { __charts: Array<{ root: HTMLElement; data: number[][]; series: Array<{ label?: string }> }> }).__charts;
    const chart = [...charts].reverse().find((c) => c.root.isConnected && c.root.classList.contains(cls));
    if (chart === undefined) return null;
    const ys = chart.data.slice(1);
    return {
      points: chart.data[0]?.length ?? 0,
      labels: chart.series.slice(1).map((s) => String(s.label ?? '')),
      max: ys.map((y) => Math.max(0, ...y.filter((v) => typeof v === 'number'))),
    };
  }, `chart-${name}`);
}

/** Parses "98 KB/s" (decimal units, as the page prints them) into bytes per second. */
export function parseRate(text: string): number {
  const m = /^(\d+(?:\.\d+)?) (B|KB|MB|GB)\/s$/.exec(text.trim());
  if (m === null) return Number.NaN;
  return Number(m[1]) * 1000 ** ['B', 'KB', 'MB', 'GB'].indexOf(m[2]!);
}

/** Pixels of a CSS colour variable in the upper 85 % of a chart's plot: none while its line lies on 0. */
export function raisedPixels(page: Page, cls: string, variable: string): Promise<number> {
  return page.evaluate(({ cls, variable }) => {
    const chart = [...(window as any).__charts].reverse().find((c: any) => c.root.isConnected && c.root.classList.contains(cls));
    const probe = document.createElement('canvas').getContext('2d')!;
    probe.fillStyle = getComputedStyle(document.documentElement).getPropertyValue(variable).trim();
    probe.fillRect(0, 0, 1, 1);
    const [r, g, b] = probe.getImageData(0, 0, 1, 1).data;
    const { left, top, width, height } = chart.bbox;
    const px = (chart.ctx as CanvasRenderingContext2D).getImageData(left, top, width, Math.floor(height * 0.85)).data;
    let n = 0;
    for (let i = 0; i < px.length; i += 4) {
      if (Math.abs(px[i]! - r!) + Math.abs(px[i + 1]! - g!) + Math.abs(px[i + 2]! - b!) < 120 && px[i + 3]! > 100) n++;
    }
    return n;
  }, { cls, variable });
}

/** Controls in `scope` without an accessible name (aria-label, aria-labelledby or a <label>). */
export function unlabelled(page: Page, scope: string): Promise<{ total: number; missing: string[] }> {
  return page.evaluate((scope) => {
    const controls = [...document.querySelectorAll(`${scope} input, ${scope} select, ${scope} textarea`)] as HTMLInputElement[];
    const named = (el: HTMLInputElement) => (el.getAttribute('aria-label') ?? '').trim() !== '' ||
      (el.getAttribute('aria-labelledby') ?? '').split(/\s+/).some((id) => (document.getElementById(id)?.textContent ?? '').trim() !== '') ||
      [...(el.labels ?? [])].some((l) => (l.textContent ?? '').trim() !== '');
    return { total: controls.length, missing: controls.filter((el) => !named(el)).map((el) => el.outerHTML.slice(0, 100)) };
  }, scope);
}

/** Relative luminance (WCAG) of an `rgb(r, g, b)` colour: 0 black, 1 white. */
export const luminance = (rgb: string) => {
  const [r, g, b] = (rgb.match(/\d+/g) ?? []).map(Number).map((c) => (c / 255 <= 0.03928 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
};
