// The HTML report of a run: one self-contained document (inline CSS and an inline SVG chart, no
// scripts, no external assets) so that it opens offline and can be attached to an incident
// review. Every string that comes from the record is HTML-escaped: titles, names, details and
// errors come from user files and from servers.

import { REPORT_CSS as CSS } from './report-css.js';
import { summarizeProbes, type RunRecord } from './report.js';

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const e = escapeHtml;

const num = (n: unknown): number => (typeof n === 'number' && Number.isFinite(n) ? n : 0);

function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (Math.abs(ms) >= 1000) return `${(ms / 1000).toFixed(Math.abs(ms) >= 10_000 ? 1 : 2)} s`;
  return `${Math.round(ms * 10) / 10} ms`;
}

function fmtTime(epochMs: number | null): string {
  if (epochMs === null || !Number.isFinite(epochMs)) return '–';
  return new Date(epochMs).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

const STATUS_CLASS: Record<string, string> = {
  held: 'good', deviated: 'warn', halted: 'bad', error: 'bad', aborted: 'muted', not_started: 'bad', running: 'info',
};

/** A "nice" tick step (1, 2, 5 × 10^n) giving about `count` ticks over `span`. */
function niceStep(span: number, count: number): number {
  const raw = Math.max(span, 1e-9) / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const m = raw / pow;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * pow;
}

const r1 = (n: number) => Math.round(n * 10) / 10;

// Chart geometry (SVG user units; the SVG scales to the page width).
const W = 1100;
const LEFT = 230;
const RIGHT = 30;
const PLOT_W = W - LEFT - RIGHT;
const LANE_H = 30;
const STEP_H = 34;
const LAT_H = 200;

/** The inline SVG timeline: fault lanes, step markers, probe latency points, a time axis. */
function renderTimeline(rec: RunRecord): string {
  const probeOffsets = rec.probes.map((p) => num(p.ts) - num(rec.started_at));
  const span = Math.max(
    1,
    num(rec.duration_ms),
    rec.ended_at === null ? 0 : num(rec.ended_at) - num(rec.started_at),
    ...rec.windows.map((w) => num(w.to_ms)),
    ...rec.steps.map((s) => num(s.firedAtMs)),
    ...probeOffsets,
  );
  const tickStep = niceStep(span, 10);
  const tMax = Math.ceil(span / tickStep) * tickStep;
  const x = (ms: number) => r1(LEFT + (Math.min(Math.max(ms, 0), tMax) / tMax) * PLOT_W);

  const parts: string[] = [];
  const background: string[] = [];
  let y = 28;
  // Section title helper.
  const heading = (text: string) => {
    parts.push(`<text class="sec" x="12" y="${y - 8}">${e(text)}</text>`);
  };

  // Fault lanes, one per window.
  heading('Fault windows');
  const lanesTop = y;
  if (rec.windows.length === 0) {
    parts.push(`<text class="note" x="${LEFT}" y="${y + 19}">no toxics were active during this run</text>`);
    y += LANE_H;
  }
  rec.windows.forEach((w, i) => {
    const from = x(num(w.from_ms));
    const to = Math.max(x(num(w.to_ms)), from + 2);
    const label = `${w.proxy}/${w.toxic}`;
    parts.push(
      `<g class="lane" data-window="${i}">` +
        `<text class="lane-label" x="${LEFT - 10}" y="${y + 15}" text-anchor="end">${e(label)}</text>` +
        `<text class="lane-sub" x="${LEFT - 10}" y="${y + 26}" text-anchor="end">${e(`${w.type} · ${w.stream}`)}</text>` +
        `<rect class="window" x="${from}" y="${y + 5}" width="${r1(to - from)}" height="${LANE_H - 10}" rx="3">` +
        `<title>${e(`${label} (${w.type}, ${w.stream}): ${fmtMs(num(w.from_ms))} → ${fmtMs(num(w.to_ms))}`)}</title></rect>` +
        `</g>`,
    );
    y += LANE_H;
  });
  const lanesBottom = y;

  // Step markers.
  y += 26;
  heading('Steps');
  const stepsY = y + STEP_H / 2;
  const chartBottomForSteps = y + STEP_H + 26 + LAT_H;
  rec.steps.forEach((s) => {
    const sx = x(num(s.firedAtMs));
    const cls = s.ok ? 'ok' : 'fail';
    const tip = `step ${s.index} (${s.kind}) at ${fmtMs(num(s.atMs))}, fired ${fmtMs(num(s.firedAtMs))}, ${fmtMs(num(s.lateMs))} late${s.error ? `: ${s.error}` : s.detail ? `: ${s.detail}` : ''}`;
    parts.push(
      `<g class="step-marker ${cls}" data-step="${e(s.index)}">` +
        `<line class="step-line" x1="${sx}" x2="${sx}" y1="${lanesTop}" y2="${chartBottomForSteps}"/>` +
        `<circle cx="${sx}" cy="${stepsY}" r="11"/>` +
        `<text class="step-num" x="${sx}" y="${stepsY + 4}" text-anchor="middle">${e(s.index)}</text>` +
        `<title>${e(tip)}</title></g>`,
    );
  });
  if (rec.steps.length === 0) parts.push(`<text class="note" x="${LEFT}" y="${stepsY + 4}">no steps fired</text>`);
  y += STEP_H;

  // Probe latency chart.
  y += 26;
  heading('Probe latency');
  const latTop = y;
  const latencies = rec.probes.map((p) => num(p.latencyMs));
  const latStep = niceStep(Math.max(1, ...latencies), 4);
  const latMax = Math.max(latStep, Math.ceil(Math.max(1, ...latencies) / latStep) * latStep);
  const ly = (ms: number) => r1(latTop + LAT_H - (Math.min(Math.max(ms, 0), latMax) / latMax) * LAT_H);
  parts.push(`<rect class="plot-bg" x="${LEFT}" y="${latTop}" width="${PLOT_W}" height="${LAT_H}"/>`);
  for (let v = 0; v <= latMax + 1e-9; v += latStep) {
    const gy = ly(v);
    parts.push(`<line class="grid" x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${gy}" y2="${gy}"/>`);
    parts.push(`<text class="tick" x="${LEFT - 8}" y="${gy + 4}" text-anchor="end">${e(fmtMs(v))}</text>`);
  }
  parts.push(`<text class="lane-sub" x="12" y="${latTop + 14}">latency</text>`);
  rec.probes.forEach((p, i) => {
    const px = x(probeOffsets[i] ?? 0);
    const py = ly(num(p.latencyMs));
    const tip = `${p.probe} (${p.phase}) at ${fmtMs(probeOffsets[i] ?? 0)}: ${p.ok ? 'ok' : 'FAILED'}, ${fmtMs(num(p.latencyMs))}, value ${p.value}${p.reason ? `, ${p.reason}` : ''}${p.output ? `, output: ${p.output}` : ''}`;
    const shape = p.ok
      ? `<circle cx="${px}" cy="${py}" r="4.5"/>`
      : `<path d="M${r1(px - 5)},${r1(py - 5)} L${r1(px + 5)},${r1(py + 5)} M${r1(px - 5)},${r1(py + 5)} L${r1(px + 5)},${r1(py - 5)}"/>`;
    parts.push(`<g class="probe-point ${p.ok ? 'ok' : 'fail'}" data-probe="${e(p.probe)}">${shape}<title>${e(tip)}</title></g>`);
  });
  if (rec.probes.length === 0) parts.push(`<text class="note" x="${LEFT + 10}" y="${latTop + LAT_H / 2}">no probe results</text>`);
  y += LAT_H;

  // Time axis.
  const axisY = y;
  parts.push(`<line class="axis" x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${axisY}" y2="${axisY}"/>`);
  for (let t = 0; t <= tMax + 1e-9; t += tickStep) {
    const tx = x(t);
    background.push(`<line class="grid vgrid" x1="${tx}" x2="${tx}" y1="${lanesTop}" y2="${lanesBottom}"/>`);
    parts.push(`<line class="axis" x1="${tx}" x2="${tx}" y1="${axisY}" y2="${axisY + 5}"/>`);
    parts.push(`<text class="tick" x="${tx}" y="${axisY + 19}" text-anchor="middle">${e(fmtMs(t))}</text>`);
  }
  parts.push(`<text class="lane-sub" x="${LEFT + PLOT_W}" y="${axisY + 38}" text-anchor="end">time from start</text>`);
  const height = axisY + 48;
  // Lane backgrounds first, then the grid over them, then everything else over the grid.
  const laneBgs = rec.windows.map((_, i) => `<rect class="lane-bg" x="${LEFT}" y="${lanesTop + i * LANE_H + 3}" width="${PLOT_W}" height="${LANE_H - 6}"/>`);

  return (
    `<svg id="timeline" viewBox="0 0 ${W} ${height}" width="100%" role="img" ` +
    `aria-label="Timeline: fault windows, steps and probe latency">${laneBgs.join('')}${background.join('')}${parts.join('')}</svg>`
  );
}

function renderVerdict(rec: RunRecord): string {
  const cls = STATUS_CLASS[rec.status] ?? 'muted';
  const reason = rec.reason === '' ? (rec.status === 'running' ? 'the run is still in progress' : 'no reason given') : rec.reason;
  return (
    `<section id="verdict" class="verdict ${cls}">` +
    `<div class="verdict-status">${e(rec.status.replace('_', ' ').toUpperCase())}</div>` +
    `<div class="verdict-body"><div class="verdict-reason">${e(reason)}</div>` +
    `<div class="verdict-meta">exit code <b>${rec.exit_code === null ? '–' : e(rec.exit_code)}</b></div></div>` +
    `</section>`
  );
}

function renderRollback(rec: RunRecord): string {
  if (rec.rollback === null) {
    return `<section id="rollback" class="rollback muted"><h2>Rollback</h2><p>No rollback recorded (yet).</p></section>`;
  }
  if (rec.rollback.ok && rec.rollback.errors.length === 0) {
    return `<section id="rollback" class="rollback good"><h2>Rollback</h2><p>✔ Every toxic the run added was removed and every changed proxy restored.</p></section>`;
  }
  const items = rec.rollback.errors.map((err) => `<li>${e(err)}</li>`).join('');
  return (
    `<section id="rollback" class="rollback bad"><h2>Rollback FAILED</h2>` +
    `<p><b>The system may not be healed.</b> ${rec.rollback.errors.length} rollback ${rec.rollback.errors.length === 1 ? 'error' : 'errors'}:</p>` +
    `<ul>${items}</ul></section>`
  );
}

function renderSteps(rec: RunRecord): string {
  if (rec.steps.length === 0) return '<p class="note">No steps fired.</p>';
  const rows = rec.steps.map((s) => {
    const late = num(s.lateMs);
    return (
      `<tr class="${s.ok ? '' : 'row-fail'}"><td class="n">${e(s.index)}</td><td>${e(s.kind)}</td>` +
      `<td class="n">${e(fmtMs(num(s.atMs)))}</td><td class="n">${e(fmtMs(num(s.firedAtMs)))}</td>` +
      `<td class="n${late > 50 ? ' late' : ''}">${e(r1(late))}</td>` +
      `<td class="${s.ok ? 'ok' : 'fail'}">${s.ok ? '✔ ok' : '✘ failed'}</td>` +
      `<td>${s.error ? `<span class="fail">${e(s.error)}</span>` : e(s.detail ?? '')}</td></tr>`
    );
  });
  return (
    `<table id="steps"><thead><tr><th>#</th><th>action</th><th>at</th><th>fired</th><th>late (ms)</th><th>result</th><th>detail</th></tr></thead>` +
    `<tbody>${rows.join('')}</tbody></table>`
  );
}

function renderEventCounts(rec: RunRecord): string {
  if (rec.event_counts.length === 0) return '<p class="note">No fault events recorded.</p>';
  const kinds = new Map(rec.steps.map((s) => [s.index, s.kind]));
  const rows = rec.event_counts.map((c) => {
    const entries = Object.entries(c.counts).sort((a, b) => b[1] - a[1]);
    const total = entries.reduce((sum, [, n]) => sum + num(n), 0);
    const chips = entries.length === 0
      ? '<span class="note">none</span>'
      : entries.map(([action, n]) => `<span class="chip">${e(action)} <b>${e(n)}</b></span>`).join(' ');
    return `<tr><td class="n">${e(c.step)}</td><td>${e(kinds.get(c.step) ?? '')}</td><td class="n">${e(total)}</td><td>${chips}</td></tr>`;
  });
  return (
    `<table id="event-counts"><thead><tr><th>step</th><th>action</th><th>events</th><th>by kind</th></tr></thead>` +
    `<tbody>${rows.join('')}</tbody></table>`
  );
}

function renderProbeSummary(rec: RunRecord): string {
  const summary = summarizeProbes(rec.probes);
  if (summary.length === 0) return '<p class="note">No probe results.</p>';
  const rows = summary.map((p) =>
    `<tr><td>${e(p.probe)}</td><td class="n">${e(p.runs)}</td>` +
    `<td class="n ${p.failures > 0 ? 'fail' : 'ok'}">${e(p.failures)}</td>` +
    `<td class="n">${e(fmtMs(p.p50_ms))}</td><td class="n">${e(fmtMs(p.max_ms))}</td>` +
    `<td class="output">${p.last_output === undefined ? '<span class="note">–</span>' : `<code>${e(p.last_output)}</code>`}</td></tr>`,
  );
  return (
    `<table id="probes"><thead><tr><th>probe</th><th>runs</th><th>failures</th><th>p50 latency</th><th>max latency</th><th>last output</th></tr></thead>` +
    `<tbody>${rows.join('')}</tbody></table>`
  );
}


/** The whole report: one HTML document with no external references. */
export function renderReportHtml(record: RunRecord): string {
  const rec = record;
  const elapsed = rec.ended_at === null ? null : num(rec.ended_at) - num(rec.started_at);
  const tags = [
    `<span>run <b>${e(rec.id)}</b></span>`,
    `<span>started ${e(fmtTime(rec.started_at))}</span>`,
    `<span>ended ${e(fmtTime(rec.ended_at))}</span>`,
    `<span>planned ${e(fmtMs(num(rec.duration_ms)))}</span>`,
    `<span>took ${e(fmtMs(elapsed))}</span>`,
  ].join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(`faultline report: ${rec.title}`)}</title>
<style>${CSS}</style></head>
<body><main>
<h1 id="title">${e(rec.title)}</h1>
<div class="meta">${tags}</div>
${renderVerdict(rec)}
${renderRollback(rec)}
<section class="card"><h2>Timeline</h2>
${renderTimeline(rec)}
<div class="legend"><i style="background:#e8833a"></i>toxic active<i style="background:#3b5bdb;border-radius:50%"></i>step fired<i style="background:#c62828;border-radius:50%"></i>step failed<i style="background:#2e9e4f;border-radius:50%"></i>probe ok<i style="background:#d32f2f"></i>probe failed (✕)</div>
</section>
<section class="card"><h2>Steps</h2>${renderSteps(rec)}</section>
<section class="card"><h2>Fault events per step</h2>${renderEventCounts(rec)}</section>
<section class="card"><h2>Probes</h2>${renderProbeSummary(rec)}</section>
<section class="card"><details><summary><b>Scenario file</b></summary><pre>${e(rec.scenario)}</pre></details></section>
</main></body></html>
`;
}
