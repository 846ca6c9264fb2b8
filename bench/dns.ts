// The dns section of `npm run bench`: queries per second and added latency through a dns proxy
// with no toxics, against asking the upstream directly and against a bare Node dgram relay
// (bench/udp.ts udpRelay, which knows nothing of DNS). The issue's target: the dns proxy answers
// at least 0.8x the queries per second of going direct. A bare relay alone measures well under
// that on a small machine (every query crosses one more process), so both ratios are printed.
//
// Three processes, as for http: this one asks (a window of queries in flight, each answer
// releasing the next), the relay and faultline share a child (bench/child.js `udp`), and the
// upstream answers in another (this file, run as `node dist/bench/dns.js serve`) from a
// prepared answer, so its cost is small and the same for every target. Runs go round-robin.

import dgram from 'node:dgram';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import dnsPacket from 'dns-packet';
import { table, type Check } from './format.js';
import { median } from './measure.js';
import { api, spawnChild } from './targets.js';
import { runIfMain } from './standalone.js';

export type DnsTarget = 'direct' | 'relay' | 'dns' | 'dnsToxic';
const TARGETS: readonly DnsTarget[] = ['direct', 'relay', 'dns', 'dnsToxic'];
const LABEL: Record<DnsTarget, string> = {
  direct: 'direct', relay: 'dgram relay', dns: 'faultline dns proxy', dnsToxic: 'dns proxy, toxic not matching',
};
const NAME = 'bench.test';
const WINDOW = 32;

export interface DnsResults {
  settings: { runs: number; runMs: number; window: number };
  /** Median queries per second (answered) over the runs. */
  qps: Record<DnsTarget, number>;
  runs: Record<DnsTarget, number[]>;
  /** Median round trip of one query at a time, in ms. */
  p50Ms: Record<DnsTarget, number>;
  /** Queries never answered, over all runs (the kernel dropped them). */
  lost: Record<DnsTarget, number>;
}

const query = (id: number) => dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: NAME }] });

/** `window` queries in flight for `ms`, each answer sending the next; a window lost to the
 *  kernel is sent again after 200 ms of silence, and counted. */
async function queryRate(port: number, ms: number, window: number): Promise<{ perSecond: number; lost: number }> {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  socket.on('error', () => {});
  socket.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let id = 0;
  const send = () => socket.send(query(id = (id + 1) & 0xffff));
  let sent = 0; let received = 0; let lost = 0; let stopping = false;
  const start = performance.now();
  const stopAt = start + ms;
  let last = start;
  let progress = start;
  await new Promise<void>((resolve) => {
    const finish = () => { clearInterval(watchdog); resolve(); };
    socket.on('message', () => {
      received++;
      last = progress = performance.now();
      if (!stopping && last < stopAt) { sent++; send(); return; }
      stopping = true;
      if (received + lost === sent) finish();
    });
    const watchdog = setInterval(() => {
      const now = performance.now();
      if (now - progress < 200) return;
      lost = sent - received;
      if (stopping || now >= stopAt) return finish();
      progress = now;
      for (let i = 0; i < window; i++) { sent++; send(); }
    }, 50);
    for (let i = 0; i < window; i++) { sent++; send(); }
  });
  socket.close();
  return { perSecond: received / ((last - start) / 1000), lost };
}

/** The median round trip of `count` queries asked one at a time, in ms. */
async function roundTrip(port: number, count: number): Promise<number> {
  const socket = dgram.createSocket('udp4');
  socket.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    const answered = once(socket, 'message');
    socket.send(query(i & 0xffff));
    await answered;
    times.push(performance.now() - start);
  }
  socket.close();
  return median(times);
}

/** The upstream in its own process: its port, and how to stop it. */
async function startUpstream(): Promise<{ port: number; stop(): void }> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = await once(createInterface({ input: child.stdout }), 'line') as [string];
  return { port: (JSON.parse(line) as { port: number }).port, stop: () => child.stdin.end() };
}

