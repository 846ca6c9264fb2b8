// `npm run bench`: faultline against direct loopback, a bare Node pipe() proxy and, when its
// binary is there (bench/toxiproxy.ts), Toxiproxy, in one run. Sections:
//
//   tcp       bulk throughput on one connection, aggregate throughput on 8 and 64, ping-pong
//             round trips and connection rate (bench/tcp.ts), with the proxies in this process
//             and in their own process; Toxiproxy joins the latter
//   idle      RSS per idle connection, each proxy alone in a fresh process (bench/idle.ts)
//   services  Redis and PostgreSQL, direct and through the proxies (bench/services.ts); opt-in
//   udp       datagrams/s against a bare dgram relay (bench/udp.ts)
//   events    the cost of fault event persistence on the data path (bench/events.ts)
//   accuracy  how well the latency and bandwidth toxics keep time (bench/accuracy.ts)
//   http      requests/s and added latency through an http proxy, against direct and a tcp
//             proxy: keep-alive HTTP/1.1 and HTTP/2 with 100 streams (bench/http.ts)
//   dns       queries/s and added latency through a dns proxy, against direct and a bare
//             dgram relay (bench/dns.ts)
//
// Not a test: it prints numbers, ratios and the issue's targets, and exits 0 unless something
// broke (a failed target is reported, not an error).

import os from 'node:os';
import { allRatios, checks, formatText, skipped, type Results } from './report.js';
import { measureIdle, type IdleTarget } from './idle.js';
import { measurePlacement, tcpSettings } from './tcp.js';
import { measureServices } from './services.js';
import { measureAllUdp } from './udp.js';
import { measureEvents } from './events.js';
import { measureAccuracy } from './accuracy.js';
import { openFileLimit, type Placement } from './targets.js';
import { findToxiproxy } from './toxiproxy.js';
import { formatHttp, httpChecks, measureHttp, type HttpResults } from './http.js';
import { dnsChecks, formatDns, measureDns, type DnsResults } from './dns.js';

const SECTIONS = ['tcp', 'idle', 'services', 'udp', 'events', 'accuracy', 'http', 'dns'] as const;
type Section = (typeof SECTIONS)[number];
const PLACEMENTS: readonly Placement[] = ['inProcess', 'child'];

const USAGE = `usage: node dist/bench/run.js [options]      (npm run bench -- [options])
  --quick                 a shorter pass: fewer and shorter runs, 500 idle connections
  --only SECTION[,...]    run only these sections: ${SECTIONS.join(', ')}
  --services              also run the services section (Redis, PostgreSQL); off by default
  --placement P           tcp section: only inProcess or only child (Toxiproxy is in child)
  --idle N                idle connections to hold (default 2000)
  --json                  print the results as JSON on stdout
`;

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv: string[]): { json: boolean; quick: boolean; sections: Set<Section>; placements: Placement[]; idle: number | undefined } {
  let json = false; let quick = false; let services = false;
  let only: Section[] | undefined; let placements = [...PLACEMENTS]; let idle: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = (): string => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    if (flag === '--json') json = true;
    else if (flag === '--quick') quick = true;
    else if (flag === '--services') services = true;
    else if (flag === '--help' || flag === '-h') { process.stdout.write(USAGE); process.exit(0); }
    else if (flag === '--only') {
      only = value().split(',').map((s) => s.trim()).filter((s) => s !== '') as Section[];
      const unknown = only.filter((s) => !SECTIONS.includes(s));
      if (only.length === 0 || unknown.length > 0) fail(`--only: unknown section ${unknown.join(', ') || '(none)'}`);
    } else if (flag === '--placement') {
      const p = value() as Placement;
      if (!PLACEMENTS.includes(p)) fail(`--placement: ${p} is neither inProcess nor child`);
      placements = [p];
    } else if (flag === '--idle') {
      idle = Number(value());
      if (!Number.isInteger(idle) || idle < 1) fail('--idle: N must be a positive integer');
    } else fail(`unknown option ${argv[i]}`);
  }
  const sections = new Set<Section>(only ?? SECTIONS.filter((s) => s !== 'services' || services));
  if (services) sections.add('services');
  return { json, quick, sections, placements, idle };
}

