// Live output of `faultline run`. Off a terminal (a pipe, a file, CI logs, TERM=dumb) it is
// exactly the runner's plain lines. On a terminal the same lines scroll as usual, and one
// status line stays under them: the step that fired last (i/n and what it did), the elapsed
// timeline time against its total with a small bar, and each probe's last result. Every line
// is written as clear-status + line + status in a single write, so the status never
// flickers and never lands in the scrollback; the status is cut to the terminal's width, since
// a line that wraps could no longer be cleared with one carriage return.

import type { RecordedProbe, StepProgress } from '../scenario/runner.js';
import type { Action, Scenario } from '../scenario/types.js';
import { printLine, type CliIO } from './output.js';

export interface Progress {
  /** One of the runner's plain lines (RunOptions.out). */
  out(line: string): void;
  /** Text for stderr (an interrupt notice): the status is cleared first, so they do not mix. */
  err(text: string): void;
  onTimelineStart(at: number): void;
  onStep(event: StepProgress): void;
  onProbe(result: RecordedProbe): void;
  /** Stops the redraws and removes the status line; later lines are plain. */
  done(): void;
}

export interface ProgressOptions {
  /** Monotonic ms clock for the elapsed time. Default performance.now. */
  clock?: () => number;
  /** How often the elapsed time is redrawn when nothing else happens. Default 200. */
  intervalMs?: number;
}

const CLEAR = '\r\x1b[2K';
const DEFAULT_COLUMNS = 80;
const BAR_WIDTH = 10;
const STYLE = { dim: '2', red: '1;31', green: '32', cyan: '36' } as const;
type Style = keyof typeof STYLE;
/** `shrink`: the part that gives way first when the line is too wide (the step's label). */
interface Segment { text: string; style?: Style; shrink?: boolean }
const MIN_LABEL = 10;

export function createProgress(io: CliIO, scenario: Scenario, options: ProgressOptions = {}): Progress {
  if (io.tty === undefined || io.env.TERM === 'dumb') {
    const nothing = () => {};
    return { out: (line) => printLine(io, line), err: (text) => io.err(text), onTimelineStart: nothing, onStep: nothing, onProbe: nothing, done: nothing };
  }
  const tty = io.tty;
  const color = colourWanted(io.env);
  const clock = options.clock ?? (() => performance.now());
  const total = scenario.timeline.length;
  const last = new Map<string, RecordedProbe | null>(probeNames(scenario).map((n) => [n, null]));
  let started: number | null = null;
  let step: StepProgress | null = null;
  let shown = '';
  let closed = false;

  const status = (): string => {
    const segments: Segment[] = [];
    if (step === null) segments.push({ text: started === null ? 'starting' : `step 0/${total}`, style: 'cyan' });
    else {
      const what = `${step.revert ? 'undo ' : ''}${actionLabel(scenario.timeline[step.step]?.action, step.kind)}`;
      segments.push({ text: `step ${step.step + 1}/${total} ` }, { text: what, style: step.ok ? 'cyan' : 'red', shrink: true });
    }
    const elapsed = started === null ? 0 : Math.min(Math.max(0, clock() - started), scenario.durationMs);
    const ratio = started === null ? 0 : scenario.durationMs === 0 ? 1 : elapsed / scenario.durationMs;
    const filled = Math.round(ratio * BAR_WIDTH);
    segments.push({ text: `  ${clockTime(elapsed)}/${clockTime(scenario.durationMs)} ` },
      { text: '█'.repeat(filled), style: 'cyan' }, { text: '░'.repeat(BAR_WIDTH - filled), style: 'dim' });
    for (const [name, r] of last) {
      segments.push({ text: `  ${name} ` });
      if (r === null) segments.push({ text: '·', style: 'dim' });
      else if (r.ok) segments.push({ text: '✓', style: 'green' }, { text: ` ${latency(r.latencyMs)}` });
      else segments.push({ text: `✗ ${String(r.value)} ${latency(r.latencyMs)}`, style: 'red' });
    }
    // One column short of the width: writing the last column makes some terminals wrap.
    const columns = tty.columns !== undefined && Number.isFinite(tty.columns) && tty.columns > 0 ? tty.columns : DEFAULT_COLUMNS;
    return render(segments, columns - 1, color);
  };
  const redraw = (force = false) => {
    if (closed) return;
    const next = status();
    if (!force && next === shown) return;
    shown = next;
    io.out(`${CLEAR}${next}`);
  };
  const timer = setInterval(() => redraw(), options.intervalMs ?? 200);
  // The display must never be what keeps a finished run's process alive.
  timer.unref();
  redraw(true);

  return {
    out(line) {
      if (closed) return printLine(io, line);
      shown = status();
      io.out(`${CLEAR}${line}\n${shown}`);
    },
    err(text) {
      if (!closed) io.out(CLEAR);
      io.err(text);
      redraw(true);
    },
    onTimelineStart() {
      started = clock();
      redraw();
    },
    onStep(event) {
      step = event;
      redraw();
    },
    onProbe(result) {
      last.set(result.probe, result);
      redraw();
    },
    done() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      io.out(CLEAR);
    },
  };
}

