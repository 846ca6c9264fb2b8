// The scenario files on the server's disk (`faultline serve --scenarios DIR`), so the dashboard
// can start a stored game-day: a listing with each file's title, and a file's text, which the
// page then posts to /scenarios/runs. Only the folder's own .yaml, .yml and .json files can be
// reached: a name has no separators and no leading dot, and its real path stays in the folder.

import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';
import { LineCounter } from 'yaml';
import { FaultlineError } from '../errors.js';
import { readYaml, SCENARIO_LIMITS } from '../scenario/read-yaml.js';
import type { Route } from './route-types.js';

const NAME = /^[^./\\\0][^/\\\0]*\.(ya?ml|json)$/i;
/** A larger file could not be run (the scenario size limit), so it is not read at all. */
const MAX_FILE_BYTES = SCENARIO_LIMITS.bytes;

export interface ScenarioFile {
  name: string;
  size: number;
  /** Epoch milliseconds. */
  mtime: number;
  /** The file's top-level `title`; null when it has none or does not parse. */
  title: string | null;
}

export const SCENARIO_FILE_ROUTES: readonly Route[] = [
  {
    method: 'GET', path: '/scenarios/files',
    async handle(api) {
      if (api.scenariosDir === undefined) return { status: 200, json: { files: [] } };
      let names: string[];
      try {
        names = (await readdir(api.scenariosDir)).filter((n) => NAME.test(n)).sort();
      } catch {
        return { status: 200, json: { files: [] } };
      }
      const files: ScenarioFile[] = [];
      for (const name of names) {
        const found = await resolve(api.scenariosDir, name);
        if (found === null) continue;
        let title: string | null = null;
        if (found.size <= MAX_FILE_BYTES) {
          try {
            title = titleOf(await readFile(found.path, 'utf8'));
          } catch {
            // unreadable now: listed without a title, and its GET will say so
          }
        }
        files.push({ name, size: found.size, mtime: Math.round(found.mtimeMs), title });
      }
      return { status: 200, json: { files } };
    },
  },
  {
    method: 'GET', path: '/scenarios/files/:name',
    async handle(api, req) {
      const name = req.params.name!;
      const found = api.scenariosDir === undefined ? null : await resolve(api.scenariosDir, name);
      if (found === null) throw new FaultlineError('ERR_SCENARIO_FILE_NOT_FOUND');
      if (found.size > MAX_FILE_BYTES) {
        throw new FaultlineError('ERR_SCENARIO_FILE_NOT_FOUND', `scenario file not found: ${name} is larger than ${MAX_FILE_BYTES} bytes, the scenario size limit`);
      }
      let text: string;
      try {
        text = await readFile(found.path, 'utf8');
      } catch {
        throw new FaultlineError('ERR_SCENARIO_FILE_NOT_FOUND');
      }
      const type = extname(name).toLowerCase() === '.json' ? 'application/json; charset=utf-8' : 'text/yaml; charset=utf-8';
      return { status: 200, text, type };
    },
  },
];

/** The file's real path, size and mtime, or null when the name or the file is not allowed. */
async function resolve(dir: string, name: string): Promise<{ path: string; size: number; mtimeMs: number } | null> {
  if (!NAME.test(name)) return null;
  try {
    const root = await realpath(dir);
    const path = await realpath(join(root, name));
    // A symlink in the folder must not lead out of it.
    if (!path.startsWith(root + sep)) return null;
    const info = await stat(path);
    return info.isFile() ? { path, size: info.size, mtimeMs: info.mtimeMs } : null;
  } catch {
    return null;
  }
}

/** Read within the scenario limits, so a file in the folder cannot crash or stall the listing. */
function titleOf(text: string): string | null {
  try {
    const { doc } = readYaml(text, new LineCounter());
    const title = doc?.get('title');
    return typeof title === 'string' ? title : null;
  } catch {
    return null;
  }
}
