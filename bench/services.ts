// The services section of `npm run bench -- --services` (opt-in: it needs Debian's redis-server
// and postgresql, and takes a minute or two): real clients against real servers, direct and
// through proxies in their own processes.
//
//   Redis       redis-benchmark, GET, 20 clients (requests/s)
//   PostgreSQL  pgbench -S (select only), 4 clients, on a scale-1 pgbench database (transactions/s)
//
// Targets: direct, faultline with no toxics (a child process, bench/child.ts `faultline`) and,
// when its binary is there, Toxiproxy with no toxics. Each round runs every target once, in
// turn, so machine load hits them alike; the figure is the median of the rounds. The servers
// (service-hosts.ts) run on loopback on free ports, from temp directories removed afterwards.
// A service that is not installed is skipped with a line saying how to install it.

import { fmt, table, type Check } from './format.js';
import { median } from './measure.js';
import {
  findPostgres, findRedis, pgbench, redisBenchmark, startPostgres, startRedis, type ServiceHost,
} from './service-hosts.js';
import { createProxy, spawnChild, type ChildHost } from './targets.js';
import { startToxiproxy, type ToxiproxyBinary, type ToxiproxyServer } from './toxiproxy.js';

export type ServiceTarget = 'direct' | 'faultline' | 'toxiproxy';
const TARGET_LABELS: Record<ServiceTarget, string> = { direct: 'direct', faultline: 'faultline', toxiproxy: 'Toxiproxy' };

export interface ServicesSettings {
  rounds: number;
  redisClients: number;
  redisRequests: number;
  pgClients: number;
  pgSeconds: number;
}

export const servicesSettings = (quick: boolean): ServicesSettings => ({
  rounds: quick ? 2 : 3,
  redisClients: 20,
  redisRequests: quick ? 20_000 : 100_000,
  pgClients: 4,
  pgSeconds: quick ? 2 : 5,
});

export interface ServiceResult {
  label: string;
  unit: string;
  /** Median over the rounds, per target measured. */
  median: Partial<Record<ServiceTarget, number>>;
  runs: Partial<Record<ServiceTarget, number[]>>;
}

export interface ServicesResults {
  settings: ServicesSettings;
  /** Why Toxiproxy was left out, if it was. */
  toxiproxyMissing?: string;
  redis: ServiceResult | { skipped: string };
  postgres: ServiceResult | { skipped: string };
}

interface Service {
  key: 'redis' | 'postgres';
  label: string;
  unit: string;
  /** A missing-tools message, or a way to start the server and run one measurement. */
  prepare(): { missing: string } | { start(): Promise<ServiceHost>; measure(port: number, warmup: boolean): Promise<number> };
}

function services(s: ServicesSettings): Service[] {
  return [{
    key: 'redis',
    label: `Redis GET (redis-benchmark, ${s.redisClients} clients)`,
    unit: 'requests/s',
    prepare() {
      const found = findRedis();
      if (found.tools === undefined) return { missing: found.missing };
      const tools = found.tools;
      return {
        start: () => startRedis(tools),
        measure: (port, warmup) => redisBenchmark(tools, port, s.redisClients, warmup ? 2000 : s.redisRequests),
      };
    },
  }, {
    key: 'postgres',
    label: `PostgreSQL pgbench -S (${s.pgClients} clients)`,
    unit: 'transactions/s',
    prepare() {
      const found = findPostgres();
      if (found.tools === undefined) return { missing: found.missing };
      const tools = found.tools;
      return {
        start: () => startPostgres(tools),
        measure: (port, warmup) => pgbench(tools, port, s.pgClients, warmup ? 1 : s.pgSeconds),
      };
    },
  }];
}

