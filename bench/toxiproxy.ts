// Toxiproxy, the server faultline is measured against. The benchmark looks for its binary at
// ../shared/tools/toxiproxy/toxiproxy-server relative to the repository, or where
// TOXIPROXY_SERVER says; when there is none, it says so and skips the Toxiproxy columns and
// targets. The server runs as a child process on 127.0.0.1 with its logs at error level, and
// gets its proxies and toxics over its REST API, with the same JSON as faultline's.
//
// Toxiproxy prints no port it chose (with -port 0 it logs "127.0.0.1:0"), so the benchmark picks
// a free port first and retries with another if the start fails.

import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startProcess } from './processes.js';
import { freePort } from './servers.js';
import { vmRssKB } from './targets.js';

/** From dist/bench/ (where this runs) up to the repository. */
const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const DEFAULT_TOXIPROXY = path.resolve(REPO, '../shared/tools/toxiproxy/toxiproxy-server');

export type ToxiproxyBinary = { path: string; missing?: undefined } | { path?: undefined; missing: string };

export function findToxiproxy(): ToxiproxyBinary {
  const fromEnv = process.env.TOXIPROXY_SERVER;
  const file = fromEnv !== undefined && fromEnv !== '' ? path.resolve(fromEnv) : DEFAULT_TOXIPROXY;
  try {
    accessSync(file, constants.X_OK);
    return { path: file };
  } catch {
    const hint = fromEnv ? 'from TOXIPROXY_SERVER' : 'set TOXIPROXY_SERVER to use one elsewhere';
    return { missing: `no Toxiproxy server at ${file} (${hint}); the Toxiproxy comparisons are skipped` };
  }
}

export interface ToxiproxyServer {
  url: string;
  pid: number;
  rssKB(): number;
  stop(): Promise<void>;
}

export async function startToxiproxy(binary: string): Promise<ToxiproxyServer> {
  let lastOutput = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const proc = startProcess(binary, ['-host', '127.0.0.1', '-port', String(port)], {
      env: { ...process.env, LOG_LEVEL: 'error' },
    });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 10_000;
    while (!proc.hasExited() && Date.now() < deadline) {
      if (await answers(url)) {
        return { url, pid: proc.pid, rssKB: () => vmRssKB(proc.pid), stop: () => proc.stop('SIGTERM', 5000) };
      }
      await sleep(50);
    }
    lastOutput = proc.output();
    await proc.stop('SIGKILL');
  }
  throw new Error(`Toxiproxy (${binary}) did not start: ${lastOutput || 'no output'}`);
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/version`);
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}
