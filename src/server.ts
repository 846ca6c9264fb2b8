// The composition root: builds the seeded random source, the event bus, the proxy collection,
// the store, the HTTP API, the WebSocket hub and the metrics, and wires them together. Nothing
// else knows how the parts meet.

import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  allowedHostProblem, browserAllowed, isLoopbackHost, newToken, streamAllowed, tokenProblem, type BrowserAccess,
} from './api/browser-access.js';
import { createApiServer } from './api/http.js';
import { populateInput, parseJson } from './api/input.js';
import type { EventLog } from './api/routes.js';
import { dashboardPages } from './api/static.js';
import { formatHostPort } from './core/address.js';
import { Collection, type ProxyInput } from './core/collection.js';
import { FaultlineError } from './errors.js';
import { EventBus } from './events/bus.js';
import { HttpProxy } from './http/http-proxy.js';
import { busTotals, type BusTotals } from './events/bus-totals.js';
import { liveStats } from './events/live-stats.js';
import { createMetrics } from './events/metrics.js';
import { WsHub } from './events/ws-hub.js';
import { openPersistence, type Persistence } from './persist.js';
import { Random } from './random.js';
import { memoryRunStore, RunManager } from './scenario/server-runs.js';
import { memorySessionStore, SessionRecorder } from './sessions/recorder.js';
import { TOXICS, findToxic } from '../toxics/index.js';

export interface ServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: an ephemeral port. The CLI passes 8474. */
  port?: number;
  /** Seeds every random decision; a fresh seed is chosen (and reported) when absent. */
  seed?: number;
  /** A populate array, or the path of a JSON file holding one, applied after the stored state
   *  is restored and before the API listens. Each entry replaces the stored proxy of the same
   *  name outright, identical or not (its stored toxics and disabled flag go), and is stored. */
  config?: string | ProxyInput[];
  /** The SQLite file for state and the event log. ':memory:' (the default) keeps nothing
   *  across restarts; false turns persistence off entirely. The CLI defaults to faultline.db. */
  db?: string | false;
  /** Events kept in the log; the oldest are pruned. Default 1,000,000. */
  retainEvents?: number;
  /** Receives one line per notable event (warnings, API failures). Silent when absent. */
  log?: (line: string) => void;
  /** The dashboard's token (browsers must send it); a random one is made when absent. Required
   *  to listen on an address other than loopback, unless `insecure`. */
  token?: string;
  /** Listen on a non-loopback address without a chosen token (logged as a warning). */
  insecure?: boolean;
  /** Host names a browser may use besides those always allowed (loopback names on a loopback
   *  bind; beyond it, IP addresses and localhost); `.example.com` allows it and its subdomains.
   *  Other names are refused, so a site pointing its own name here cannot read the token. */
  allowedHosts?: string[];
  /** The dashboard's files; default the package's dashboard/ folder. */
  dashboardDir?: string;
  /** The folder of scenario files GET /scenarios/files lists; none when absent. */
  scenariosDir?: string;
  /** How often stream clients get live stats, in ms. Default 1000. */
  statsMs?: number;
  /** Lets scenarios posted to /scenarios/runs run exec probes (shell commands as this process's
   *  user), for requests that carry the token. Default false: such runs get a 403. */
  allowExec?: boolean;
}

export interface FaultlineServer {
  /** The API's base URL, e.g. http://127.0.0.1:8474. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly seed: number;
  /** What a browser must send (the dashboard page carries it). */
  readonly token: string;
  readonly events: EventBus;
  readonly collection: Collection;
  close(): Promise<void>;
}

export const VERSION: string = (JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string }).version;

const NO_EVENT_LOG: EventLog = {
  check: () => { throw new FaultlineError('ERR_NO_EVENT_LOG'); },
  query: () => Promise.reject(new FaultlineError('ERR_NO_EVENT_LOG')),
  export: () => Promise.reject(new FaultlineError('ERR_NO_EVENT_LOG')),
};

const DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard', import.meta.url));

