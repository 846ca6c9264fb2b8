// The http section of `npm run bench`: requests per second and added latency through an http
// proxy with no toxics, against going direct and against the same upstream behind a plain TCP
// proxy, for keep-alive HTTP/1.1 (8 connections, one request at a time each) and for HTTP/2
// (one connection, 100 streams at a time). The target: the http proxy does at least
// 0.8x the TCP proxy's requests per second.
//
// Three processes, so no two of the client, the proxies and the servers share an event loop:
// this one generates load, faultline runs in a child (bench/child.js), and the upstream
// servers in another (this file, run as `node dist/bench/http.js serve`). Runs go round-robin
// over the targets, so drift in the machine's load spreads over all of them.

import http2 from 'node:http2';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { table, type Check } from './format.js';
import { api, spawnChild } from './targets.js';

export type HttpTarget = 'direct' | 'tcp' | 'http';
const TARGETS: readonly HttpTarget[] = ['direct', 'tcp', 'http'];
const LABEL: Record<HttpTarget, string> = { direct: 'direct', tcp: 'faultline tcp proxy', http: 'faultline http proxy' };

export interface HttpResults {
  /** Median requests per second over the runs, per protocol and target. */
  rps: { h1: Record<HttpTarget, number>; h2: Record<HttpTarget, number> };
  /** Median round trip of one request at a time on one keep-alive connection, in ms. */
  latencyMs: { h1: Record<HttpTarget, number>; h2: Record<HttpTarget, number> };
  /** The proxy process's CPU time per request under load (user + system), in µs: what a
   *  request costs the proxy whatever the machine's other load. */
  cpuUsPerRequest: { h1: Record<'tcp' | 'http', number>; h2: Record<'tcp' | 'http', number> };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** Keep-alive HTTP/1.1 on `connections` sockets for `ms`: each sends a request, reads the whole
 *  answer (Content-Length framed), and sends the next. Raw sockets keep the client cheap. */
async function h1Load(port: number, connections: number, ms: number): Promise<number> {
  const request = Buffer.from('GET /bench HTTP/1.1\r\nHost: bench\r\n\r\n');
  const until = performance.now() + ms;
  let done = 0;
  await Promise.all(Array.from({ length: connections }, () => new Promise<void>((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    let buf: Buffer = Buffer.alloc(0);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(buf.toString('latin1', 0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        buf = buf.subarray(end + 4 + length);
        done++;
        if (performance.now() >= until) {
          socket.end();
          return resolve();
        }
        socket.write(request);
      }
    });
    socket.on('error', reject);
  })));
  return (done * 1000) / ms;
}

/** HTTP/2 on one connection with `streams` requests in flight for `ms`. */
async function h2Load(port: number, streams: number, ms: number): Promise<number> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  const until = performance.now() + ms;
  let done = 0;
  const one = () => new Promise<void>((resolve, reject) => {
    const s = session.request({ ':path': '/bench' });
    s.on('data', () => {});
    s.on('end', resolve);
    s.on('error', reject);
  });
  await Promise.all(Array.from({ length: streams }, async () => {
    while (performance.now() < until) {
      await one();
      done++;
    }
  }));
  session.close();
  return (done * 1000) / ms;
}

/** Median round trip of `n` requests sent one at a time on one connection. */
async function roundTrip(port: number, h2: boolean, n: number): Promise<number> {
  const times: number[] = [];
  if (h2) {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    for (let i = 0; i < n; i++) {
      const start = performance.now();
      await new Promise<void>((resolve, reject) => {
        const s = session.request({ ':path': '/bench' });
        s.on('data', () => {});
        s.on('end', resolve);
        s.on('error', reject);
      });
      times.push(performance.now() - start);
    }
    session.close();
  } else {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < n; i++) {
      const start = performance.now();
      await new Promise<void>((resolve, reject) => {
        http.get({ port, host: '127.0.0.1', path: '/bench', agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
      });
      times.push(performance.now() - start);
    }
    agent.destroy();
  }
  return median(times.slice(Math.floor(n / 10)));
}

/** The upstream servers in a child process: this file run with `serve`. */
async function spawnServers(): Promise<{ h1: number; h2: number; stop(): void }> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve));
  const ports = JSON.parse(line) as { h1: number; h2: number };
  return { ...ports, stop: () => child.stdin.end() };
}

