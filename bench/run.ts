// `npm run bench`: faultline against direct loopback and a bare Node pipe() proxy, in one run,
// and its UDP proxy against direct loopback and a bare Node dgram relay (bench/udp.ts), and the
// cost of fault event persistence on the data path (bench/events.ts), and how accurately the
// latency and bandwidth toxics keep time (bench/accuracy.ts).
// Not a test: it prints numbers, ratios and the targets, and exits 0 unless something
// broke (a failed target is reported, not an error).
//
//   node dist/bench/run.js [--json] [--quick] [--idle N]
//
// Throughput, ping-pong and connection rate run twice: with the proxies in this process (client,
// proxy and servers on one event loop, as a test wrapping a service would) and with the proxies
// in a child process (a proxy with a core to itself, as `faultline serve` runs). Idle-connection
// memory is read from /proc/<pid>/status of a child process that hosts only the proxy measured.
// Every measurement goes round-robin over the targets, so drift in machine load hits them all.

import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type net from 'node:net';
import { bulkThroughput, connectionRate, median, openIdle, pingPong, summarise, type RttResult } from './measure.js';
import { checks, formatText, ratios, type IdleResult, type PlacementResults, type Results } from './report.js';
import { echoServer, holdServer, sinkServer } from './servers.js';
import { measureAllUdp } from './udp.js';
import { measureEvents } from './events.js';
import { measureAccuracy } from './accuracy.js';
import {
  buildTargets, faultlineProxy, openFileLimit, spawnChild, type ChildHost, type Placement, type TargetName,
} from './targets.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const idleFlag = args.indexOf('--idle');

const settings = {
  throughputRuns: quick ? 3 : 5,
  throughputMs: quick ? 500 : 1000,
  /** Ping-pong and connection rate run in this many round-robin blocks per target. */
  blocks: 10,
  pingRounds: quick ? 1000 : 5000,
  /** Per block. */
  pingWarmup: quick ? 50 : 100,
  cpsTotal: quick ? 500 : 2000,
  cpsConcurrency: 4,
  idleConnections: idleFlag >= 0 ? Number(args[idleFlag + 1]) : quick ? 500 : 5000,
};

if (!Number.isInteger(settings.idleConnections) || settings.idleConnections < 1) {
  process.stderr.write('usage: node dist/bench/run.js [--json] [--quick] [--idle N]  (N: idle connections, default 5000)\n');
  process.exit(2);
}

const log = (line: string): void => { if (!json) process.stderr.write(`${line}\n`); };

// Each idle connection holds two descriptors here (client + accepted) and two in the child.
// Node cannot raise its own limit (no setrlimit), so a low one shrinks the count, loudly.
const fdLimit = openFileLimit();
const fdRoom = Math.floor((fdLimit - 256) / 2);
if (settings.idleConnections > fdRoom) {
  log(`open-file limit is ${fdLimit} (ulimit -n); measuring ${fdRoom} idle connections instead of ${settings.idleConnections}.`);
  log('Raise it with `ulimit -n 20000` before `npm run bench` for the full count.');
  settings.idleConnections = fdRoom;
}

async function measureIdle(name: TargetName, count: number): Promise<IdleResult> {
  const hold = await holdServer();
  let child: ChildHost | undefined;
  let clients: net.Socket[] = [];
  try {
    child = name === 'pipe' ? await spawnChild(['pipe', String(hold.port)]) : await spawnChild(['faultline']);
    const port = name === 'pipe'
      ? (child.hello.ports as number[])[0]!
      : await faultlineProxy(String(child.hello.url), 'idle', hold.port, name === 'zero');
    const settle = async (expected: number): Promise<void> => {
      const deadline = Date.now() + 60_000;
      while (hold.accepted() < expected) {
        if (Date.now() > deadline) throw new Error(`idle: only ${hold.accepted()} of ${expected} connections reached the upstream`);
        await sleep(20);
      }
      await sleep(300);
    };
    // Warm-up: the first connections pay for code paths and pools, not for being open.
    const warm = await openIdle(port, 200, 100);
    await settle(200);
    for (const s of warm) s.destroy();
    hold.dropAll();
    await sleep(500);

    await child.gc();
    await sleep(200);
    const heapBefore = await child.gc();
    const rssBeforeKB = child.rssKB();
    clients = await openIdle(port, count, 250);
    await settle(200 + count);
    await child.gc();
    await sleep(200);
    const heapAfter = await child.gc();
    const rssAfterKB = child.rssKB();
    return {
      connections: count,
      rssBeforeKB,
      rssAfterKB,
      kbPerConnection: (rssAfterKB - rssBeforeKB) / count,
      heapKBPerConnection: (heapAfter - heapBefore) / 1024 / count,
    };
  } finally {
    for (const s of clients) s.destroy();
    hold.dropAll();
    await child?.stop();
    await hold.close();
  }
}

