// One query's story, whichever transport carried it: the toxics' decisions (decide.ts), their
// delays, then either an answer the proxy makes itself (an error, other addresses, a truncated
// answer), nothing at all (a drop), or the upstream's answer, its id given back and its TTLs
// rewritten if a toxic asked. An upstream that does not answer within 5 s, or whose answer
// cannot be read for a rewrite, gets the client SERVFAIL, as a forwarding resolver answers.

import type { DnsTransport, FaultAction, FaultDetail } from '../toxic.js';
import type { ToxicConfig } from '../core/toxic-config.js';
import { decide, type DecideOwner, type Plan } from './decide.js';
import { addressAnswer, errorAnswer, rewriteTtls, truncatedAnswer, type Query } from './message.js';

/** One query in flight, as its transport hands it over. */
export interface Exchange {
  readonly transport: DnsTransport;
  /** The client's address:port. */
  readonly client: string;
  /** The TCP connection's id; '' over UDP. */
  readonly conn: string;
  /** The query as received; forwarding rewrites its id in place. */
  readonly message: Buffer;
  readonly query: Query;
  respond(answer: Buffer): void;
  /** Sends `message` upstream; `done` gets the answer (with the upstream's id) or null. False
   *  when the upstream has too many queries in flight. */
  forward(done: (answer: Buffer | null, reason: string) => void): boolean;
  /** The query is over (answered, dropped or failed): the client's slot is free again. */
  finish(): void;
}

/** Who reported a fault: a toxic, or the proxy itself (toxic and type name what happened). */
export type Source = ToxicConfig | { name: string; type: string };

export interface FlowHost extends DecideOwner {
  /** True while any DNS toxic is configured (the common case without: forward at once). */
  readonly hasToxics: boolean;
  report(x: Exchange, source: Source, action: FaultAction, detail: FaultDetail): void;
  /** Runs `fn` after `ms`, unless the proxy stops first. */
  later(ms: number, fn: () => void): void;
}

export function runQuery(host: FlowHost, x: Exchange): void {
  const question = x.query.question;
  const plan = question === null || !host.hasToxics ? null : decide(host, question, x.transport);
  if (plan === null) return forward(host, x, null);
  for (const [config, ms] of plan.delays) host.report(x, config, 'delayed', { ms });
  if (plan.delay > 0) host.later(plan.delay, () => carryOut(host, x, plan));
  else carryOut(host, x, plan);
}

function carryOut(host: FlowHost, x: Exchange, plan: Plan): void {
  const end = plan.end;
  if (end === null) return forward(host, x, plan.ttl);
  const { config, decision } = end;
  const udp = x.transport === 'udp';
  switch (decision.action) {
    case 'error':
      x.respond(errorAnswer(x.query, decision.rcode));
      host.report(x, config, 'aborted', { rcode: decision.rcode });
      break;
    case 'drop':
      // No answer: dropping the query is the toxic's purpose.
      host.report(x, config, 'dropped', {});
      break;
    case 'answer': {
      const answer = addressAnswer(x.query, decision.addresses, decision.ttl, udp);
      x.respond(answer);
      const v6 = x.query.question!.type === 'AAAA';
      const sent = decision.addresses.filter((a) => a.includes(':') === v6);
      host.report(x, config, 'rewritten', { addresses: sent.join(','), ttl: decision.ttl, truncated: (answer[2]! & 0x02) !== 0 });
      break;
    }
    case 'truncate':
      x.respond(truncatedAnswer(x.query));
      host.report(x, config, 'truncated', {});
      break;
  }
  x.finish();
}

const UPSTREAM_FAILED = { name: 'upstream_failed', type: 'upstream_failed' };
const MALFORMED_ANSWER = { name: 'malformed_answer', type: 'malformed_answer' };
const PENDING_FULL = { name: 'pending_queries', type: 'pending_queries' };

function forward(host: FlowHost, x: Exchange, ttl: Plan['ttl']): void {
  const clientId = x.query.id;
  const sent = x.forward((answer, reason) => {
    if (answer === null) {
      // Over when the proxy stopped: nobody is left to answer.
      if (reason !== 'stopped') {
        x.respond(errorAnswer(x.query, 'SERVFAIL'));
        host.report(x, UPSTREAM_FAILED, 'aborted', { reason, rcode: 'SERVFAIL' });
      }
      return x.finish();
    }
    answer.writeUInt16BE(clientId, 0);
    if (ttl === null) {
      x.respond(answer);
      return x.finish();
    }
    const rewritten = rewriteTtls(answer, ttl.ttl, x.query, x.transport === 'udp');
    if (typeof rewritten === 'string') {
      x.respond(errorAnswer(x.query, 'SERVFAIL'));
      host.report(x, MALFORMED_ANSWER, 'rejected', { reason: `the upstream's answer ${rewritten}`, rcode: 'SERVFAIL' });
    } else {
      x.respond(rewritten.message);
      host.report(x, ttl.config, 'rewritten', { ttl: ttl.ttl, records: rewritten.records });
    }
    x.finish();
  });
  if (sent) return;
  // Dropped, as a resolver with no room left drops: the client asks again later.
  host.report(x, PENDING_FULL, 'refused', { reason: 'too many queries waiting for the upstream' });
  x.finish();
}
