// @ts-check
// Two uPlot charts over the last five minutes, for the selected proxy or (none selected) all
// proxies together: throughput per direction, and faults per second by action. uPlot comes
// from a classic script as a global; without it the panel says so and the page still works.

import { byId, h, replace } from './dom.js';
import { byteRate, perSecond } from './format.js';
import { ALL, HISTORY, on, state } from './state.js';

/** @import { UPlotChart, UPlotCtor, UPlotOptions, Sample } from './types' */

const HEIGHT = 180;
/** Actions get stable colours in this order, so "dropped" is the same colour everywhere. */
const ACTIONS = ['delayed', 'dropped', 'duplicated', 'reordered', 'corrupted', 'reset', 'closed', 'held', 'released', 'sliced', 'refused', 'aborted', 'rejected'];

/** @type {{throughput: UPlotChart | null, faults: UPlotChart | null, actions: string}} */
const charts = { throughput: null, faults: null, actions: '' };

export function initCharts() {
  const UPlot = window.uPlot;
  if (UPlot === undefined) {
    replace(byId('charts'), h('p', { class: 'empty', text: 'Charts are unavailable: the charting library did not load.' }));
    return;
  }
  on('stats', () => update(UPlot));
  on('selected', () => {
    byId('charts-title').textContent = `Last 5 minutes: ${state.selected ?? 'all proxies'}`;
    update(UPlot);
  });
  new ResizeObserver(() => resize()).observe(byId('charts'));
  // Colours come from CSS variables; a scheme change rebuilds the charts in the new ones.
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => rebuild(UPlot));
  rebuild(UPlot);
}

function rebuild(/** @type {UPlotCtor} */ UPlot) {
  charts.throughput?.destroy();
  charts.faults?.destroy();
  charts.throughput = null;
  charts.faults = null;
  charts.actions = '';
  update(UPlot);
}

/** @param {UPlotCtor} UPlot */
function update(UPlot) {
  const samples = state.history.get(state.selected ?? ALL) ?? [];
  const xs = samples.map((s) => s.ts / 1000);
  const throughputData = /** @type {[number[], number[], number[]]} */ ([xs, samples.map((s) => s.up), samples.map((s) => s.down)]);
  if (charts.throughput === null) {
    charts.throughput = new UPlot(options('throughput', [
      { label: '↑ client → server', stroke: color('--chart-up'), width: 2, value: (_u, v) => (v === null ? '—' : byteRate(v)) },
      { label: '↓ server → client', stroke: color('--chart-down'), width: 2, value: (_u, v) => (v === null ? '—' : byteRate(v)) },
    ], (v) => byteRate(v), 1000), throughputData, byId('chart-throughput'));
  } else {
    charts.throughput.setData(throughputData);
  }
  const seen = actionsIn(samples);
  const faultData = /** @type {[number[], ...number[][]]} */ ([xs, ...seen.map((a) => samples.map((s) => s.actions[a] ?? 0))]);
  if (charts.faults === null || charts.actions !== seen.join()) {
    // A new action means a new series: rebuilding is simpler than uPlot's addSeries bookkeeping.
    charts.faults?.destroy();
    charts.actions = seen.join();
    charts.faults = new UPlot(options('faults', seen.map((a) => ({
      label: a, stroke: color(`--action-${ACTIONS.includes(a) ? a : 'other'}`), width: 2,
      value: (/** @type {unknown} */ _u, /** @type {number | null} */ v) => (v === null ? '—' : `${perSecond(v)}/s`),
    })), (v) => perSecond(v), 1), faultData, byId('chart-faults'));
  } else {
    charts.faults.setData(faultData);
  }
}

/** Every action with a non-zero rate in the window, in the fixed order. */
function actionsIn(/** @type {Sample[]} */ samples) {
  const found = new Set();
  for (const s of samples) for (const [a, n] of Object.entries(s.actions)) if (n > 0) found.add(a);
  return [...ACTIONS.filter((a) => found.has(a)), ...[...found].filter((a) => !ACTIONS.includes(a)).sort()];
}

/**
 * @param {string} name
 * @param {UPlotOptions['series']} series the y series
 * @param {(v: number) => string} format
 * @param {number} floor the y axis's top when everything is 0, so an idle chart has round ticks
 * @returns {UPlotOptions}
 */
function options(name, series, format, floor) {
  const fg = color('--muted');
  const grid = color('--grid');
  return {
    title: undefined,
    width: widthOf(),
    height: HEIGHT,
    class: `chart-${name}`,
    // The x range is always the full window ending now, so an idle proxy's chart still moves.
    scales: {
      x: { time: true, range: () => { const now = Date.now() / 1000; return [now - HISTORY, now]; } },
      y: { range: (_u, _min, max) => [0, max > 0 ? Math.max(max * 1.1, floor) : floor] },
    },
    series: [{}, ...series],
    axes: [
      { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, space: 90 },
      { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, size: 70,
        values: (_u, splits) => splits.map((v) => format(v)) },
    ],
    legend: { show: true, live: true },
    cursor: { drag: { x: false, y: false } },
  };
}

function widthOf() {
  const box = byId('chart-throughput').getBoundingClientRect();
  return Math.max(200, Math.floor(box.width || byId('charts').getBoundingClientRect().width || 600));
}

function resize() {
  const width = widthOf();
  for (const chart of [charts.throughput, charts.faults]) {
    if (chart !== null && Math.abs(chart.width - width) > 1) chart.setSize({ width, height: HEIGHT });
  }
}

function color(/** @type {string} */ variable) {
  return getComputedStyle(document.documentElement).getPropertyValue(variable).trim() || '#888';
}