export async function measureServices(quick: boolean, toxiproxy: ToxiproxyBinary, log: (line: string) => void): Promise<ServicesResults> {
  const settings = servicesSettings(quick);
  const results: Partial<ServicesResults> = { settings };
  if (toxiproxy.missing !== undefined) results.toxiproxyMissing = toxiproxy.missing;
  let child: ChildHost | undefined;
  let toxi: ToxiproxyServer | undefined;
  try {
    for (const service of services(settings)) {
      const ready = service.prepare();
      if ('missing' in ready) {
        log(`[services] ${service.key} skipped: ${ready.missing}`);
        results[service.key] = { skipped: ready.missing };
        continue;
      }
      child ??= await spawnChild(['faultline']);
      if (toxiproxy.path !== undefined) toxi ??= await startToxiproxy(toxiproxy.path);
      const host = await ready.start();
      try {
        const ports: Partial<Record<ServiceTarget, number>> = { direct: host.port };
        ports.faultline = await createProxy(String(child.hello.url), service.key, host.port, false);
        if (toxi !== undefined) ports.toxiproxy = await createProxy(toxi.url, service.key, host.port, false);
        const targets = Object.keys(ports) as ServiceTarget[];
        const runs = Object.fromEntries(targets.map((t) => [t, [] as number[]])) as Record<ServiceTarget, number[]>;
        for (const t of targets) await ready.measure(ports[t]!, true);
        for (let round = 0; round < settings.rounds; round++) {
          for (const t of targets) {
            const rate = await ready.measure(ports[t]!, false);
            runs[t].push(rate);
            log(`[services] ${service.key} ${t} round ${round + 1}: ${rate.toFixed(0)} ${service.unit}`);
          }
        }
        results[service.key] = {
          label: service.label,
          unit: service.unit,
          median: Object.fromEntries(targets.map((t) => [t, median(runs[t])])),
          runs,
        };
      } finally {
        await host.stop();
      }
    }
  } finally {
    await child?.stop();
    await toxi?.stop();
  }
  return results as ServicesResults;
}

const KEYS = ['redis', 'postgres'] as const;
const TARGETS: readonly ServiceTarget[] = ['direct', 'faultline', 'toxiproxy'];

export function formatServices(r: ServicesResults): string[] {
  const s = r.settings;
  const lines = ['', `real services (servers and clients here, proxies each in its own process, no toxics; median of ${s.rounds} rounds;`,
    `Redis ${s.redisRequests} requests a run, PostgreSQL ${s.pgSeconds} s a run):`];
  const rows: string[][] = [['service', 'unit', ...TARGETS.map((t) => TARGET_LABELS[t]), 'faultline / direct', 'Toxiproxy / direct', 'faultline / Toxiproxy']];
  for (const key of KEYS) {
    const x = r[key];
    if ('skipped' in x) continue;
    const m = x.median;
    const ratio = (a?: number, b?: number): string => (a === undefined || b === undefined ? 'n/a' : `${fmt(a / b, 2)}x`);
    rows.push([x.label, x.unit, ...TARGETS.map((t) => fmt(m[t], 0)),
      ratio(m.faultline, m.direct), ratio(m.toxiproxy, m.direct), ratio(m.faultline, m.toxiproxy)]);
  }
  if (rows.length > 1) lines.push(table(rows));
  for (const key of KEYS) {
    const x = r[key];
    if ('skipped' in x) lines.push(`${key} skipped: ${x.skipped}`);
  }
  return lines;
}

/** The services targets that could not be measured, and why. */
export function servicesSkipped(r: ServicesResults): string[] {
  return KEYS.flatMap((key) => {
    const x = r[key];
    return 'skipped' in x ? [`${key} targets: ${x.skipped}`] : [];
  });
}

/** Through faultline, each service keeps at least the share of its direct rate that it keeps through Toxiproxy. */
export function servicesChecks(r: ServicesResults): Check[] {
  const list: Check[] = [];
  for (const key of KEYS) {
    const x = r[key];
    if ('skipped' in x || x.median.toxiproxy === undefined) continue;
    const { direct, faultline, toxiproxy } = x.median as Record<ServiceTarget, number>;
    list.push({
      target: `${x.label}: share of direct through faultline >= Toxiproxy's`,
      measured: `${fmt(faultline / direct, 3)} vs ${fmt(toxiproxy / direct, 3)} (faultline / Toxiproxy ${fmt(faultline / toxiproxy, 3)}x)`,
      pass: faultline >= toxiproxy,
    });
  }
  return list;
}
