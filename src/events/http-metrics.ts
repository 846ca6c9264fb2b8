// The per-route series of http proxies for GET /metrics: requests by status class and by gRPC
// status, latency percentiles and body bytes, read from each proxy's own figures at scrape
// time (src/http/route-stats.ts), so the data path never touches prom-client. Routes are
// bounded per proxy there (folded paths, at most 64, then OTHER), so the series are too.

import { Counter, Gauge, type Registry } from 'prom-client';

/** One route's figures, as an http proxy keeps them. */
export interface RouteFigures {
  route: string;
  requests: number;
  statuses: Readonly<Record<string, number>>;
  grpc: Readonly<Record<string, number>>;
  latency_ms: { p50: number; p95: number; p99: number };
  bytes: { request: number; response: number };
}

export type RouteSource = () => ReadonlyArray<{ proxy: string; routes: ReadonlyArray<RouteFigures> }>;

export function registerHttpMetrics(registry: Registry, prefix: string, source: RouteSource): void {
  new Counter({
    name: `${prefix}http_requests_total`,
    help: 'Requests through http proxies, by route (method and folded path) and the status class the client got (none: reset or closed without an answer).',
    labelNames: ['proxy', 'route', 'status_class'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { proxy, routes } of source()) {
        for (const r of routes) for (const [cls, n] of Object.entries(r.statuses)) this.inc({ proxy, route: r.route, status_class: cls }, n);
      }
    },
  });
  new Counter({
    name: `${prefix}http_grpc_responses_total`,
    help: 'gRPC calls through http proxies, by route and the grpc-status the client got.',
    labelNames: ['proxy', 'route', 'grpc_status'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { proxy, routes } of source()) {
        for (const r of routes) for (const [code, n] of Object.entries(r.grpc)) this.inc({ proxy, route: r.route, grpc_status: code }, n);
      }
    },
  });
  new Gauge({
    name: `${prefix}http_request_duration_seconds`,
    help: 'Percentiles of the time from a request\'s head reaching an http proxy to its answer\'s last byte leaving it, injected delays included, since the proxy was created.',
    labelNames: ['proxy', 'route', 'quantile'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { proxy, routes } of source()) {
        for (const r of routes) {
          this.set({ proxy, route: r.route, quantile: '0.5' }, r.latency_ms.p50 / 1000);
          this.set({ proxy, route: r.route, quantile: '0.95' }, r.latency_ms.p95 / 1000);
          this.set({ proxy, route: r.route, quantile: '0.99' }, r.latency_ms.p99 / 1000);
        }
      }
    },
  });
  new Counter({
    name: `${prefix}http_body_bytes_total`,
    help: 'Body bytes through http proxies, by route and direction (request: client to server); divide by requests for bytes per request.',
    labelNames: ['proxy', 'route', 'direction'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { proxy, routes } of source()) {
        for (const r of routes) {
          this.inc({ proxy, route: r.route, direction: 'request' }, r.bytes.request);
          this.inc({ proxy, route: r.route, direction: 'response' }, r.bytes.response);
        }
      }
    },
  });
}
