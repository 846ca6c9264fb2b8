// The idle section of `npm run bench`: the RSS an idle proxied connection costs. Each proxy is
// measured alone in a fresh process (a Node child from bench/child.ts, or a Toxiproxy server),
// in front of a server that accepts and never reads or writes; VmRSS comes from
// /proc/<pid>/status. After a warm-up of 200 connections (code paths, pools) closed again, the
// process's RSS is read before and after `count` connections are open and have reached the
// upstream. A Node child is garbage-collected before each reading; Go offers no outside way to
// collect, so Toxiproxy's figure is what the process holds, garbage included.

import type net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IdleResult } from './tcp-report.js';
import { openIdle } from './measure.js';
import { holdServer } from './servers.js';
import { createProxy, spawnChild, type TargetName } from './targets.js';
import { startToxiproxy, type ToxiproxyBinary } from './toxiproxy.js';

export type IdleTarget = Exclude<TargetName, 'direct'>;

interface IdleHost {
  port: number;
  rssKB(): number;
  /** Forces collection; resolves with the V8 heap in bytes. Node children only. */
  gc?(): Promise<number>;
  stop(): Promise<void>;
}

async function idleHost(name: IdleTarget, upstreamPort: number, toxiproxy: ToxiproxyBinary): Promise<IdleHost> {
  if (name === 'toxi' || name === 'toxiZero') {
    if (toxiproxy.path === undefined) throw new Error(toxiproxy.missing);
    const server = await startToxiproxy(toxiproxy.path);
    try {
      const port = await createProxy(server.url, 'idle', upstreamPort, name === 'toxiZero');
      return { port, rssKB: server.rssKB, stop: server.stop };
    } catch (err) {
      await server.stop();
      throw err;
    }
  }
  const child = name === 'pipe' ? await spawnChild(['pipe', String(upstreamPort)]) : await spawnChild(['faultline']);
  const port = name === 'pipe'
    ? (child.hello.ports as number[])[0]!
    : await createProxy(String(child.hello.url), 'idle', upstreamPort, name === 'zero');
  return { port, rssKB: child.rssKB, gc: child.gc, stop: child.stop };
}

export async function measureIdle(name: IdleTarget, count: number, toxiproxy: ToxiproxyBinary): Promise<IdleResult> {
  const hold = await holdServer();
  let host: IdleHost | undefined;
  let clients: net.Socket[] = [];
  try {
    host = await idleHost(name, hold.port, toxiproxy);
    const settle = async (expected: number): Promise<void> => {
      const deadline = Date.now() + 60_000;
      while (hold.accepted() < expected) {
        if (Date.now() > deadline) throw new Error(`idle: only ${hold.accepted()} of ${expected} connections reached the upstream`);
        await sleep(20);
      }
      await sleep(300);
    };
    const collect = async (): Promise<number | null> => {
      if (host?.gc === undefined) return null;
      await host.gc();
      await sleep(200);
      return host.gc();
    };
    // Warm-up: the first connections pay for code paths and pools, not for being open.
    const warm = await openIdle(host.port, 200, 100);
    await settle(200);
    for (const s of warm) s.destroy();
    hold.dropAll();
    await sleep(500);

    const heapBefore = await collect();
    const rssBeforeKB = host.rssKB();
    clients = await openIdle(host.port, count, 250);
    await settle(200 + count);
    const heapAfter = await collect();
    const rssAfterKB = host.rssKB();
    return {
      connections: count,
      rssBeforeKB,
      rssAfterKB,
      kbPerConnection: (rssAfterKB - rssBeforeKB) / count,
      heapKBPerConnection: heapBefore === null || heapAfter === null ? null : (heapAfter - heapBefore) / 1024 / count,
    };
  } finally {
    for (const s of clients) s.destroy();
    hold.dropAll();
    await host?.stop();
    await hold.close();
  }
}
