// faultline's extensions to the API: the toxic catalog, the event log, live connections and
// metrics. Toxiproxy's clients never call these, so their shapes are ours.

import type { AnyToxicDefinition } from '../toxic.js';
import type { Route } from './route-types.js';

export const EXTENSION_ROUTES: readonly Route[] = [
  {
    method: 'GET', path: '/toxics',
    async handle(api) { return { status: 200, json: api.toxics.map(catalogEntry) }; },
  },
  {
    // Newest first, with cursor paging; `format=ndjson` streams every match instead.
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
