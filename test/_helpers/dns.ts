// DNS on loopback for the dns proxy's tests: a small authoritative server (dns-packet over UDP
// and TCP on one ephemeral port) with a zone the test can change, which records every query it
// sees and can be told to stay silent or to answer with garbage; Node's own resolver pointed at
// a port; and `dig` (Debian's dnsutils), whose tests are skipped with a note where it is missing.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import dnsPacket, { type Answer, type DecodedPacket, type OptAnswer } from 'dns-packet';
import type { Test } from 'uvu';
import { bindUdpAndTcp } from '../../src/dns/listen.js';
import { frame, FrameReader } from '../../src/dns/frames.js';

export interface ZoneRecord {
  type: 'A' | 'AAAA' | 'TXT' | 'CNAME';
  data: string;
  ttl: number;
}

export interface SeenQuery {
  name: string;
  type: string;
  transport: 'udp' | 'tcp';
  id: number;
  /** The EDNS OPT record the query carried, if any. */
  opt: OptAnswer | null;
}

export interface AuthServer {
  port: number;
  address: string;
  /** Lower-case name -> records; change it to move a name. */
  zone: Map<string, ZoneRecord[]>;
  seen: SeenQuery[];
  /** What the server does with the next queries: answer, ignore, or answer with bytes that
   *  are not DNS. */
  mode: 'answer' | 'silent' | 'garbage';
  close(): Promise<void>;
}

/** The zone's name: an unknown name under it is NXDOMAIN with this SOA. */
const SOA: Answer = { type: 'SOA', name: 'test', ttl: 60, data: { mname: 'ns.test', rname: 'admin.test', serial: 1, refresh: 60, retry: 60, expire: 600, minimum: 30 } };

export async function authServer(records: Record<string, ZoneRecord[]>): Promise<AuthServer> {
  const bound = await bindUdpAndTcp({ host: '127.0.0.1', port: 0 });
  const server: AuthServer = {
    port: bound.port, address: `127.0.0.1:${bound.port}`, seen: [], mode: 'answer',
    zone: new Map(Object.entries(records).map(([k, v]) => [k.toLowerCase(), v])),
    async close() {
      bound.tcp.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => bound.udp.close(() => r()));
    },
  };
  const respond = (message: Buffer, transport: 'udp' | 'tcp'): Buffer | null => {
    if (server.mode === 'silent') return null;
    if (server.mode === 'garbage') return Buffer.concat([message.subarray(0, 2), Buffer.from([0x81, 0x80, 0xff, 0xff])]);
    return answer(server, dnsPacket.decode(message), transport);
  };
  bound.udp.on('message', (message, rinfo) => {
    const reply = respond(message, 'udp');
    if (reply !== null) bound.udp.send(reply, rinfo.port, rinfo.address);
  });
  const sockets = new Set<import('node:net').Socket>();
  bound.tcp.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('end', () => socket.end());
    const reader = new FrameReader();
    socket.on('data', (data: Buffer) => reader.push(data, (message) => {
      const reply = respond(message, 'tcp');
      if (reply !== null) socket.write(frame(reply));
    }));
    socket.resume();
  });
  return server;
}

/** The zone's answer: CNAMEs followed within the zone, NXDOMAIN with the SOA for unknown names,
 *  and over UDP TC without records when it does not fit the client's size. */
function answer(server: AuthServer, query: DecodedPacket, transport: 'udp' | 'tcp'): Buffer {
  const q = query.questions![0]!;
  const opt = (query.additionals ?? []).find((a): a is OptAnswer => a.type === 'OPT') ?? null;
  server.seen.push({ name: q.name, type: q.type, transport, id: query.id ?? 0, opt });
  const answers: Answer[] = [];
  let name = q.name.toLowerCase();
  let known = server.zone.has(name);
  for (let hops = 0; hops < 8; hops++) {
    const rrs = server.zone.get(name) ?? [];
    const cname = rrs.find((r) => r.type === 'CNAME');
    const wanted = rrs.filter((r) => r.type === q.type);
    for (const r of cname !== undefined && q.type !== 'CNAME' ? [cname] : wanted) {
      answers.push({ type: r.type, name, ttl: r.ttl, data: r.data } as Answer);
    }
    if (cname === undefined || q.type === 'CNAME') break;
    name = cname.data.toLowerCase();
    known = server.zone.has(name);
  }
  const flags = dnsPacket.AUTHORITATIVE_ANSWER | ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | (known ? 0 : 3);
  const additionals: Answer[] = opt === null ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: opt.flags, flag_do: opt.flag_do, options: [] }];
  const packet = { type: 'response' as const, id: query.id, flags, questions: [q], answers, authorities: answers.length === 0 ? [SOA] : [], additionals };
  const full = dnsPacket.encode(packet);
  const limit = opt === null ? 512 : Math.max(512, opt.udpPayloadSize);
  if (transport === 'tcp' || full.length <= limit) return full;
  return dnsPacket.encode({ ...packet, flags: flags | dnsPacket.TRUNCATED_RESPONSE, answers: [], authorities: [] });
}

/** Node's resolver (c-ares) asking only 127.0.0.1:`port`, once, giving up after `timeoutMs`. */
export function resolverAt(port: number, timeoutMs = 2000): Resolver {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  return resolver;
}

export const DIG = '/usr/bin/dig';

/** `test`, or `test.skip` without dig, so uvu counts those tests as skipped, not passed. */
export function digTest(test: Test): Test | Test['skip'] {
  if (existsSync(DIG)) return test;
  console.log(`\n  NOTE: skipping the dig tests: ${DIG} is missing (apt-get install dnsutils)\n`);
  return test.skip;
}

export interface DigResult {
  status: string;
  flags: string[];
  /** `name ttl class type data` lines of the answer section. */
  answers: Array<{ name: string; ttl: number; type: string; data: string }>;
  /** The whole output, for failure messages. */
  text: string;
}

/** dig @127.0.0.1 -p `port` `name` `type`, once, with `options` (`+tcp`, `+notcp`, ...). */
export function dig(port: number, name: string, type: string, options: string[] = []): Promise<DigResult> {
  const args = ['@127.0.0.1', '-p', String(port), name, type, '+tries=1', '+time=2', '+nocookie', ...options];
  return new Promise((resolve, reject) => {
    execFile(DIG, args, { timeout: 10_000 }, (err, stdout) => {
      if (err !== null && stdout === '') return reject(err);
      const status = /status: (\w+)/.exec(stdout)?.[1] ?? 'none';
      const flags = (/;; flags: ([a-z ]+);/.exec(stdout)?.[1] ?? '').trim().split(/\s+/).filter((f) => f !== '');
      const section = /;; ANSWER SECTION:\n([\s\S]*?)\n\n/.exec(stdout)?.[1] ?? '';
      const answers = section.split('\n').filter((l) => l !== '').map((l) => {
        const [n = '', ttl = '0', , t = '', ...rest] = l.split(/\s+/);
        return { name: n, ttl: Number(ttl), type: t, data: rest.join(' ') };
      });
      resolve({ status, flags, answers, text: stdout });
    });
  });
}
