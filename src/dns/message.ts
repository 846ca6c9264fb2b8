// DNS messages through dns-packet: reading a client's query, the answers the proxy makes itself
// (an error, addresses, a truncated answer) and rewriting the TTLs of an upstream's answer.
// Answers the proxy makes keep the client's id, question (its letter case too, which 0x20
// clients check), RD and CD bits and opcode, and echo its EDNS OPT record (payload size,
// version 0, the DO bit; no options, since a cookie or padding echoed back blindly could be
// wrong). An answer that would not fit the client's UDP size is sent truncated (TC, no records).

import dnsPacket, { type Answer, type DecodedPacket, type OptAnswer, type Question } from 'dns-packet';

/** Queries are small (a name and an OPT record); anything bigger is refused as malformed. */
export const MAX_QUERY_BYTES = 4096;
/** The UDP size a client without EDNS accepts (RFC 1035 4.2.1). */
const CLASSIC_UDP = 512;

const KEEP_FROM_QUERY = 0x7800 /* opcode */ | dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED;
const RCODES = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;
export type Rcode = keyof typeof RCODES;
// dns-packet has no names for these; RFC 3597's TYPEnnn for the rest.
const NAMED: Record<number, string> = { 64: 'SVCB', 65: 'HTTPS' };

export interface Question1 {
  /** As the client wrote it (letter case kept). */
  name: string;
  /** Lower case, no trailing dot: what toxics match against. */
  match: string;
  /** `A`, `AAAA`, `TXT`, ... */
  type: string;
}

export interface Query {
  packet: DecodedPacket;
  id: number;
  /** The one question of a standard query; null for anything else (other opcodes, several or
   *  no questions), which is forwarded untouched and never matched by a toxic. */
  question: Question1 | null;
  opt: OptAnswer | null;
  /** The largest UDP answer the client accepts. */
  udpLimit: number;
}

/** A client's query, or why it is not one (the proxy drops it and reports that). */
export function parseQuery(message: Buffer): Query | string {
  if (message.length < 12) return `${message.length} bytes, shorter than a DNS header`;
  if (message.length > MAX_QUERY_BYTES) return `${message.length} bytes, over the ${MAX_QUERY_BYTES} a query may have`;
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(message);
  } catch (err) {
    return `cannot be decoded: ${(err as Error).message}`;
  }
  if (packet.flag_qr) return 'is a response (QR set), not a query';
  if (dnsPacket.decode.bytes !== message.length) return `${message.length - dnsPacket.decode.bytes} bytes after the message`;
  const opt = (packet.additionals ?? []).find((a): a is OptAnswer => a.type === 'OPT') ?? null;
  const q = packet.questions ?? [];
  const standard = ((packet.flags ?? 0) & 0x7800) === 0 && q.length === 1;
  return {
    packet, id: packet.id ?? 0, opt,
    question: standard ? questionOf(q[0]!) : null,
    udpLimit: opt === null ? CLASSIC_UDP : Math.max(CLASSIC_UDP, opt.udpPayloadSize),
  };
}

function questionOf(q: Question): Question1 {
  const unnamed = q.type.startsWith('UNKNOWN_') ? Number(q.type.slice(8)) : null;
  const type = unnamed === null ? q.type : NAMED[unnamed] ?? `TYPE${unnamed}`;
  const lower = q.name.toLowerCase();
  return { name: q.name, match: lower.endsWith('.') ? lower.slice(0, -1) : lower, type };
}

/** An answer the proxy makes for `query`: `rcode`, these records, TC when asked. */
function reply(query: Query, rcode: Rcode, answers: Answer[], truncated = false): Buffer {
  const flags = ((query.packet.flags ?? 0) & KEEP_FROM_QUERY) | dnsPacket.RECURSION_AVAILABLE
    | (truncated ? dnsPacket.TRUNCATED_RESPONSE : 0) | RCODES[rcode];
  return dnsPacket.encode({
    type: 'response', id: query.id, flags, questions: query.packet.questions ?? [], answers,
    additionals: query.opt === null ? [] : [{
      type: 'OPT', name: '.', udpPayloadSize: query.opt.udpPayloadSize, extendedRcode: 0, ednsVersion: 0,
      flags: query.opt.flags & dnsPacket.DNSSEC_OK, flag_do: query.opt.flag_do, options: [],
    }],
  });
}

/** NXDOMAIN, SERVFAIL or REFUSED, with the question and no records. */
export function errorAnswer(query: Query, rcode: Rcode): Buffer {
  return reply(query, rcode, []);
}

/** TC set, no records: the client asks again over TCP. */
export function truncatedAnswer(query: Query): Buffer {
  return reply(query, 'NOERROR', [], true);
}

/** The addresses of the question's family as A or AAAA records with `ttl`; truncated when
 *  over UDP they do not fit the client's size. */
export function addressAnswer(query: Query, addresses: readonly string[], ttl: number, udp: boolean): Buffer {
  const question = query.question!;
  const v6 = question.type === 'AAAA';
  const records: Answer[] = addresses.filter((a) => a.includes(':') === v6)
    .map((data) => ({ type: v6 ? 'AAAA' : 'A', name: question.name, ttl, data }));
  const answer = reply(query, 'NOERROR', records);
  return udp && answer.length > query.udpLimit ? truncatedAnswer(query) : answer;
}

/**
 * The upstream's answer with every record's TTL set to `ttl` (not the OPT record's, whose TTL
 * field holds EDNS flags). dns-packet writes names without compression, so the answer may grow:
 * over UDP past the client's size it goes back truncated, its header and question kept.
 * Returns why when the answer cannot be decoded.
 */
export function rewriteTtls(answer: Buffer, ttl: number, query: Query, udp: boolean): { message: Buffer; records: number } | string {
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(answer);
  } catch (err) {
    return `cannot be decoded: ${(err as Error).message}`;
  }
  let records = 0;
  for (const section of [packet.answers, packet.authorities, packet.additionals]) {
    for (const record of section ?? []) {
      if (record.type === 'OPT') continue;
      record.ttl = ttl;
      records++;
    }
  }
  const message = dnsPacket.encode(packet);
  if (!udp || message.length <= query.udpLimit) return { message, records };
  const opt = (packet.additionals ?? []).filter((a) => a.type === 'OPT');
  const flags = (packet.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE;
  return { message: dnsPacket.encode({ ...packet, flags, answers: [], authorities: [], additionals: opt }), records };
}

/** The rcode of an encoded answer, for the figures. */
export function rcodeOf(answer: Buffer): number {
  return answer.length >= 4 ? answer[3]! & 0x0f : -1;
}