export async function measureHttp(quick: boolean, log: (line: string) => void): Promise<HttpResults> {
  const runs = quick ? 3 : 5;
  const ms = quick ? 1000 : 2000;
  const servers = await spawnServers();
  const faultline = await spawnChild(['faultline']);
  try {
    const url = String(faultline.hello.url);
    const proxy = async (name: string, upstream: number, protocol: string) => {
      const created = await api(url, 'POST', '/proxies', { name, listen: '127.0.0.1:0', upstream: `127.0.0.1:${upstream}`, protocol });
      return Number(String(created.listen).split(':').pop());
    };
    const ports = {
      h1: { direct: servers.h1, tcp: await proxy('tcp_h1', servers.h1, 'tcp'), http: await proxy('http_h1', servers.h1, 'http') },
      h2: { direct: servers.h2, tcp: await proxy('tcp_h2', servers.h2, 'tcp'), http: await proxy('http_h2', servers.h2, 'http') },
    };
    const samples = { h1: { direct: [], tcp: [], http: [] }, h2: { direct: [], tcp: [], http: [] } } as Record<'h1' | 'h2', Record<HttpTarget, number[]>>;
    const cpu = { h1: { tcp: [], http: [] }, h2: { tcp: [], http: [] } } as Record<'h1' | 'h2', Record<'tcp' | 'http', number[]>>;
    /** Runs `load` and, for a proxy target, notes the proxy's CPU µs per request. */
    const measured = async (p: 'h1' | 'h2', t: HttpTarget, load: () => Promise<number>): Promise<number> => {
      const before = await faultline.cpu();
      const rps = await load();
      const after = await faultline.cpu();
      if (t !== 'direct') cpu[p][t].push((after.user + after.system - before.user - before.system) / ((rps * ms) / 1000));
      return rps;
    };
    for (const t of TARGETS) {
      await h1Load(ports.h1[t], 8, 200);
      await h2Load(ports.h2[t], 100, 200);
    }
    for (let run = 0; run < runs; run++) {
      for (const t of TARGETS) {
        const h1 = await measured('h1', t, () => h1Load(ports.h1[t], 8, ms));
        const h2 = await measured('h2', t, () => h2Load(ports.h2[t], 100, ms));
        samples.h1[t].push(h1);
        samples.h2[t].push(h2);
        log(`[http] run ${run + 1} ${LABEL[t]}: HTTP/1.1 ${h1.toFixed(0)} req/s, HTTP/2 ${h2.toFixed(0)} req/s`);
      }
    }
    const latencyMs = { h1: {}, h2: {} } as HttpResults['latencyMs'];
    for (const t of TARGETS) {
      latencyMs.h1[t] = await roundTrip(ports.h1[t], false, quick ? 500 : 2000);
      latencyMs.h2[t] = await roundTrip(ports.h2[t], true, quick ? 500 : 2000);
    }
    const rps = { h1: {}, h2: {} } as HttpResults['rps'];
    for (const t of TARGETS) {
      rps.h1[t] = median(samples.h1[t]);
      rps.h2[t] = median(samples.h2[t]);
    }
    const cpuUsPerRequest = {
      h1: { tcp: median(cpu.h1.tcp), http: median(cpu.h1.http) },
      h2: { tcp: median(cpu.h2.tcp), http: median(cpu.h2.http) },
    };
    return { rps, latencyMs, cpuUsPerRequest };
  } finally {
    await faultline.stop();
    servers.stop();
  }
}

export function httpChecks(r: HttpResults): Check[] {
  return (['h1', 'h2'] as const).map((p) => {
    const ratio = r.rps[p].http / r.rps[p].tcp;
    const what = p === 'h1' ? 'HTTP/1.1 keep-alive' : 'HTTP/2, 100 streams';
    return { target: `http proxy, ${what}: at least 0.80x the tcp proxy's req/s`, measured: `${ratio.toFixed(2)}x`, pass: ratio >= 0.8 };
  });
}

export function formatHttp(r: HttpResults): string {
  const rows = [['', 'HTTP/1.1 req/s', 'x tcp', 'HTTP/2 req/s', 'x tcp', 'HTTP/1.1 p50 ms', 'added', 'HTTP/2 p50 ms', 'added']];
  for (const t of TARGETS) {
    rows.push([
      LABEL[t],
      r.rps.h1[t].toFixed(0), (r.rps.h1[t] / r.rps.h1.tcp).toFixed(2),
      r.rps.h2[t].toFixed(0), (r.rps.h2[t] / r.rps.h2.tcp).toFixed(2),
      r.latencyMs.h1[t].toFixed(3), (r.latencyMs.h1[t] - r.latencyMs.h1.direct).toFixed(3),
      r.latencyMs.h2[t].toFixed(3), (r.latencyMs.h2[t] - r.latencyMs.h2.direct).toFixed(3),
    ]);
  }
  const checks = httpChecks(r).map((c) => `  ${c.pass ? 'ok  ' : 'MISS'} ${c.target}: ${c.measured}`);
  const c = r.cpuUsPerRequest;
  const cpuLine = `proxy CPU per request: HTTP/1.1 tcp ${c.h1.tcp.toFixed(1)} µs, http ${c.h1.http.toFixed(1)} µs; ` +
    `HTTP/2 tcp ${c.h2.tcp.toFixed(1)} µs, http ${c.h2.http.toFixed(1)} µs`;
  return ['HTTP through an http proxy with no toxics (keep-alive HTTP/1.1 on 8 connections; HTTP/2 with 100 streams on one)', table(rows), cpuLine, ...checks].join('\n');
}

// Run as `node dist/bench/http.js serve`: the upstream servers, until stdin closes.
if (process.argv[2] === 'serve') {
  const body = Buffer.from('hello, bench\n');
  const h1 = http.createServer((_req, res) => { res.setHeader('content-length', body.length); res.end(body); });
  h1.keepAliveTimeout = 60_000;
  const h2 = http2.createServer();
  h2.on('stream', (stream) => { stream.respond({ ':status': 200, 'content-length': body.length }); stream.end(body); });
  await Promise.all([new Promise<void>((r) => h1.listen(0, '127.0.0.1', r)), new Promise<void>((r) => h2.listen(0, '127.0.0.1', r))]);
  process.stdout.write(`${JSON.stringify({ h1: (h1.address() as net.AddressInfo).port, h2: (h2.address() as net.AddressInfo).port })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}
