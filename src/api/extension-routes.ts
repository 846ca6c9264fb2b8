// faultline's extensions to the API: the toxic catalog, the event log, live connections,
// game-day runs (started here, or finished elsewhere and stored with PUT) and metrics. Toxiproxy's clients never call these, so their shapes are ours.

import { badBody, ERRORS, FaultlineError } from '../errors.js';
import type { AnyToxicDefinition } from '../toxic.js';
import type { Route } from './route-types.js';
import { runRecordInput } from './run-record-input.js';

export const EXTENSION_ROUTES: readonly Route[] = [
  {
    method: 'GET', path: '/toxics',
    async handle(api) { return { status: 200, json: api.toxics.map(catalogEntry) }; },
  },
  {
    // Newest first, with cursor paging; `format=ndjson` streams every match instead. The event
    // log checks the query, `format` included, so any other format is a 400 on either path.
    method: 'GET', path: '/events',
    async handle(api, req) {
      if (req.query.get('format') === 'ndjson') {
        // Check the filter before the 200 goes out, so a bad one still gets its 400.
        api.events.check(req.query);
        return {
          status: 200,
          type: 'application/x-ndjson',
          stream: (write) => api.events.export(req.query, (events) => write(events.map((e) => JSON.stringify(e) + '\n').join(''))),
        };
      }
      return { status: 200, json: await api.events.query(req.query) };
    },
  },
  {
    method: 'GET', path: '/connections',
    async handle(api) {
      const proxies = api.collection.list().map((p) => ({ proxy: p.name, protocol: p.protocol, connections: p.describeLive() }));
      return { status: 200, json: { proxies } };
    },
  },
  {
    // Per-route figures of the http proxies: requests, status classes, latency percentiles and
    // body bytes; `?proxy=NAME` keeps one.
    method: 'GET', path: '/routes',
    async handle(api, req) {
      const only = req.query.get('proxy');
      const proxies = (api.httpRoutes?.() ?? []).filter((p) => only === null || p.proxy === only);
      return { status: 200, json: { proxies } };
    },
  },
  {
    // Starts a game-day run on this server: body {"scenario": "<the YAML or JSON file's text>"}.
    method: 'POST', path: '/scenarios/runs',
    async handle(api, req) {
      const body = req.body();
      const text = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).scenario : undefined;
      if (typeof text !== 'string') throw badBody('expected {"scenario": "<the scenario file\'s text>"}');
      const started = await api.runs.start(text, { token: req.token });
      if ('record' in started) return { status: 201, json: started.record };
      const { status } = ERRORS.ERR_INVALID_SCENARIO;
      const n = started.issues.length;
      return {
        status,
        json: { error: `invalid scenario: ${n} issue${n === 1 ? '' : 's'}`, status, code: 'ERR_INVALID_SCENARIO', issues: started.issues },
        newline: true,
      };
    },
  },
  {
    method: 'GET', path: '/scenarios/runs',
    async handle(api) { return { status: 200, json: { runs: await api.runs.list() } }; },
  },
  {
    method: 'GET', path: '/scenarios/runs/:id',
    async handle(api, req) {
      const record = await api.runs.get(req.params.id!);
      if (record === null) throw new FaultlineError('ERR_RUN_NOT_FOUND');
      return { status: 200, json: record };
    },
  },
  {
    // The HTML report, for the dashboard's "open report" (the CLI renders the same locally).
    method: 'GET', path: '/scenarios/runs/:id/report',
    async handle(api, req) {
      const html = await api.runs.report(req.params.id!);
      if (html === null) throw new FaultlineError('ERR_RUN_NOT_FOUND');
      return { status: 200, type: 'text/html; charset=utf-8', text: html };
    },
  },
  {
    // Stores a finished run's record from a client (`faultline run`), so reports find it here.
    method: 'PUT', path: '/scenarios/runs/:id',
    async handle(api, req) {
      const record = runRecordInput(req.body(), req.params.id!);
      const outcome = await api.runs.put(record);
      return { status: outcome === 'created' ? 201 : 200, json: record };
    },
  },
  {
    // Aborts a running run and answers once it has rolled back and its record is stored.
    method: 'DELETE', path: '/scenarios/runs/:id',
    async handle(api, req) {
      const outcome = await api.runs.abort(req.params.id!);
      if (outcome === 'not_found') throw new FaultlineError('ERR_RUN_NOT_FOUND');
      if (outcome === 'finished') throw new FaultlineError('ERR_RUN_FINISHED');
      return { status: 204 };
    },
  },
  {
    method: 'GET', path: '/metrics',
    async handle(api) { return { status: 200, type: api.metrics.contentType, text: await api.metrics.text() }; },
  },
];

function catalogEntry(def: AnyToxicDefinition): Record<string, unknown> {
  return {
    type: def.type,
    description: def.description,
    protocols: def.protocols,
    attributes: Object.fromEntries(Object.entries(def.attributes).map(([name, spec]) => [name, spec])),
  };
}
