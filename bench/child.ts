// A proxy host in its own process, so the proxy has a core to itself and its memory can be read
// from /proc/<pid>/status without the benchmark's clients and servers mixed in. Run it with
// --expose-gc:
//
//   node --expose-gc dist/bench/child.js pipe <upstream port>...  prints {"ports": [N, ...]}
//   node --expose-gc dist/bench/child.js faultline                prints {"url": "http://..."}
//   node --expose-gc dist/bench/child.js both <upstream port>...  prints both
//   node --expose-gc dist/bench/child.js udp <upstream port>...   prints {"udpPorts": [N, ...], "url": ...}
//   node --expose-gc dist/bench/child.js delay <ms> <upstream port>...
//                                                     prints {"ports": [N, ...]}
//   node --expose-gc dist/bench/child.js events <db file> [unlimited]
//                                                     prints {"off": "http://...", "on": "http://..."}
//
// `both` puts the pipe() proxies and faultline in one process, so that for speed they share
// whatever core and scheduling the process gets; `udp` does the same with bare dgram relays.
// `delay` hosts minimal delaying proxies (servers.ts delayProxy), the reference that
// bench/accuracy.ts measures beside faultline's latency toxic.
// `events` (bench/events.ts) hosts two faultline servers side by side, one with event
// persistence off (db: false) and one writing the SQLite file given; `unlimited` disables the
// per-toxic event rate limit in this process (a stress case, not a product configuration).
// Then, for each line "gc" on stdin, the child collects garbage and answers {"heapUsed":
// bytes}; for each line "cpu", it answers process.cpuUsage() ({"user", "system"}: µs, every
// thread); closing stdin stops it.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createServer } from '../src/index.js';
import { FaultLimiter } from '../src/events/fault-limiter.js';
import { delayProxy, pipeProxy } from './servers.js';
import { udpRelay } from './udp.js';

const [kind, ...upstreams] = process.argv.slice(2);
if (kind !== 'pipe' && kind !== 'faultline' && kind !== 'both' && kind !== 'udp' && kind !== 'events' && kind !== 'delay') throw new Error(`unknown child kind ${kind}`);

const closers: (() => Promise<void>)[] = [];
const hello: { ports?: number[]; udpPorts?: number[]; url?: string; off?: string; on?: string } = {};
if (kind === 'pipe' || kind === 'both') {
  const proxies = await Promise.all(upstreams.map((port) => pipeProxy(Number(port))));
  closers.push(...proxies.map((p) => p.close));
  hello.ports = proxies.map((p) => p.port);
}
if (kind === 'delay') {
  const [ms, ...ports] = upstreams;
  const proxies = await Promise.all(ports.map((port) => delayProxy(Number(port), Number(ms))));
  closers.push(...proxies.map((p) => p.close));
  hello.ports = proxies.map((p) => p.port);
}
if (kind === 'udp') {
  const relays = await Promise.all(upstreams.map((port) => udpRelay(Number(port))));
  closers.push(...relays.map((r) => r.close));
  hello.udpPorts = relays.map((r) => r.port);
}
if (kind === 'events') {
  const [db, mode] = upstreams;
  if (db === undefined) throw new Error('events: the SQLite file is missing');
  // Every fault is still counted; every per-chunk event is also emitted, built and (on) stored.
  if (mode === 'unlimited') FaultLimiter.prototype.admit = () => true;
  const off = await createServer({ port: 0, seed: 1, db: false });
  const on = await createServer({ port: 0, seed: 1, db });
  closers.push(() => off.close(), () => on.close());
  hello.off = off.url;
  hello.on = on.url;
} else if (kind !== 'pipe' && kind !== 'delay') {
  // As `faultline serve` runs: the event log in a file, whose page cache SQLite bounds. An
  // in-memory log would grow the process by every event and count it against the proxy.
  const dir = await mkdtemp(join(tmpdir(), 'faultline-bench-'));
  const server = await createServer({ port: 0, seed: 1, db: join(dir, 'faultline.db') });
  closers.push(async () => { await server.close(); await rm(dir, { recursive: true, force: true }); });
  hello.url = server.url;
}

const reply = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value)}\n`);
reply(hello);

const gc = (globalThis as { gc?: () => void }).gc;
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === 'cpu') {
    reply(process.cpuUsage());
    return;
  }
  if (line.trim() !== 'gc') return;
  gc?.();
  gc?.();
  reply({ heapUsed: process.memoryUsage().heapUsed });
});
lines.on('close', () => {
  void Promise.all(closers.map((close) => close())).then(() => process.exit(0));
});
