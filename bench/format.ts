// Shared by every section's report: a target line, number formatting and plain-text tables.

export interface Check {
  target: string;
  measured: string;
  pass: boolean;
}

export function fmt(value: number | undefined | null, digits: number): string {
  return value === undefined || value === null || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits);
}

export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length); });
  return rows
    .map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('   '))
    .join('\n');
}