const options = parseArgs(process.argv.slice(2));
const { json, quick, sections } = options;
const log = (line: string): void => { if (!json) process.stderr.write(`${line}\n`); };

let idleConnections = options.idle ?? (quick ? 500 : 2000);
// Each idle connection holds two descriptors here (client + accepted) and two in the proxy.
// Node cannot raise its own limit (no setrlimit), so a low one shrinks the count, loudly.
const fdLimit = openFileLimit();
const fdRoom = Math.floor((fdLimit - 256) / 2);
if (sections.has('idle') && idleConnections > fdRoom) {
  log(`open-file limit is ${fdLimit} (ulimit -n); measuring ${fdRoom} idle connections instead of ${idleConnections}.`);
  log('Raise it with `ulimit -n 20000` before `npm run bench` for the full count.');
  idleConnections = fdRoom;
}

async function main(): Promise<void> {
  const started = Date.now();
  const toxiproxy = findToxiproxy();
  if (toxiproxy.missing !== undefined) log(`Toxiproxy: ${toxiproxy.missing}`);
  const results: Omit<Results, 'environment'> = toxiproxy.missing === undefined ? {} : { toxiproxyMissing: toxiproxy.missing };
  if (sections.has('tcp')) {
    const settings = tcpSettings(quick);
    for (const placement of options.placements) results[placement] = await measurePlacement(placement, settings, toxiproxy, log);
  }
  if (sections.has('idle')) {
    const names: IdleTarget[] = ['pipe', 'bare', 'zero', ...(toxiproxy.path === undefined ? [] : ['toxi', 'toxiZero'] as const)];
    results.idle = {};
    for (const name of names) {
      const r = await measureIdle(name, idleConnections, toxiproxy);
      results.idle[name] = r;
      log(`idle ${name}: ${r.kbPerConnection.toFixed(2)} KB RSS per connection`);
    }
  }
  if (sections.has('services')) results.services = await measureServices(quick, toxiproxy, log);
  if (sections.has('udp')) results.udp = await measureAllUdp(quick, log);
  if (sections.has('events')) results.events = await measureEvents(quick, log);
  if (sections.has('accuracy')) results.accuracy = await measureAccuracy(quick, log);
  const http: HttpResults | undefined = sections.has('http') ? await measureHttp(quick, log) : undefined;
  const dns: DnsResults | undefined = sections.has('dns') ? await measureDns(quick, log) : undefined;

  const full: Results = {
    environment: {
      node: process.version,
      cpus: os.cpus().length,
      load: os.loadavg().map((l) => l.toFixed(2)).join(' '),
      'open files': fdLimit,
      toxiproxy: toxiproxy.path ?? 'not found',
      sections: [...sections].join(','),
      seconds: Math.round((Date.now() - started) / 1000),
    },
    ...results,
  };
  if (json) {
    const settings = { quick, idleConnections, placements: options.placements, tcp: tcpSettings(quick) };
    const all = [...checks(full), ...(http === undefined ? [] : httpChecks(http)), ...(dns === undefined ? [] : dnsChecks(dns))];
    const extra = { ...(http === undefined ? {} : { http }), ...(dns === undefined ? {} : { dns }) };
    process.stdout.write(`${JSON.stringify({ settings, ...full, ...extra, ratios: allRatios(full), checks: all, skipped: skipped(full) }, null, 2)}\n`);
  } else {
    const dnsText = dns === undefined ? '' : `\n${[...formatDns(dns), ...dnsChecks(dns).map((c) => `  ${c.pass ? 'PASS' : 'FAIL'}  ${c.target}: ${c.measured}`)].join('\n')}\n`;
    process.stdout.write(`\n${formatText(full)}\n${http === undefined ? '' : `\n${formatHttp(http)}\n`}${dnsText}`);
  }
}

await main();
