// The public library API. Re-exports only.

export { createServer, VERSION } from './server.js';
export type { ServerOptions, FaultlineServer } from './server.js';
export type { FaultEvent, FaultsFolded, BusEvents, FaultCount } from './events/bus.js';
export type { ProxyInput, ToxicInput } from './core/collection.js';
export type {
  ToxicDefinition, Stage, Chunk, AttributeSpec, FaultAction, Protocol, Stream,
} from './toxic.js';
export type { ErrorCode } from './errors.js';

// The test-facing client: one API for a server in this process and a running one.
export { startFaultline, connectFaultline } from './client/client.js';
export type { FaultlineClient, ProxyOptions } from './client/client.js';
export { FaultlineApiError } from './client/api.js';
export { FaultEventTimeoutError } from './client/event-stream.js';
export type { FaultEvents, FaultMatch, WaitForOptions } from './client/event-stream.js';
export type { ProxyHandle, BaseProxyHandle, ProxyChanges, ProxyJson, ToxicMethods } from './client/proxy-handle.js';
export type { ToxicHandle, ToxicJson } from './client/toxic-handle.js';
export type {
  ToxicType, ToxicMethodName, ToxicAttributes, ToxicOptions, ToxicCommon, ToxicSpec, ToxicChanges, CamelCase,
} from './client/toxic-types.js';
