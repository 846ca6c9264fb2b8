// `faultline report RUN_ID [--out DIR]`: fetches the run's record from the server
// (GET /scenarios/runs/{id}) and writes <DIR>/<id>.json and a self-contained <DIR>/<id>.html,
// then prints both paths. HTTP and network errors end with one line on stderr and exit 1.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { clientFor, seg } from './client.js';
import { printLine, type CliIO } from './output.js';
import { buildReportJson, type RunRecord } from '../scenario/report.js';
import { renderReportHtml } from '../scenario/report-html.js';

/** A file name from a run id: path separators and other unsafe characters become '_'. */
function fileStem(id: string): string {
  const stem = id.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return stem === '' ? 'run' : stem;
}

function isRunRecord(value: unknown): value is RunRecord {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.id === 'string' && typeof v.status === 'string' && Array.isArray(v.steps) && Array.isArray(v.probes);
}

export function registerReportCommand(program: Command, io: CliIO): void {
  program
    .command('report')
    .description('write the JSON and self-contained HTML report of a scenario run')
    .argument('<run-id>', 'the run id (from `faultline run` or GET /scenarios/runs)')
    .option('-o, --out <dir>', 'directory to write <id>.json and <id>.html into', '.')
    .option('--url <url>', 'server API address (also accepted before the command; env FAULTLINE_URL)')
    .action(async (id: string, opts: { out: string }, cmd: Command) => {
      const raw = await clientFor(cmd, io).get<unknown>(`/scenarios/runs/${seg(id)}`);
      if (!isRunRecord(raw)) throw new Error(`unexpected response for run ${id}: not a run record`);
      const record: RunRecord = {
        ...raw,
        windows: Array.isArray(raw.windows) ? raw.windows : [],
        event_counts: Array.isArray(raw.event_counts) ? raw.event_counts : [],
        rollback: raw.rollback ?? null,
        scenario: typeof raw.scenario === 'string' ? raw.scenario : '',
        title: typeof raw.title === 'string' ? raw.title : raw.id,
        reason: typeof raw.reason === 'string' ? raw.reason : '',
      };
      await mkdir(opts.out, { recursive: true });
      const stem = fileStem(record.id);
      const jsonPath = join(opts.out, `${stem}.json`);
      const htmlPath = join(opts.out, `${stem}.html`);
      await writeFile(jsonPath, `${JSON.stringify(buildReportJson(record), null, 2)}\n`);
      await writeFile(htmlPath, renderReportHtml(record));
      printLine(io, jsonPath);
      printLine(io, htmlPath);
    });
}
