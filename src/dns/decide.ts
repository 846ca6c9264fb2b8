// The protocol layer's part of every DNS toxic: matching (`name`, `qtype`), the toxicity roll
// per query from the toxic's seeded stream, and asking the rolled-in toxics for their decisions,
// in the order they were added. UDP and TCP queries go through here alike, so a seed gives the
// same decisions for the same queries in the same order, whichever transport carried them.

import { isDnsToxic, type DnsDecision, type DnsMatchAttributes, type DnsTransport, type RandomSource } from '../toxic.js';
import type { ToxicConfig } from '../core/toxic-config.js';
import type { Question1 } from './message.js';

export interface DecideOwner {
  dnsToxics(): readonly ToxicConfig[];
  /** The toxic's seeded stream on this proxy. */
  random(toxic: string): RandomSource;
}

export type EndDecision = Extract<DnsDecision & object, { action: 'error' | 'drop' | 'answer' | 'truncate' }>;

export interface Plan {
  /** The delays to wait before anything else, each with its toxic. */
  delays: Array<[ToxicConfig, number]>;
  delay: number;
  /** The first toxic that answers (or drops) instead of the upstream; nothing after it acts. */
  end: { config: ToxicConfig; decision: EndDecision } | null;
  /** The TTL rewrite of the upstream's answer; the last toxic asking for one wins. */
  ttl: { config: ToxicConfig; ttl: number } | null;
}

interface Matcher {
  /** `.suffix` for `*.suffix`, the exact name otherwise; null matches any. */
  name: { exact: string } | { suffix: string } | null;
  qtype: string | null;
}

// Compiled once per attributes object: an update makes a new one.
const matchers = new WeakMap<object, Matcher>();

function matcherOf(attributes: DnsMatchAttributes): Matcher {
  let m = matchers.get(attributes);
  if (m === undefined) {
    const lower = attributes.name.toLowerCase();
    const pattern = lower.endsWith('.') ? lower.slice(0, -1) : lower;
    m = {
      name: pattern === '' ? null : pattern.startsWith('*.') ? { suffix: pattern.slice(1) } : { exact: pattern },
      qtype: attributes.qtype === '' ? null : attributes.qtype,
    };
    matchers.set(attributes, m);
  }
  return m;
}

function matches(m: Matcher, question: Question1): boolean {
  if (m.qtype !== null && m.qtype !== question.type) return false;
  if (m.name === null) return true;
  return 'exact' in m.name ? question.match === m.name.exact : question.match.endsWith(m.name.suffix);
}

/** What the toxics do to this query; null when none acts on it. */
export function decide(owner: DecideOwner, question: Question1, transport: DnsTransport): Plan | null {
  let plan: Plan | null = null;
  for (const config of owner.dnsToxics()) {
    const definition = config.definition;
    if (!isDnsToxic(definition)) continue;
    const attributes = config.attributes as DnsMatchAttributes;
    if (!matches(matcherOf(attributes), question)) continue;
    const random = owner.random(config.name);
    if (!random.chance(config.toxicity)) continue;
    const decision = definition.query({ attributes, name: question.match, qtype: question.type, transport, random });
    if (decision === null) continue;
    plan ??= { delays: [], delay: 0, end: null, ttl: null };
    if (decision.action === 'delay') {
      plan.delays.push([config, decision.ms]);
      plan.delay += decision.ms;
    } else if (decision.action === 'ttl') {
      plan.ttl = { config, ttl: decision.ttl };
    } else {
      plan.end = { config, decision };
      break;
    }
  }
  return plan;
}