export async function createServer(options: ServerOptions = {}): Promise<FaultlineServer> {
  const log = options.log ?? (() => {});
  // First, so a refused bind leaves nothing behind (not even a database file).
  const access = browserAccess(options, options.host ?? '127.0.0.1', log);
  const seed = options.seed ?? Random.freshSeed();
  const events = new EventBus();
  events.on('log:warn', (e) => log(`warn: ${e.message}${Object.keys(e.context).length ? ' ' + JSON.stringify(e.context) : ''}`));
  let persistence: Persistence | null = null;
  const collection = new Collection({
    reporter: events, random: new Random(seed), findToxic,
    protocols: { http: (input, deps) => new HttpProxy(input.name, input.listen, input.upstream, deps) },
    ...(options.db !== false ? { journal: (changes) => persistence!.journal(changes) } : {}),
  });
  let totals: BusTotals | null = null;
  let metrics: ReturnType<typeof createMetrics> | null = null;
  // Proxies stop first, so the events of their closing still reach the store.
  const fail = async (err: unknown): Promise<never> => {
    await collection.close();
    metrics?.close();
    totals?.close();
    await persistence?.close();
    events.close();
    throw err;
  };

  try {
    if (options.db !== false) {
      persistence = await openPersistence(options.db ?? ':memory:', {
        bus: events, collection, log, ...(options.retainEvents !== undefined ? { retain: options.retainEvents } : {}),
      });
      for (const warning of await persistence.restore()) log(`warn: ${warning}`);
    }
    if (options.config !== undefined) await applyConfig(collection, options.config);
  } catch (err) {
    return fail(err);
  }

  let url = '';
  const runs = new RunManager({
    bus: events, url: () => url, store: persistence?.runs ?? memoryRunStore(), eventLog: persistence !== null, allowExec: options.allowExec === true,
  });
  const sessions = new SessionRecorder({
    bus: events, url: () => url, store: persistence?.sessions ?? memorySessionStore(),
    proxies: () => collection.list().map((p) => p.toJSON()),
  });
  try {
    await runs.recover();
    await sessions.recover();
  } catch (err) {
    return fail(err);
  }
  // Metrics and the live stats both report these sums: one listener keeps them for both.
  totals = busTotals(events);
  const httpRoutes = () => collection.list().flatMap((p) => (p instanceof HttpProxy ? [{ proxy: p.name, routes: p.routes.snapshot() }] : []));
  metrics = createMetrics({
    bus: events,
    collection,
    totals,
    httpRoutes,
    liveBytes: () => collection.list().map((p) => ({ proxy: p.name, ...p.liveBytes() })),
    storeStats: () => persistence?.stats() ?? { failures: 0, dropped: 0 },
  });
  const http = createApiServer(
    {
      collection, toxics: TOXICS, version: VERSION, events: persistence?.eventLog ?? NO_EVENT_LOG, metrics, runs, sessions, httpRoutes,
      ...(options.scenariosDir !== undefined ? { scenariosDir: options.scenariosDir } : {}),
    },
    (err) => log(`error: API handler failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`),
    {
      pages: dashboardPages({ dir: options.dashboardDir ?? DASHBOARD_DIR, version: VERSION, access }),
      allowBrowser: (req) => browserAllowed(req, access),
      token: access.token,
    },
  );
  const stats = liveStats({ bus: events, collection, totals });
  const hub = new WsHub({
    bus: events,
    snapshot: () => ({ proxies: collection.list().map((p) => p.toJSON()), counters: events.faultCounts() }),
    authorize: (req) => streamAllowed(req, access),
    stats: () => stats.read(),
    ...(options.statsMs !== undefined ? { statsMs: options.statsMs } : {}),
  });
  hub.attach(http);
  const host = options.host ?? '127.0.0.1';
  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(options.port ?? 0, host, () => { http.off('error', reject); resolve(); });
    });
  } catch (err) {
    hub.close();
    stats.close();
    return fail(err);
  }
  const address = http.address() as AddressInfo;
  url = `http://${formatHostPort(address.address, address.port)}`;
  let closing: Promise<void> | null = null;

  return {
    url,
    host: address.address,
    port: address.port,
    seed,
    token: access.token,
    events,
    collection,
    close() {
      closing ??= (async () => {
        // Running game-days roll back through the API, so they end while it still listens.
        await runs.close();
        // A session still recording ends here, with the rollbacks above in its record.
        await sessions.close();
        // Upgraded WebSocket sockets are out of closeAllConnections' reach: close them first.
        hub.close();
        stats.close();
        const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
        http.closeAllConnections();
        await collection.close();
        await stopped;
        metrics?.close();
        totals?.close();
        await persistence?.close();
        events.close();
      })();
      return closing;
    },
  };
}

/** The token and the Host names browsers may use; refuses an open API on a network address. */
function browserAccess(options: ServerOptions, host: string, log: (line: string) => void): BrowserAccess {
  if (options.token !== undefined) {
    const problem = tokenProblem(options.token);
    if (problem !== null) throw new Error(`invalid token: ${problem}`);
  }
  const allowedHosts = (options.allowedHosts ?? []).map((name) => {
    const problem = allowedHostProblem(name);
    if (problem !== null) throw new Error(`invalid allowed host ${JSON.stringify(name)}: ${problem}`);
    return name.toLowerCase();
  });
  const loopbackOnly = isLoopbackHost(host);
  if (!loopbackOnly && options.token === undefined) {
    if (options.insecure !== true) {
      throw new Error(`refusing to listen on ${host}, which is not a loopback address, without a token: ` +
        'anyone who can reach it could drive the chaos API. Give a token (--token or FAULTLINE_TOKEN), ' +
        'or pass --insecure to accept that');
    }
    log(`warn: listening on ${host} with --insecure: anyone who can reach this port can drive the API and open the dashboard`);
  }
  // Beyond loopback anyone who can reach the port can load the page, so with exec allowed the
  // page must not hand out the token that gates it: the operator brings it (#token=...).
  const withholdToken = options.allowExec === true && !loopbackOnly;
  if (withholdToken && options.token === undefined) {
    throw new Error(`refusing --allow-exec on ${host}, which is not a loopback address, without a token you chose: ` +
      'the token is what gates exec there. Give one with --token or FAULTLINE_TOKEN');
  }
  return { token: options.token ?? newToken(), loopbackOnly, allowedHosts, withholdToken };
}

async function applyConfig(collection: Collection, config: string | ProxyInput[]): Promise<void> {
  let inputs: ProxyInput[];
  if (typeof config === 'string') {
    let raw: Buffer;
    try {
      raw = await readFile(config);
    } catch (err) {
      throw new Error(`cannot read config ${config}: ${(err as Error).message}`);
    }
    try {
      inputs = populateInput(parseJson(raw));
    } catch (err) {
      throw new Error(`invalid config ${config}: ${(err as Error).message}`);
    }
  } else {
    inputs = config;
  }
  // Unlike POST /populate, an identical stored proxy is replaced too: the file says what runs.
  const result = await collection.populate(inputs, { replace: true });
  if (result.error !== undefined) throw new Error(`config: ${result.error.message}`);
}
