// One HTTP exchange as the toxics see it, and the protocol layer's part of every request toxic:
// matching (`method`, `path`, `header`), the `first` counter, the toxicity roll per request
// from the connection's seeded stream for that toxic, and asking the rolled-in toxics for
// their decisions at each phase. HTTP/1.1 and HTTP/2 both go through here, so a seed gives the
// same decisions for the same requests on either.

import { performance } from 'node:perf_hooks';
import {
  compileGlob, compileHeaderMatch, isRequestToxic,
  type ExchangeDecision, type FaultAction, type FaultDetail, type HeaderMatch, type MatchAttributes, type Phase,
  type RandomSource, type RequestToxicDefinition,
} from '../toxic.js';
import type { ToxicConfig } from '../core/toxic-config.js';

export interface RequestInfo {
  method: string;
  /** Without the query string. */
  path: string;
  http: '1.1' | '2';
  grpc: boolean;
  /** HTTP/2: the stream id; HTTP/1.1: the request's position on its connection, from 1. */
  streamId: number;
  header(name: string): string | undefined;
}

/** What the layer needs of the proxy and the connection to select toxics. */
export interface ExchangeOwner {
  requestToxics(): readonly ToxicConfig[];
  /** How many requests the toxic has matched so far; `first` counts against it. */
  matched(toxic: string): { n: number };
  /** The connection's seeded stream for a toxic. */
  random(toxic: string): RandomSource;
  report(config: ToxicConfig, action: FaultAction, detail: FaultDetail): void;
}

interface Matcher {
  methods: string[] | null;
  path: RegExp | null;
  header: HeaderMatch | null;
}

// Compiled once per attributes object: an update makes a new one.
const matchers = new WeakMap<object, Matcher>();

function matcherOf(attributes: MatchAttributes): Matcher {
  let m = matchers.get(attributes);
  if (m === undefined) {
    m = {
      methods: attributes.method === '' ? null : attributes.method.split(',').map((s) => s.trim().toUpperCase()),
      path: compileGlob(attributes.path),
      header: compileHeaderMatch(attributes.header),
    };
    matchers.set(attributes, m);
  }
  return m;
}

function matches(m: Matcher, info: RequestInfo): boolean {
  if (m.methods !== null && !m.methods.includes(info.method.toUpperCase())) return false;
  if (m.path !== null && !m.path.test(info.path)) return false;
  if (m.header !== null) {
    const value = info.header(m.header.name);
    if (value === undefined || (m.header.regex !== null && !m.header.regex.test(value))) return false;
  }
  return true;
}

/** `/a/b?x=1` to `/a/b`; an absolute-form target (a forward proxy's) to its path. */
export function pathOf(target: string): string {
  let path = target;
  if (!path.startsWith('/')) {
    const scheme = path.indexOf('://');
    if (scheme > 0) {
      const slash = path.indexOf('/', scheme + 3);
      path = slash < 0 ? '/' : path.slice(slash);
    }
  }
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

export class Exchange {
  readonly started = performance.now();
  /** The toxics that matched and were rolled in, as configured when the request arrived. */
  private readonly active: ToxicConfig[] = [];

  constructor(readonly info: RequestInfo, private readonly owner: ExchangeOwner) {
    for (const config of owner.requestToxics()) {
      const attributes = config.attributes as MatchAttributes;
      if (!matches(matcherOf(attributes), info)) continue;
      if (attributes.first > 0) {
        const count = owner.matched(config.name);
        if (count.n >= attributes.first) continue;
        count.n++;
      }
      if (owner.random(config.name).chance(config.toxicity)) this.active.push(config);
    }
  }

  get hasToxics(): boolean {
    return this.active.length > 0;
  }

  /**
   * The decisions of the toxics acting at `phase`, in the order they were added: delays add
   * up; the first abort or reset ends the list (nothing after it could happen).
   */
  decide(phase: Phase): { delay: number; end: { config: ToxicConfig; decision: ExchangeDecision & object } | null; delays: Array<[ToxicConfig, number]> } {
    const out = { delay: 0, end: null as { config: ToxicConfig; decision: ExchangeDecision & object } | null, delays: [] as Array<[ToxicConfig, number]> };
    for (const config of this.active) {
      const definition = config.definition as RequestToxicDefinition;
      if (!isRequestToxic(definition) || definition.phase(config.attributes) !== phase) continue;
      const info = this.info;
      const decision = definition.exchange({
        attributes: config.attributes, phase, method: info.method, path: info.path, grpc: info.grpc, http: info.http,
        header: (name) => info.header(name.toLowerCase()), random: this.owner.random(config.name),
      });
      if (decision === null) continue;
      if (decision.action === 'delay') {
        out.delay += decision.ms;
        out.delays.push([config, decision.ms]);
        continue;
      }
      out.end = { config, decision };
      break;
    }
    return out;
  }

  /** Reports a fault on this exchange with what identifies it. */
  report(config: ToxicConfig, action: FaultAction, detail: FaultDetail): void {
    const { method, path, streamId, http } = this.info;
    this.owner.report(config, action, {
      method, path: path.length > 200 ? `${path.slice(0, 200)}…` : path, stream_id: streamId, http,
      when: String(config.attributes.when ?? ''), elapsed_ms: Math.round((performance.now() - this.started) * 10) / 10, ...detail,
    });
  }

  /** Reports each delay of a phase. */
  reportDelays(delays: Array<[ToxicConfig, number]>): void {
    for (const [config, ms] of delays) this.report(config, 'delayed', { ms });
  }
}
