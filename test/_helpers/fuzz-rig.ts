// The server the API fuzz suite attacks, and how it looks at it: a faultline server on a real
// SQLite file with TCP and UDP proxies carrying toxics, a live TCP connection through one of
// them, a scenarios folder with traps (a symlink out, a directory, an oversized file); a raw
// HTTP client that sends paths and bodies as written; and the checks that nothing changed.

import fs from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { openDb } from '../../src/store/db.js';
import type { World } from './fuzz-requests.js';
import type { FuzzRequest } from './fuzz-values.js';
import { boundPorts } from './listeners.js';
import { connect, echoServer, pattern, readBytes, startServer, type TestServer, type Upstream } from './net.js';
import { tempDir, type TempDir } from './persistence.js';
import { udpClient, udpEcho, udpProxy, type UdpClient, type UdpUpstream } from './udp.js';

export interface Rig {
  server: TestServer;
  world: World;
  close(): Promise<void>;
  /** What must not change: the API's view, the database's, and the bound ports. */
  snapshot(): Promise<Snapshot>;
  /** Problems found: state differing from `base`, the API, the live connection or the UDP proxy not answering. */
  check(base: Snapshot, round: number): Promise<string[]>;
}

export interface Snapshot { api: Record<string, string>; disk: string; tcp: string; udp: string }

const must = (res: { status: number; text: string }, what: string) => {
  if (res.status >= 300) throw new Error(`${what}: ${res.status} ${res.text}`);
};

/** A scenarios folder holding one servable file and names a request must not reach. */
async function scenariosFolder(dir: string): Promise<string> {
  const folder = path.join(dir, 'scenarios');
  await fs.mkdir(path.join(folder, 'dir.yaml'), { recursive: true });
  await fs.writeFile(path.join(folder, 'ok.yaml'), 'title: served\ntimeline: []\n');
  await fs.writeFile(path.join(folder, '.hidden.yaml'), 'title: hidden\n');
  await fs.writeFile(path.join(folder, 'notes.txt'), 'not a scenario\n');
  await fs.writeFile(path.join(folder, 'big.yaml'), '#'.repeat(1024 * 1024 + 1));
  await fs.writeFile(path.join(dir, 'secret.yaml'), 'title: outside the folder\n');
  await fs.symlink(path.join(dir, 'secret.yaml'), path.join(folder, 'link.yaml'));
  return folder;
}

