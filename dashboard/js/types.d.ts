// The shapes the dashboard reads from the server, shared by the modules through JSDoc
// (`@import`). They mirror the API's JSON; fields the dashboard does not rely on stay optional,
// since it must show whatever a newer or older server sends.

import type UPlot from 'uplot';

declare global {
  interface Window {
    /** uPlot's IIFE build, loaded by a classic <script> before the modules. */
    uPlot?: typeof UPlot;
  }
}

export type UPlotCtor = typeof UPlot;
export type UPlotChart = UPlot;
export type UPlotOptions = UPlot.Options;

export interface Toxic {
  name: string;
  type: string;
  stream: string;
  toxicity: number;
  attributes: Record<string, number | string | boolean | string[]>;
  /** ISO time; present when the toxic has a ttl. */
  expires_at?: string;
}

export interface Proxy {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  toxics: Toxic[];
  /** Absent on TCP proxies, which keep Toxiproxy's exact shape. */
  protocol?: 'tcp' | 'udp' | 'http' | 'dns';
  idle_timeout?: number;
  sessions?: number;
}

export type AttributeSpec = { protocols?: string[] } & (
  | { kind: 'integer' | 'number'; default: number; unit: string; min?: number; max?: number; description: string }
  | { kind: 'boolean'; default: boolean; description: string }
  | { kind: 'enum'; default: string; values: string[]; description: string }
  | { kind: 'string'; default: string; format: 'text' | 'glob' | 'header' | 'methods' | 'domain'; maxLength: number; description: string }
  | { kind: 'list'; default: string[]; format: 'ip'; maxItems: number; description: string });

/** One route of an http proxy, from GET /routes. */
export interface RouteInfo {
  route: string;
  requests: number;
  statuses: Record<string, number>;
  grpc: Record<string, number>;
  latency_ms: { p50: number; p95: number; p99: number; max: number };
  bytes: { request: number; response: number };
}

export interface ToxicDefinition {
  type: string;
  description: string;
  protocols: string[];
  attributes: Record<string, AttributeSpec>;
}

export interface ConnectionInfo {
  conn: string;
  protocol?: string;
  client: string;
  opened_at?: string;
  age_ms: number;
  bytes_up: number;
  bytes_down: number;
  toxics?: { upstream: string[]; downstream: string[] };
}

/** One proxy's line in a `stats` message: counters are cumulative since the server started. */
export interface ProxyStats {
  name: string;
  protocol?: string;
  enabled?: boolean;
  active: number;
  bytes: { upstream: number; downstream: number };
  faults: number;
  faults_by_action?: Record<string, number>;
}

export interface StatsMessage {
  type: 'stats';
  ts: number;
  proxies: ProxyStats[];
  events?: { total: number; folded: number };
}

/** One derived point of a proxy's history: rates per second over the previous interval. */
export interface Sample {
  ts: number;
  up: number;
  down: number;
  faults: number;
  actions: Record<string, number>;
  active: number;
}

/** A line of the event log, whether it came live from the stream or from GET /events. */
export interface LogEntry {
  id: string;
  ts: number;
  /** fault:injected, fault:folded, conn:opened, conn:closed, toxic:added, proxy:created,
   *  scenario:step, ... (a state change is shown under its own kind). */
  kind: string;
  proxy: string;
  conn: string;
  client: string;
  toxic: string;
  type: string;
  stream: string;
  action: string;
  /** fault:folded: how many events the server's rate limit folded away. */
  count: number;
  raw: Record<string, unknown>;
}

export type StreamMessage =
  | { type: 'snapshot'; proxies: Proxy[]; counters?: unknown; stats?: StatsMessage | Record<string, unknown> }
  | { type: 'event'; kind: string; event: Record<string, unknown> }
  | StatsMessage
  | { type: 'lagged'; missed: number };

export type ConnState = 'connecting' | 'open' | 'closed';
