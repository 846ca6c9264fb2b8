// Every route the API serves: Toxiproxy's first, then faultline's extensions.

import { EXTENSION_ROUTES } from './extension-routes.js';
import type { Route } from './route-types.js';
import { SCENARIO_FILE_ROUTES } from './scenario-file-routes.js';
import { SESSION_ROUTES } from './session-routes.js';
import { TOXIPROXY_ROUTES } from './toxiproxy-routes.js';

export type { ApiContext, EventLog, Reply, Request, Route } from './route-types.js';

export const ROUTES: readonly Route[] = [...TOXIPROXY_ROUTES, ...EXTENSION_ROUTES, ...SCENARIO_FILE_ROUTES, ...SESSION_ROUTES];