/** NO_COLOR (any non-empty value) or FORCE_COLOR=0 turns colour off; it is on otherwise. */
function colourWanted(env: Record<string, string | undefined>): boolean {
  return (env.NO_COLOR ?? '') === '' && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
}

/** The probes a run can report, in the order a reader looks for them: steady state, halt
 *  conditions, then the timeline's probe steps. A name used twice is one entry. */
function probeNames(scenario: Scenario): string[] {
  const names = [
    ...(scenario.steadyState?.probes ?? []).map((p) => p.name),
    ...scenario.haltWhen.map((h) => h.probe.name),
    ...scenario.timeline.flatMap((s) => (s.action.kind === 'probe' ? [s.action.probe.name] : [])),
  ];
  return [...new Set(names)];
}

/** A step's action in a few words: `toxic db/lat latency`, `partition api | db,cache`. */
export function actionLabel(action: Action | undefined, kind: string): string {
  if (action === undefined) return kind;
  switch (action.kind) {
    case 'toxic': return `toxic ${action.proxy}/${action.name} ${action.type}`;
    case 'update_toxic': return `update ${action.proxy}/${action.toxic}`;
    case 'remove_toxic': return `remove ${action.proxy}/${action.toxic}`;
    case 'proxy': {
      const fields = (['enabled', 'upstream', 'listen'] as const)
        .filter((k) => action[k] !== undefined).map((k) => `${k}=${String(action[k])}`);
      return `proxy ${action.name} ${fields.join(' ')}`.trimEnd();
    }
    case 'partition': return `partition ${action.groups.map((g) => g.join(',')).join(action.oneway ? ' → ' : ' | ')}`;
    case 'heal': return `heal ${action.proxy ?? 'all'}`;
    case 'probe': return `probe ${action.probe.name}`;
  }
}

/** `4.2s` under a minute, `2:05` from there on. */
function clockTime(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function latency(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

/** The segments in at most `width` visible characters: the label shrinks first (down to
 *  MIN_LABEL), then the end is cut; an ellipsis marks each cut. Colour codes never count
 *  towards the width and are never cut in half. */
function render(segments: readonly Segment[], width: number, color: boolean): string {
  const limit = Math.max(0, width);
  let over = segments.reduce((n, s) => n + Array.from(s.text).length, 0) - limit;
  const fitted = segments.map((s) => {
    const chars = Array.from(s.text);
    const keep = Math.max(MIN_LABEL, chars.length - over);
    if (over <= 0 || s.shrink !== true || keep >= chars.length) return { ...s, chars };
    over -= chars.length - keep;
    return { ...s, chars: [...chars.slice(0, keep - 1), '…'] };
  });
  const cut = over > 0;
  let budget = cut ? Math.max(0, limit - 1) : limit;
  let text = '';
  for (const s of fitted) {
    if (budget === 0) break;
    const part = s.chars.slice(0, budget).join('');
    budget -= Math.min(budget, s.chars.length);
    text += color && s.style !== undefined && part !== '' ? `\x1b[${STYLE[s.style]}m${part}\x1b[0m` : part;
  }
  return cut && limit > 0 ? `${text}…` : text;
}