/** Throughput, ping-pong and connection rate through each target, with the proxies placed as asked. */
async function measurePlacement(placement: Placement): Promise<PlacementResults> {
  const sink = await sinkServer();
  const echo = await echoServer();
  const { targets, close } = await buildTargets(placement, sink, echo);
  const names = targets.map((t) => t.name);
  const runs = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<TargetName, number[]>;
  const rtt = {} as Record<TargetName, RttResult>;
  const cps = {} as Record<TargetName, number>;
  try {
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
    // Ping-pong and connection rate also go round-robin, in blocks: scheduling on a shared
    // machine has moods (a sleeping core wakes slower), and each target should see all of them.
    const samples = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<TargetName, number[]>;
    const seconds = Object.fromEntries(names.map((n) => [n, 0])) as Record<TargetName, number>;
    for (let block = 0; block < settings.blocks; block++) {
      for (const t of targets) {
        samples[t.name].push(...await pingPong(t.echoPort, settings.pingRounds / settings.blocks, settings.pingWarmup));
      }
    }
    for (const t of targets) {
      rtt[t.name] = summarise(samples[t.name]);
      log(`[${placement}] ping-pong ${t.name}: p50 ${rtt[t.name].p50.toFixed(1)} µs, p99 ${rtt[t.name].p99.toFixed(1)} µs`);
    }
    for (const t of targets) await connectionRate(t.echoPort, 100, settings.cpsConcurrency);
    for (let block = 0; block < settings.blocks; block++) {
      for (const t of targets) {
        seconds[t.name] += await connectionRate(t.echoPort, settings.cpsTotal / settings.blocks, settings.cpsConcurrency);
      }
    }
    for (const t of targets) {
      cps[t.name] = settings.cpsTotal / seconds[t.name];
      log(`[${placement}] connections/s ${t.name}: ${cps[t.name].toFixed(0)}`);
    }
  } finally {
    await close();
    await sink.close();
    await echo.close();
  }
  return {
    throughput: Object.fromEntries(names.map((n) => [n, median(runs[n])])) as Record<TargetName, number>,
    throughputRuns: runs,
    rtt,
    connectionsPerSecond: cps,
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const inProcess = await measurePlacement('inProcess');
  const child = await measurePlacement('child');
  const idle: Results['idle'] = {};
  for (const name of ['pipe', 'bare', 'zero'] as const) {
    idle[name] = await measureIdle(name, settings.idleConnections);
    log(`idle ${name}: ${idle[name]!.kbPerConnection.toFixed(2)} KB RSS per connection`);
  }
  const udp = await measureAllUdp(quick, log);
  const events = await measureEvents(quick, log);
  const accuracy = await measureAccuracy(quick, log);

  const results: Results = {
    environment: {
      node: process.version,
      cpus: os.cpus().length,
      load: os.loadavg().map((l) => l.toFixed(2)).join(' '),
      'open files': fdLimit,
      seconds: Math.round((Date.now() - started) / 1000),
    },
    inProcess,
    child,
    idle,
    udp,
    events,
    accuracy,
  };
  if (json) {
    const allRatios = { inProcess: ratios(inProcess, idle), child: ratios(child, idle) };
    process.stdout.write(`${JSON.stringify({ settings, ...results, ratios: allRatios, checks: checks(results) }, null, 2)}\n`);
  } else {
    process.stdout.write(`\n${formatText(results)}\n`);
  }
}

await main();
