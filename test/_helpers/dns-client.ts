// A DNS client for the dns proxy's tests that does exactly what it is told: one query, over UDP
// or TCP, no retries and no fallback to TCP (Node's resolver and dig retry), so a test sees the
// answer the proxy gave, its id, flags and TTLs, or that it gave none.

import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type DecodedPacket, type RecordType } from 'dns-packet';
import { frame, FrameReader } from '../../src/dns/frames.js';
import type { TestServer } from './net.js';
import { portOf } from './net.js';

export interface AskOptions {
  transport?: 'udp' | 'tcp';
  id?: number;
  /** The EDNS UDP size to announce; undefined sends no OPT record. */
  edns?: number;
  timeoutMs?: number;
}

export interface Asked {
  /** The decoded answer, or null when none came in time. */
  packet: DecodedPacket | null;
  ms: number;
}

/** One query for `name` `type` to 127.0.0.1:`port`. */
export function ask(port: number, name: string, type: RecordType, options: AskOptions = {}): Promise<Asked> {
  const id = options.id ?? Math.floor(Math.random() * 0x10000);
  const additionals = options.edns === undefined ? [] : [{ type: 'OPT' as const, name: '.', udpPayloadSize: options.edns, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }];
  const query = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }], additionals });
  return raw(port, query, options.transport ?? 'udp', options.timeoutMs ?? 2000);
}

/** Sends `message` as it is (a query, or bytes that are not one) and reads one answer. */
export function raw(port: number, message: Buffer, transport: 'udp' | 'tcp', timeoutMs = 2000): Promise<Asked> {
  const start = performance.now();
  return new Promise((resolve) => {
    let close = () => {};
    const done = (answer: Buffer | null) => {
      clearTimeout(timer);
      close();
      resolve({ packet: answer === null ? null : dnsPacket.decode(answer), ms: performance.now() - start });
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    if (transport === 'udp') {
      const socket = dgram.createSocket('udp4');
      close = () => socket.close();
      socket.on('message', (m) => done(m));
      socket.send(message, port, '127.0.0.1');
    } else {
      const socket = net.connect({ port, host: '127.0.0.1' });
      close = () => socket.destroy();
      const reader = new FrameReader();
      socket.on('error', () => {});
      socket.on('data', (d: Buffer) => reader.push(d, (m) => done(m)));
      socket.write(frame(message));
    }
  });
}

/** Why `promise` was rejected: the error's code, or 'resolved'. */
export async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

/** The rcode of an answer: NOERROR, NXDOMAIN, ... ('none' when there was no answer). */
export function rcode(asked: Asked): string {
  return asked.packet === null ? 'none' : (asked.packet as { rcode?: string }).rcode ?? 'NOERROR';
}

/** The data of the answer's records of `type`. */
export function datas(asked: Asked, type = 'A'): string[] {
  return (asked.packet?.answers ?? []).filter((a) => a.type === type).map((a) => String((a as { data: unknown }).data));
}

/** A dns proxy on an ephemeral loopback port; its port. */
export async function dnsProxy(server: TestServer, name: string, upstream: string): Promise<number> {
  const res = await server.api('POST', '/proxies', { name, listen: '127.0.0.1:0', upstream, protocol: 'dns' });
  if (res.status !== 201) throw new Error(`create dns proxy failed: ${res.status} ${res.text}`);
  return portOf(res.json.listen);
}

/** The stored events `query` selects, once `enough` holds of them (or after 5 s, whatever they
 *  are then): the store writes a batch per flush interval, later still on a busy machine. */
export async function storedEvents(server: TestServer, query: string, enough: (events: any[]) => boolean = (e) => e.length > 0): Promise<any[]> {
  const until = performance.now() + 5000;
  for (;;) {
    const events = (await server.api('GET', `/events?${query}`)).json.events as any[];
    if (enough(events) || performance.now() > until) return events;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
