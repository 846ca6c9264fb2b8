// The composition root: builds the seeded random source, the event bus, the proxy collection
// and the HTTP API, and wires them together. Nothing else knows how the parts meet.

import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createApiServer } from './api/http.js';
import { populateInput, parseJson } from './api/input.js';
import { formatHostPort } from './core/address.js';
import { Collection, type ProxyInput } from './core/collection.js';
import { EventBus } from './events/bus.js';
import { Random } from './random.js';
import { TOXICS, findToxic } from '../toxics/index.js';

export interface ServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: an ephemeral port. The CLI passes 8474. */
  port?: number;
  /** Seeds every random decision; a fresh seed is chosen (and reported) when absent. */
  seed?: number;
  /** A populate array, or the path of a JSON file holding one, applied before the API listens. */
  config?: string | ProxyInput[];
  /** Receives one line per notable event (warnings, API failures). Silent when absent. */
  log?: (line: string) => void;
}

export interface FaultlineServer {
  /** The API's base URL, e.g. http://127.0.0.1:8474. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly seed: number;
  readonly events: EventBus;
  readonly collection: Collection;
  close(): Promise<void>;
}

export const VERSION: string = (JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string }).version;

export async function createServer(options: ServerOptions = {}): Promise<FaultlineServer> {
  const log = options.log ?? (() => {});
  const seed = options.seed ?? Random.freshSeed();
  const events = new EventBus();
  events.on('log:warn', (e) => log(`warn: ${e.message}${Object.keys(e.context).length ? ' ' + JSON.stringify(e.context) : ''}`));
  const collection = new Collection({ reporter: events, random: new Random(seed), findToxic });

  try {
    if (options.config !== undefined) await applyConfig(collection, options.config);
  } catch (err) {
    await collection.close();
    events.close();
    throw err;
  }

  const http = createApiServer({ collection, toxics: TOXICS, version: VERSION }, (err) => {
    log(`error: API handler failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  });
  const host = options.host ?? '127.0.0.1';
  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(options.port ?? 0, host, () => { http.off('error', reject); resolve(); });
    });
  } catch (err) {
    await collection.close();
    events.close();
    throw err;
  }
  const address = http.address() as AddressInfo;
  let closing: Promise<void> | null = null;

  return {
    url: `http://${formatHostPort(address.address, address.port)}`,
    host: address.address,
    port: address.port,
    seed,
    events,
    collection,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
        http.closeAllConnections();
        await collection.close();
        await stopped;
        events.close();
      })();
      return closing;
    },
  };
}

async function applyConfig(collection: Collection, config: string | ProxyInput[]): Promise<void> {
  let inputs: ProxyInput[];
  if (typeof config === 'string') {
    let raw: Buffer;
    try {
      raw = await readFile(config);
    } catch (err) {
      throw new Error(`cannot read config ${config}: ${(err as Error).message}`);
    }
    try {
      inputs = populateInput(parseJson(raw));
    } catch (err) {
      throw new Error(`invalid config ${config}: ${(err as Error).message}`);
    }
  } else {
    inputs = config;
  }
  const result = await collection.populate(inputs);
  if (result.error !== undefined) throw new Error(`config: ${result.error.message}`);
}
