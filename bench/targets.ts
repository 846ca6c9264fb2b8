// What the benchmark measures through: direct loopback, a bare pipe() proxy, faultline (bare,
// and with a zero-latency latency toxic on both streams) and, when its binary is there,
// Toxiproxy set up alike (bench/toxiproxy.ts). The pipe() proxy and faultline run either in this
// process or in child processes (bench/child.ts), whose memory /proc reports; Toxiproxy always
// runs in its own process.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createServer, type FaultlineServer } from '../src/index.js';
import { pipeProxy, type Endpoint } from './servers.js';

export type TargetName = 'direct' | 'pipe' | 'bare' | 'zero' | 'toxi' | 'toxiZero';

export const LABELS: Record<TargetName, string> = {
  direct: 'direct',
  pipe: 'pipe() proxy',
  bare: 'faultline bare',
  zero: 'faultline 0ms',
  toxi: 'Toxiproxy bare',
  toxiZero: 'Toxiproxy 0ms',
};

export interface Target {
  name: TargetName;
  sinkPort: number;
  echoPort: number;
}

/** Faultline's REST API (or Toxiproxy's: the same), as a client would drive it. */
export async function api(base: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(base + path, {
    method,
    headers: { 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return text === '' ? undefined : JSON.parse(text);
}

/**
 * Creates a proxy on 127.0.0.1:0 to `upstreamPort` through the API at `base` (faultline or
 * Toxiproxy) and returns its bound port. With `zeroLatency`, adds a latency toxic of 0 ms on
 * each stream, so both directions run the chain.
 */
export async function createProxy(base: string, name: string, upstreamPort: number, zeroLatency: boolean): Promise<number> {
  const proxy = await api(base, 'POST', '/proxies', { name, listen: '127.0.0.1:0', upstream: `127.0.0.1:${upstreamPort}` });
  if (zeroLatency) {
    for (const stream of ['upstream', 'downstream']) {
      await api(base, 'POST', `/proxies/${name}/toxics`, { type: 'latency', stream, attributes: { latency: 0, jitter: 0 } });
    }
  }
  const listen = String(proxy.listen);
  return Number(listen.slice(listen.lastIndexOf(':') + 1));
}

export type Placement = 'inProcess' | 'child';

/**
 * The targets in front of one sink and one echo server. `inProcess` runs the proxies on this
 * event loop (as a test wrapping a service would); `child` runs them in one other process, so a
 * proxy has a core to itself and its cost is not diluted by the clients'. The pipe() proxy and
 * faultline share that process: on a small machine, which core a process lands on moves
 * round-trip times by 2-3x, and both must get the same luck. With `toxiproxyUrl` (a running
 * Toxiproxy, in a process of its own as the `child` placement's faultline is), its two targets
 * are added.
 */
export async function buildTargets(
  placement: Placement, sink: Endpoint, echo: Endpoint, toxiproxyUrl?: string,
): Promise<{ targets: Target[]; close(): Promise<void> }> {
  const closers: (() => Promise<void>)[] = [];
  let pipePorts: [number, number];
  let url: string;
  if (placement === 'inProcess') {
    const pipeSink = await pipeProxy(sink.port);
    const pipeEcho = await pipeProxy(echo.port);
    const server: FaultlineServer = await createServer({ port: 0, seed: 1 });
    closers.push(() => server.close(), pipeSink.close, pipeEcho.close);
    pipePorts = [pipeSink.port, pipeEcho.port];
    url = server.url;
  } else {
    const child = await spawnChild(['both', String(sink.port), String(echo.port)]);
    closers.push(child.stop);
    const ports = child.hello.ports as number[];
    pipePorts = [ports[0]!, ports[1]!];
    url = String(child.hello.url);
  }
  const targets: Target[] = [
    { name: 'direct', sinkPort: sink.port, echoPort: echo.port },
    { name: 'pipe', sinkPort: pipePorts[0], echoPort: pipePorts[1] },
    {
      name: 'bare',
      sinkPort: await createProxy(url, 'bare_sink', sink.port, false),
      echoPort: await createProxy(url, 'bare_echo', echo.port, false),
    },
    {
      name: 'zero',
      sinkPort: await createProxy(url, 'zero_sink', sink.port, true),
      echoPort: await createProxy(url, 'zero_echo', echo.port, true),
    },
  ];
  if (toxiproxyUrl !== undefined) {
    targets.push({
      name: 'toxi',
      sinkPort: await createProxy(toxiproxyUrl, 'bare_sink', sink.port, false),
      echoPort: await createProxy(toxiproxyUrl, 'bare_echo', echo.port, false),
    }, {
      name: 'toxiZero',
      sinkPort: await createProxy(toxiproxyUrl, 'zero_sink', sink.port, true),
      echoPort: await createProxy(toxiproxyUrl, 'zero_echo', echo.port, true),
    });
  }
  return {
    targets,
    async close() {
      for (const close of closers) await close();
    },
  };
}

/** A proxy host in a child process (bench/child.ts), with its RSS readable from /proc. */
export interface ChildHost {
  pid: number;
  /** The first line the child printed: {"ports"} for pipe, {"url"} for faultline. */
  hello: Record<string, unknown>;
  /** Forces two full GCs in the child; resolves with its heapUsed in bytes. */
  gc(): Promise<number>;
  /** The child's CPU time so far (process.cpuUsage(), all threads), in µs. */
  cpu(): Promise<{ user: number; system: number }>;
  rssKB(): number;
  stop(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./child.js', import.meta.url));

export async function spawnChild(args: string[]): Promise<ChildHost> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--expose-gc', CHILD, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const nextLine = (): Promise<string> => new Promise((resolve, reject) => {
    waiting.push(resolve);
    void exited.then(() => reject(new Error(`bench child ${args.join(' ')} exited: ${stderr.trim()}`)));
  });
  const hello = JSON.parse(await nextLine()) as Record<string, unknown>;
  const pid = child.pid!;
  return {
    pid,
    hello,
    async gc() {
      const answer = nextLine();
      child.stdin.write('gc\n');
      return (JSON.parse(await answer) as { heapUsed: number }).heapUsed;
    },
    async cpu() {
      const answer = nextLine();
      child.stdin.write('cpu\n');
      return JSON.parse(await answer) as { user: number; system: number };
    },
    rssKB: () => vmRssKB(pid),
    async stop() {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** VmRSS of a process, in kB, from /proc/<pid>/status (Linux). */
export function vmRssKB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (match === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]);
}

/** The soft limit on open files, from /proc/self/limits; Infinity if unreadable. */
export function openFileLimit(): number {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const match = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
    if (match === null || match[1] === 'unlimited') return Infinity;
    return Number(match[1]);
  } catch {
    return Infinity;
  }
}
