// The public library API. Re-exports only.

export { createServer, VERSION } from './server.js';
export type { ServerOptions, FaultlineServer } from './server.js';
export type { FaultEvent, FaultsFolded, BusEvents, FaultCount } from './events/bus.js';
export type { ProxyInput, ToxicInput } from './core/collection.js';
export type {
  ToxicDefinition, Stage, Chunk, AttributeSpec, FaultAction, Protocol, Stream,
} from './toxic.js';