export async function startRig(): Promise<Rig> {
  const tmp: TempDir = await tempDir();
  const echo: Upstream = await echoServer();
  const udpUp: UdpUpstream = await udpEcho();
  const server = await startServer({ db: tmp.file, scenariosDir: await scenariosFolder(tmp.dir) });
  const client: UdpClient = await udpClient();
  let live: net.Socket | undefined;
  const close = async () => {
    live?.destroy();
    await server.close();
    await client.close();
    await udpUp.close();
    await echo.close();
    await tmp.remove();
  };
  try {
    const alpha = await server.proxy('alpha', echo.address);
    must(await server.toxic('alpha', { name: 'lat', type: 'latency', attributes: { latency: 2, jitter: 0 } }), 'toxic lat');
    must(await server.toxic('alpha', { name: 'sl', type: 'slicer', stream: 'upstream', attributes: { average_size: 512, size_variation: 100 } }), 'toxic sl');
    await server.proxy('beta', echo.address);
    must(await server.toxic('beta', { name: 'bw ☃/1', type: 'bandwidth', stream: 'UpStream', toxicity: 0.5, attributes: { rate: 1000 } }), 'toxic bw');
    must(await server.toxic('beta', { name: 'lim', type: 'limit_data', attributes: { bytes: 1_000_000 } }), 'toxic lim');
    must(await server.api('POST', '/proxies/beta', { enabled: false, max_connections: 50 }), 'disable beta');
    const gamma = (await udpProxy(server, 'gamma', udpUp.address, { idle_timeout: 60_000 })).port;
    must(await server.toxic('gamma', { name: 'ulat', type: 'latency', attributes: { latency: 1 } }), 'toxic ulat');
    must(await server.toxic('gamma', { name: 'dup', type: 'duplicate', toxicity: 0, attributes: { probability: 0.5 } }), 'toxic dup');
    live = await connect(alpha);
    const world = await worldOf(server);

    // Once a check has failed it says so at once from then on, so a broken connection costs
    // its timeout once rather than at every round.
    let tcpBroken: string | null = null;
    let udpBroken: string | null = null;
    const echoes = async (round: number): Promise<string | null> => {
      if (tcpBroken !== null) return `${tcpBroken} (still)`;
      const data = pattern(16 * 1024, round);
      const back = within(readBytes(live!, data.length), 5000);
      live!.write(data);
      const got = await back;
      if (got === null) tcpBroken = 'the live connection through alpha did not echo 16 KiB within 5 s';
      else if (!got.equals(data)) tcpBroken = `the live connection echoed ${got.length} bytes that differ from the ${data.length} sent`;
      return tcpBroken;
    };
    const udpEchoes = async (round: number): Promise<string | null> => {
      if (udpBroken !== null) return `${udpBroken} (still)`;
      const datagram = Buffer.from(`fuzz round ${round}`);
      client.send(datagram, gamma);
      const got = await client.next(3000).catch(() => null);
      if (got === null || !got.data.equals(datagram)) udpBroken = 'the UDP proxy gamma did not echo a datagram within 3 s';
      return udpBroken;
    };
    const first = (await echoes(-1)) ?? (await udpEchoes(-1));
    if (first !== null) throw new Error(`baseline: ${first}`);

    const snapshot = async (): Promise<Snapshot> => {
      const api: Record<string, string> = {};
      for (const p of ['/proxies', '/scenarios/runs', '/sessions']) api[p] = (await server.api('GET', p)).text;
      const ports = boundPorts();
      const sort = (s: Set<number>) => [...s].sort((a, b) => a - b).join(',');
      return { api, disk: await diskState(tmp.file), tcp: sort(ports.tcp), udp: sort(ports.udp) };
    };
    return {
      server, world, close, snapshot,
      async check(base, round) {
        const problems: string[] = [];
        const version = await server.api('GET', '/version').catch((e: Error) => ({ status: 0, text: e.message }));
        if (version.status !== 200) problems.push(`GET /version answered ${version.status} ${version.text.slice(0, 200)}`);
        const now = await snapshot();
        for (const [p, text] of Object.entries(base.api)) {
          if (now.api[p] !== text) problems.push(`GET ${p} changed: was ${text.slice(0, 300)}, now ${now.api[p]?.slice(0, 300)}`);
        }
        if (now.disk !== base.disk) problems.push(`the database's state changed: was ${base.disk.slice(0, 400)}, now ${now.disk.slice(0, 400)}`);
        if (now.tcp !== base.tcp) problems.push(`TCP listening ports changed: were ${base.tcp}, now ${now.tcp}`);
        if (now.udp !== base.udp) problems.push(`UDP ports changed: were ${base.udp}, now ${now.udp}`);
        for (const p of [await echoes(round), await udpEchoes(round)]) if (p !== null) problems.push(p);
        return problems;
      },
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function worldOf(server: TestServer): Promise<World> {
  const proxies = (await server.api('GET', '/proxies')).json as Record<string, any>;
  const catalog = (await server.api('GET', '/toxics')).json;
  const list = Object.values(proxies).map((p) => ({
    name: p.name as string, protocol: (p.protocol ?? 'tcp') as 'tcp' | 'udp',
    toxics: (p.toxics as any[]).map((t) => ({ name: t.name as string, type: t.type as string })),
  }));
  const taken = new Set(list.flatMap((p) => [p.name, ...p.toxics.map((t) => t.name)]));
  return { proxies: list, catalog, taken };
}

/** The stored proxies and toxics (updated_at included: a rewrite shows even if the values are
 *  the same), runs, sessions, and how many state changes the event log holds. */
async function diskState(file: string): Promise<string> {
  // The event writer batches for up to 50 ms; a change it has not written yet would hide.
  await new Promise((r) => setTimeout(r, 120));
  const db = await openDb(file, { readOnly: true });
  try {
    const rows = await Promise.all([
      db.all('SELECT * FROM proxies ORDER BY name'),
      db.all('SELECT * FROM toxics ORDER BY proxy, name'),
      db.all('SELECT id, status FROM scenario_runs ORDER BY id'),
      db.all('SELECT id, status FROM sessions ORDER BY id'),
      db.all("SELECT kind, COUNT(*) AS n FROM events WHERE kind LIKE 'proxy:%' OR kind LIKE 'toxic:%' GROUP BY kind ORDER BY kind"),
    ]);
    return JSON.stringify(rows);
  } finally {
    await db.close();
  }
}

function within<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    promise.then((v) => { clearTimeout(timer); resolve(v); }, () => { clearTimeout(timer); resolve(null); });
  });
}

export type Outcome =
  | { status: number; headers: http.IncomingHttpHeaders; body: Buffer; ms: number }
  | { error: string; ms: number };

/** Sends one request exactly as described (path unnormalised, body whole or chunked) on a
 *  keep-alive agent, and waits at most `timeoutMs` for the whole answer. */
export function send(url: string, agent: http.Agent, r: FuzzRequest, timeoutMs: number): Promise<Outcome> {
  const { hostname, port } = new URL(url);
  const start = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (o: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(o);
    };
    const fail = (error: string) => finish({ error, ms: performance.now() - start });
    const headers: Record<string, string> = { ...r.headers };
    if (r.body !== undefined && r.chunked !== true) headers['Content-Length'] = String(r.body.length);
    let req: http.ClientRequest;
    try {
      // A Host of our own, even an empty one, goes out as given instead of Node's.
      const setHost = !Object.keys(headers).some((h) => h.toLowerCase() === 'host');
      req = http.request({ host: hostname, port, method: r.method, path: r.path, headers, agent, setHost }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => finish({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), ms: performance.now() - start }));
        res.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
      });
    } catch (e) {
      throw new Error(`the client cannot send ${r.method} ${r.path.slice(0, 100)}: ${(e as Error).message}`);
    }
    const timer = setTimeout(() => { fail(`no answer within ${timeoutMs} ms`); req.destroy(); }, timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
    if (r.body === undefined) return void req.end();
    if (r.chunked !== true) return void req.end(r.body);
    for (let at = 0; at < r.body.length; at += 64 * 1024) req.write(r.body.subarray(at, at + 64 * 1024));
    req.end();
  });
}