export async function measureDns(quick: boolean, log: (line: string) => void): Promise<DnsResults> {
  const settings = { runs: quick ? 3 : 5, runMs: quick ? 700 : 1000, window: WINDOW };
  const upstream = await startUpstream();
  const host = await spawnChild(['udp', String(upstream.port)]);
  try {
    const url = String(host.hello.url);
    const proxy = async (name: string) => {
      const p = await api(url, 'POST', '/proxies', { name, listen: '127.0.0.1:0', upstream: `127.0.0.1:${upstream.port}`, protocol: 'dns' });
      return Number(String(p.listen).split(':').pop());
    };
    const ports: Record<DnsTarget, number> = {
      direct: upstream.port, relay: (host.hello.udpPorts as number[])[0]!, dns: await proxy('dns'), dnsToxic: await proxy('dns_toxic'),
    };
    // Matched against every query, acting on none: the cost of a toxic being there.
    await api(url, 'POST', '/proxies/dns_toxic/toxics', { type: 'dns_error', attributes: { name: '*.elsewhere.test' } });
    const runs = { direct: [], relay: [], dns: [], dnsToxic: [] } as Record<DnsTarget, number[]>;
    const lost = { direct: 0, relay: 0, dns: 0, dnsToxic: 0 } as Record<DnsTarget, number>;
    for (const t of TARGETS) await queryRate(ports[t], 300, WINDOW);
    for (let run = 0; run < settings.runs; run++) {
      for (const t of TARGETS) {
        const r = await queryRate(ports[t], settings.runMs, WINDOW);
        runs[t].push(r.perSecond);
        lost[t] += r.lost;
        log(`[dns] run ${run + 1} ${LABEL[t]}: ${Math.round(r.perSecond)} queries/s${r.lost ? ` (${r.lost} lost)` : ''}`);
      }
    }
    const p50Ms = {} as Record<DnsTarget, number>;
    for (const t of TARGETS) p50Ms[t] = await roundTrip(ports[t], quick ? 500 : 2000);
    const qps = Object.fromEntries(TARGETS.map((t) => [t, median(runs[t])])) as Record<DnsTarget, number>;
    return { settings, qps, runs, p50Ms, lost };
  } finally {
    await host.stop();
    upstream.stop();
  }
}

export function dnsChecks(r: DnsResults): Check[] {
  const ratio = r.qps.dns / r.qps.direct;
  return [{ target: 'dns proxy: at least 0.80x the queries/s of asking the upstream directly', measured: `${ratio.toFixed(2)}x`, pass: ratio >= 0.8 }];
}

export function formatDns(r: DnsResults): string[] {
  const rows = [['', 'queries/s', 'x direct', 'x relay', 'p50 ms', 'added ms', 'lost']];
  for (const t of TARGETS) {
    rows.push([LABEL[t], r.qps[t].toFixed(0), (r.qps[t] / r.qps.direct).toFixed(2), (r.qps[t] / r.qps.relay).toFixed(2),
      r.p50Ms[t].toFixed(3), (r.p50Ms[t] - r.p50Ms.direct).toFixed(3), String(r.lost[t])]);
  }
  return [`DNS over UDP, ${r.settings.window} queries in flight (A ${NAME}), through a dns proxy with no toxics`, table(rows)];
}

// Run as `node dist/bench/dns.js serve`: the upstream, until stdin closes. Its answer is made
// once; each query only gets its id copied in.
if (process.argv[2] === 'serve') {
  const answer = dnsPacket.encode({
    type: 'response', id: 0, flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_DESIRED,
    questions: [{ type: 'A', name: NAME }], answers: [{ type: 'A', name: NAME, ttl: 60, data: '10.0.0.1' }],
  });
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  socket.on('message', (message, rinfo) => {
    const reply = Buffer.from(answer);
    message.copy(reply, 0, 0, 2);
    socket.send(reply, rinfo.port, rinfo.address);
  });
  socket.bind(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: socket.address().port })}\n`));
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
} else {
  // `node dist/bench/dns.js [--quick] [--json]`: this section alone.
  runIfMain(import.meta.url, { measure: measureDns, render: async () => ({ format: formatDns, checks: dnsChecks }) });
}
