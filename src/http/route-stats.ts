// Per-route figures of one http proxy: requests, status classes, gRPC statuses, latency
// percentiles and body bytes, so a bake-off (gRPC against REST, one version against another)
// can be read off the proxy itself. Kept here and read at scrape time, like a UDP proxy's
// upstream errors, so the data path only adds to counters.
//
// Cardinality stays bounded: a route is the method and the path with its variable segments
// folded (numbers, UUIDs, long hex or base64-like ids become :id), at most MAX_ROUTES per
// proxy; later ones count under `OTHER`.

/** Distinct routes kept per proxy. */
export const MAX_ROUTES = 64;

// Latency buckets grow by 2 %, from 0.01 ms: percentiles within about 1 % of the truth.
const GROWTH = Math.log(1.02);
const FLOOR_MS = 0.01;
const BUCKETS = 1200;

export interface ExchangeRecord {
  method: string;
  path: string;
  /** The HTTP status sent to the client; 0 when none was (a reset, a closed connection). */
  status: number;
  /** For gRPC: the grpc-status the client got, if any. */
  grpcStatus?: number;
  ms: number;
  requestBytes: number;
  responseBytes: number;
}

export interface RouteSnapshot {
  route: string;
  requests: number;
  /** `1xx` .. `5xx`, and `none` for exchanges that got no response. */
  statuses: Record<string, number>;
  /** gRPC status codes (by number) for gRPC routes. */
  grpc: Record<string, number>;
  latency_ms: { p50: number; p95: number; p99: number; max: number };
  bytes: { request: number; response: number };
}

class Route {
  requests = 0;
  readonly statuses: Record<string, number> = {};
  readonly grpc: Record<string, number> = {};
  readonly buckets = new Uint32Array(BUCKETS);
  max = 0;
  requestBytes = 0;
  responseBytes = 0;

  add(r: ExchangeRecord): void {
    this.requests++;
    const cls = r.status === 0 ? 'none' : `${Math.floor(r.status / 100)}xx`;
    this.statuses[cls] = (this.statuses[cls] ?? 0) + 1;
    if (r.grpcStatus !== undefined) this.grpc[r.grpcStatus] = (this.grpc[r.grpcStatus] ?? 0) + 1;
    this.buckets[bucketOf(r.ms)]!++;
    if (r.ms > this.max) this.max = r.ms;
    this.requestBytes += r.requestBytes;
    this.responseBytes += r.responseBytes;
  }

  quantile(q: number): number {
    const rank = Math.ceil(q * this.requests);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.buckets[i]!;
      if (seen >= rank) return Math.min(valueOf(i), this.max);
    }
    return this.max;
  }
}

function bucketOf(ms: number): number {
  if (!(ms > FLOOR_MS)) return 0;
  return Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / FLOOR_MS) / GROWTH));
}

/** The upper edge of a bucket, rounded for display. */
function valueOf(bucket: number): number {
  return Math.round(FLOOR_MS * Math.exp(bucket * GROWTH) * 1000) / 1000;
}

/** Paths whose template is remembered, so a busy route is not folded again per request. */
const TEMPLATE_CACHE = 1024;

export class RouteStats {
  private readonly routes = new Map<string, Route>();
  private readonly templates = new Map<string, string>();

  record(r: ExchangeRecord): void {
    let folded = this.templates.get(r.path);
    if (folded === undefined) {
      if (this.templates.size >= TEMPLATE_CACHE) this.templates.clear();
      this.templates.set(r.path, (folded = template(r.path)));
    }
    let key = `${r.method} ${folded}`;
    let route = this.routes.get(key);
    if (route === undefined) {
      if (this.routes.size >= MAX_ROUTES) key = 'OTHER';
      route = this.routes.get(key);
      if (route === undefined) this.routes.set(key, (route = new Route()));
    }
    route.add(r);
  }

  get requests(): number {
    let n = 0;
    for (const route of this.routes.values()) n += route.requests;
    return n;
  }

  snapshot(): RouteSnapshot[] {
    return [...this.routes].map(([key, r]) => ({
      route: key,
      requests: r.requests,
      statuses: { ...r.statuses },
      grpc: { ...r.grpc },
      latency_ms: { p50: r.quantile(0.5), p95: r.quantile(0.95), p99: r.quantile(0.99), max: Math.round(r.max * 1000) / 1000 },
      bytes: { request: r.requestBytes, response: r.responseBytes },
    }));
  }
}

const VARIABLE = /^(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{16,}|(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,})$/;

/** The path with variable segments folded into `:id`, and no query string. */
export function template(path: string): string {
  if (path.length > 256) path = path.slice(0, 256);
  return path.split('/').map((segment) => (VARIABLE.test(segment) ? ':id' : segment)).join('/');
}
