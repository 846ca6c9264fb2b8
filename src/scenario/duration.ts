// Human durations in scenario files: an integer or decimal and a unit, ms, s, m or h
// (`500ms`, `1.5s`, `2m`). A bare number is refused, because `10` could mean ms or s.

/** The longest duration a timer can wait (setTimeout's ceiling, about 596 hours). */
export const MAX_DURATION_MS = 2_147_483_647;

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

/** What a duration looks like, for error messages. */
export const DURATION_EXPECTED = 'a duration like 500ms, 30s or 2m';

/** Milliseconds, or an error message that says what was expected. */
export function parseDuration(input: unknown): { ms: number } | { error: string } {
  if (typeof input === 'number') {
    return { error: `expected ${DURATION_EXPECTED}, got ${input} (a bare number is ambiguous: add a unit)` };
  }
  if (typeof input !== 'string') return { error: `expected ${DURATION_EXPECTED}, got ${describeValue(input)}` };
  const match = PATTERN.exec(input);
  if (!match) return { error: `expected ${DURATION_EXPECTED}, got ${JSON.stringify(input)}` };
  const unit = match[2] as keyof typeof UNIT_MS;
  const ms = Number(match[1]) * UNIT_MS[unit];
  // Decimals are exact enough in binary for any sane duration; round away float noise only.
  const rounded = Math.round(ms * 1000) / 1000;
  if (!Number.isInteger(rounded)) {
    return { error: `expected a whole number of milliseconds, got ${input} (${rounded}ms)` };
  }
  if (rounded > MAX_DURATION_MS) return { error: `expected at most 596h, got ${input}` };
  return { ms: rounded };
}

/** The shortest form that parses back: `0s`, `500ms`, `1.5s`, `2m`, `90s`, `1h`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms >= UNIT_MS.h && ms % UNIT_MS.h === 0) return `${ms / UNIT_MS.h}h`;
  if (ms >= UNIT_MS.m && ms % UNIT_MS.m === 0) return `${ms / UNIT_MS.m}m`;
  if (ms >= UNIT_MS.s) return `${ms / UNIT_MS.s}s`;
  return `${ms}ms`;
}

/** A timeline offset with millisecond precision: `+0.000s`, `+12.500s`. */
export function formatOffset(ms: number): string {
  return `+${(ms / 1000).toFixed(3)}s`;
}

/** A value as an error message quotes it: strings quoted, collections named. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}
