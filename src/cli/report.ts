// `faultline report RUN_ID [--out DIR]`: fetches the run's record from the server
// (GET /scenarios/runs/{id}) and writes <DIR>/<id>.json and a self-contained <DIR>/<id>.html,
// then prints both paths. HTTP and network errors end with one line on stderr and exit 1.
// `faultline run --report DIR` writes the same two files through writeReport.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { clientFor, seg } from './client.js';
import { printLine, type CliIO } from './output.js';
import { asRunRecord, buildReportJson, type RunRecord } from '../scenario/report.js';
import { renderReportHtml } from '../scenario/report-html.js';

/** A file name from a run id: path separators and other unsafe characters become '_'. */
function fileStem(id: string): string {
  const stem = id.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return stem === '' ? 'run' : stem;
}

/** Writes <dir>/<id>.json and the self-contained <dir>/<id>.html; returns both paths. */
export async function writeReport(record: RunRecord, dir: string): Promise<{ json: string; html: string }> {
  await mkdir(dir, { recursive: true });
  const stem = fileStem(record.id);
  const json = join(dir, `${stem}.json`);
  const html = join(dir, `${stem}.html`);
  await writeFile(json, `${JSON.stringify(buildReportJson(record), null, 2)}\n`);
  await writeFile(html, renderReportHtml(record));
  return { json, html };
}

export function registerReportCommand(program: Command, io: CliIO): void {
  program
    .command('report')
    .description('write the JSON and self-contained HTML report of a scenario run')
    .argument('<run-id>', 'the run id (from `faultline run` or GET /scenarios/runs)')
    .option('-o, --out <dir>', 'directory to write <id>.json and <id>.html into', '.')
    .option('--url <url>', 'server API address (also accepted before the command; env FAULTLINE_URL or TOXIPROXY_URL)')
    .action(async (id: string, opts: { out: string }, cmd: Command) => {
      const record = asRunRecord(await clientFor(cmd, io).get<unknown>(`/scenarios/runs/${seg(id)}`), id);
      const paths = await writeReport(record, opts.out);
      printLine(io, paths.json);
      printLine(io, paths.html);
    });
}
