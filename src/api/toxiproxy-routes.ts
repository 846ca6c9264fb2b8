// Toxiproxy's v2 API as a literal table: method, path pattern, handler. Path parameters match
// one segment and are URL-decoded.

import { FaultlineError } from '../errors.js';
import { toxicJSON } from '../core/toxic-config.js';
import { populateInput, proxyInput, toxicInput } from './input.js';
import type { Reply, Route } from './route-types.js';
import { TOXIPROXY_API_VERSION } from './version.js';

const ok = (json: unknown, status = 200): Reply => ({ status, json });

/** Toxiproxy's v2 API, route for route. */
export const TOXIPROXY_ROUTES: readonly Route[] = [
  {
    method: 'POST', path: '/reset',
    async handle(api) { await api.collection.reset(); return { status: 204 }; },
  },
  {
    method: 'GET', path: '/proxies',
    async handle(api) {
      return ok(Object.fromEntries(api.collection.list().map((p) => [p.name, p.toJSON()])));
    },
  },
  {
    method: 'POST', path: '/proxies',
    async handle(api, req) { return ok((await api.collection.create(proxyInput(req.body()))).toJSON(), 201); },
  },
  {
    method: 'POST', path: '/populate',
    async handle(api, req) {
      // Populate's errors also carry the proxies already processed ([] when none), as
      // Toxiproxy's do, because populate is not atomic.
      let result;
      try {
        result = await api.collection.populate(populateInput(req.body()));
      } catch (err) {
        if (!(err instanceof FaultlineError)) throw err;
        result = { proxies: [], error: err };
      }
      const proxies = result.proxies.map((p) => p.toJSON());
      if (result.error !== undefined) {
        const { message, status, code } = result.error;
        return { status, json: { error: message, status, code, proxies }, newline: true };
      }
      return ok({ proxies }, 201);
    },
  },
  {
    method: 'GET', path: '/proxies/:proxy',
    async handle(api, req) { return ok(api.collection.get(req.params.proxy!).toJSON()); },
  },
  ...['POST', 'PATCH'].map((method): Route => ({
    method, path: '/proxies/:proxy',
    async handle(api, req) {
      api.collection.get(req.params.proxy!);
      const input = proxyInput(req.body());
      return ok((await api.collection.update(req.params.proxy!, input)).toJSON());
    },
  })),
  {
    method: 'DELETE', path: '/proxies/:proxy',
    async handle(api, req) { await api.collection.delete(req.params.proxy!); return { status: 204 }; },
  },
  {
    method: 'GET', path: '/proxies/:proxy/toxics',
    async handle(api, req) { return ok(api.collection.get(req.params.proxy!).listToxics().map(toxicJSON)); },
  },
  {
    method: 'POST', path: '/proxies/:proxy/toxics',
    async handle(api, req) {
      api.collection.get(req.params.proxy!);
      return ok(toxicJSON(await api.collection.addToxic(req.params.proxy!, toxicInput(req.body()))));
    },
  },
  {
    method: 'GET', path: '/proxies/:proxy/toxics/:toxic',
    async handle(api, req) { return ok(toxicJSON(api.collection.getToxic(req.params.proxy!, req.params.toxic!))); },
  },
  ...['POST', 'PATCH'].map((method): Route => ({
    method, path: '/proxies/:proxy/toxics/:toxic',
    async handle(api, req) {
      api.collection.getToxic(req.params.proxy!, req.params.toxic!);
      const input = toxicInput(req.body());
      return ok(toxicJSON(await api.collection.updateToxic(req.params.proxy!, req.params.toxic!, input)));
    },
  })),
  {
    method: 'DELETE', path: '/proxies/:proxy/toxics/:toxic',
    async handle(api, req) {
      await api.collection.removeToxic(req.params.proxy!, req.params.toxic!);
      return { status: 204 };
    },
  },
  {
    // Byte-exact with Toxiproxy, space after the colon included: some clients read it as text.
    method: 'GET', path: '/version',
    async handle(api) {
      return {
        status: 200,
        type: 'application/json;charset=utf-8',
        text: `{"version": "${TOXIPROXY_API_VERSION}", "faultline": "${api.version}"}\n`,
      };
    },
  },
];
