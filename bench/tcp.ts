// The TCP section of `npm run bench`: bulk throughput on one connection, aggregate throughput on
// many (the `child` placement only), ping-pong round trips and connection rate, through every
// target (targets.ts). With the proxies in their own process, Toxiproxy joins the targets when
// its binary is there: it runs in a process of its own too, so that is the like-for-like
// comparison; the in-process placement compares faultline with pipe() only.
// Every measurement goes round-robin over the targets, so drift in machine load hits them all.

import type { PlacementResults } from './tcp-report.js';
import { aggregateThroughput } from './aggregate.js';
import { bulkThroughput, connectionRate, median, pingPong, summarise } from './measure.js';
import { echoServer, sinkServer } from './servers.js';
import { buildTargets, type Placement, type Target, type TargetName } from './targets.js';
import { startToxiproxy, type ToxiproxyBinary, type ToxiproxyServer } from './toxiproxy.js';

export interface TcpSettings {
  throughputRuns: number;
  throughputMs: number;
  /** Connection counts of the aggregate measurement, and its runs per count and target. */
  aggregateConnections: number[];
  aggregateRuns: number;
  aggregateMs: number;
  /** Ping-pong and connection rate run in this many round-robin blocks per target. */
  blocks: number;
  pingRounds: number;
  /** Per block. */
  pingWarmup: number;
  cpsTotal: number;
  cpsConcurrency: number;
}

export const tcpSettings = (quick: boolean): TcpSettings => ({
  throughputRuns: quick ? 3 : 5,
  throughputMs: quick ? 500 : 1000,
  aggregateConnections: [8, 64],
  aggregateRuns: quick ? 2 : 3,
  aggregateMs: quick ? 500 : 1000,
  blocks: 10,
  pingRounds: quick ? 1000 : 5000,
  pingWarmup: quick ? 50 : 100,
  cpsTotal: quick ? 500 : 2000,
  cpsConcurrency: 4,
});

type PerTarget<T> = Partial<Record<TargetName, T>>;

function perTarget<T>(targets: Target[], make: () => T): Record<TargetName, T> {
  return Object.fromEntries(targets.map((t) => [t.name, make()])) as Record<TargetName, T>;
}

/** Throughput, ping-pong and connection rate through each target, with the proxies placed as asked. */
export async function measurePlacement(
  placement: Placement, settings: TcpSettings, toxiproxy: ToxiproxyBinary, log: (line: string) => void,
): Promise<PlacementResults> {
  const sink = await sinkServer();
  const echo = await echoServer();
  let toxi: ToxiproxyServer | undefined;
  let close = async (): Promise<void> => {};
  try {
    if (placement === 'child' && toxiproxy.path !== undefined) toxi = await startToxiproxy(toxiproxy.path);
    const built = await buildTargets(placement, sink, echo, toxi?.url);
    close = built.close;
    const { targets } = built;
    const runs = perTarget(targets, (): number[] => []);
    // A short unrecorded run each first, so no target pays for the JIT warming up.
    for (const t of targets) await bulkThroughput(t.sinkPort, 200);
    // Round-robin, so drift in machine load spreads over every target instead of one.
    for (let run = 0; run < settings.throughputRuns; run++) {
      for (const t of targets) {
        const mbs = await bulkThroughput(t.sinkPort, settings.throughputMs);
        runs[t.name].push(mbs);
        log(`[${placement}] throughput ${t.name} run ${run + 1}: ${mbs.toFixed(0)} MB/s`);
      }
    }
    const aggregate = placement === 'child' ? await measureAggregate(targets, settings, log) : undefined;
    // Ping-pong and connection rate also go round-robin, in blocks: scheduling on a shared
    // machine has moods (a sleeping core wakes slower), and each target should see all of them.
    const samples = perTarget(targets, (): number[] => []);
    for (let block = 0; block < settings.blocks; block++) {
      for (const t of targets) {
        samples[t.name].push(...await pingPong(t.echoPort, settings.pingRounds / settings.blocks, settings.pingWarmup));
      }
    }
    const rtt: PlacementResults['rtt'] = {};
    for (const t of targets) {
      const r = summarise(samples[t.name]);
      rtt[t.name] = r;
      log(`[${placement}] ping-pong ${t.name}: p50 ${r.p50.toFixed(1)} µs, p99 ${r.p99.toFixed(1)} µs`);
    }
    for (const t of targets) await connectionRate(t.echoPort, 100, settings.cpsConcurrency);
    const seconds = perTarget(targets, () => 0);
    for (let block = 0; block < settings.blocks; block++) {
      for (const t of targets) {
        seconds[t.name] += await connectionRate(t.echoPort, settings.cpsTotal / settings.blocks, settings.cpsConcurrency);
      }
    }
    const cps: PerTarget<number> = {};
    for (const t of targets) {
      cps[t.name] = settings.cpsTotal / seconds[t.name];
      log(`[${placement}] connections/s ${t.name}: ${cps[t.name]!.toFixed(0)}`);
    }
    return {
      targets: targets.map((t) => t.name),
      throughput: Object.fromEntries(targets.map((t) => [t.name, median(runs[t.name])])),
      throughputRuns: runs,
      ...(aggregate === undefined ? {} : { aggregate }),
      rtt,
      connectionsPerSecond: cps,
    };
  } finally {
    await close();
    await toxi?.stop();
    await sink.close();
    await echo.close();
  }
}

/** Aggregate MB/s for each connection count, round-robin over counts and targets. */
async function measureAggregate(targets: Target[], settings: TcpSettings, log: (line: string) => void): Promise<NonNullable<PlacementResults['aggregate']>> {
  const runs = Object.fromEntries(settings.aggregateConnections.map((n) => [n, perTarget(targets, (): number[] => [])]));
  for (const n of settings.aggregateConnections) {
    for (const t of targets) await aggregateThroughput(t.sinkPort, n, 100);
  }
  for (let run = 0; run < settings.aggregateRuns; run++) {
    for (const n of settings.aggregateConnections) {
      for (const t of targets) {
        const mbs = await aggregateThroughput(t.sinkPort, n, settings.aggregateMs);
        runs[n]![t.name].push(mbs);
        log(`[child] aggregate ${n} connections ${t.name} run ${run + 1}: ${mbs.toFixed(0)} MB/s`);
      }
    }
  }
  return Object.fromEntries(settings.aggregateConnections.map((n) => [n, {
    median: Object.fromEntries(targets.map((t) => [t.name, median(runs[n]![t.name])])),
    runs: runs[n]!,
  }]));
}
