// The toxic contract: the only src file a toxic may import.
//
// A toxic is a definition object. The core runs its `pipe` once per direction of each
// connection (or UDP session) on which the toxic was rolled active, handing it a Stage. The
// core owns everything around the body: the toxicity roll, the head of the chain, live
// add/update/remove without losing or reordering a byte, end of stream and half-close, and
// framing. A toxic only turns input chunks into output chunks, in its own time.

import { invalidAttribute } from './errors.js';

export type Protocol = 'tcp' | 'udp';
export type Stream = 'upstream' | 'downstream';

/** What a toxic did to the data. One vocabulary for logs, metrics and the event stream. */
export type FaultAction =
  | 'delayed' | 'dropped' | 'duplicated' | 'reordered' | 'corrupted'
  | 'reset' | 'closed' | 'held' | 'released' | 'sliced'
  // Not a toxic's: a proxy turned a client away (its max_connections, or the descriptor reserve).
  | 'refused';

export type FaultDetail = Record<string, number | string | boolean>;

/**
 * A unit of data. For TCP it is whatever one socket read returned; for UDP, one datagram.
 * `ts` is when the chunk arrived (ms on the `performance.now()` clock). Delaying toxics
 * measure from it, so time spent queued counts, and advance it after the delay, so chained
 * delays add up.
 */
export interface Chunk {
  data: Buffer;
  ts: number;
}

export type AttributeValue = number | string | boolean;
export type Attributes = Record<string, AttributeValue>;

/** Declares one attribute: validation, the `GET /toxics` catalog and defaults come from it.
 *  `protocols` narrows where the attribute means something below the toxic's own protocols;
 *  on other proxies it is neither stored nor shown, so TCP clients see Toxiproxy's exact JSON. */
export type AttributeSpec = { protocols?: readonly Protocol[] } & (
  | { kind: 'integer'; default: number; unit: string; min?: number; max?: number; description: string }
  | { kind: 'number'; default: number; unit: string; min?: number; max?: number; description: string }
  | { kind: 'boolean'; default: boolean; description: string }
  | { kind: 'enum'; default: string; values: readonly string[]; description: string }
);

/** setTimeout's ceiling (about 24.8 days); longer durations would fire at once. */
export const MAX_MS = 2_147_483_647;

export interface RandomSource {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max], inclusive. */
  int(min: number, max: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
}

export const TIMED_OUT: unique symbol = Symbol('timed out');

export interface Stage<A extends Attributes = Attributes, S = undefined> {
  /** The toxic's current attributes, already validated. */
  readonly attributes: A;
  /** Per-link state from `definition.state()`; it survives updates of the toxic. */
  readonly state: S;
  readonly random: RandomSource;
  readonly protocol: Protocol;
  /** True once the input has ended (FIN from the sender), as opposed to an interrupt. */
  readonly ended: boolean;
  /** True once the core asked this run to stop (update, removal, teardown). */
  readonly interrupted: boolean;
  /** When the connection (or UDP session) was established, on the `now()` clock. */
  readonly connectedAt: number;
  /** Bytes waiting in this stage's input, not yet read. */
  readonly queued: number;

  /** The next chunk, or null at end of stream or on interrupt. */
  read(): Chunk | null | Promise<Chunk | null>;
  /** Like read, but gives TIMED_OUT if nothing arrives within `ms`. */
  readWithin(ms: number): Promise<Chunk | null | typeof TIMED_OUT>;
  /** Puts a chunk back at the front of the input, to be read again first (by this run or the
   *  next one after an update). A toxic that holds data it must not release uses this when
   *  interrupted; on removal the core flushes it onward in order. */
  unread(chunk: Chunk): void;
  /** Passes a chunk on. Honours back-pressure: await it. Never blocks once interrupted. */
  write(chunk: Chunk): void | Promise<void>;
  /** Waits `ms`. Resolves false early if interrupted; true if the time passed. */
  sleep(ms: number): Promise<boolean>;
  /** Milliseconds on the same clock as `Chunk.ts`. */
  now(): number;
  /** Reports an injected fault. Counted always; streamed under a rate limit. */
  emit(action: FaultAction, detail?: FaultDetail): void;
  /** Ends the whole connection with FIN in both directions, as Toxiproxy's close does. */
  close(): void;
  /** Aborts the whole connection with RST, so peers see ECONNRESET. */
  reset(): void;
  /**
   * The peer on the far side of this stream vanishes without a FIN or RST reaching the near
   * side: on `downstream` the server is gone (its socket is closed) while the client's socket
   * stays open, reading and discarding, never sending anything; `upstream` is the mirror.
   * The orphaned socket is reset when the toxic is removed.
   */
  vanish(): void;
}

export interface ToxicDefinition<A extends Attributes = Attributes, S = undefined> {
  /** The wire name, spelled as Toxiproxy spells it. */
  readonly type: string;
  readonly description: string;
  readonly protocols: readonly Protocol[];
  readonly attributes: { readonly [K in keyof A]: AttributeSpec };
  /** Cross-field checks beyond each attribute's own spec; throw via `attributeError`. */
  validate?(attributes: A): void;
  /** Bytes the stage's input may queue before the writer waits. Defaults to 256 KiB. */
  readonly buffer?: number;
  /** Removing this toxic ends the connection: `close` with FIN (Toxiproxy's timeout toxic
   *  does this), `reset` with RST. Only where the toxic was active. */
  readonly onRemove?: 'close' | 'reset';
  /** Milliseconds to wait before dialling the upstream for a new connection on which this
   *  toxic is active; connection set-up is slow. */
  connectDelay?(attributes: A): number;
  /** Milliseconds after the connection opened at which the core closes it (FIN both ways)
   *  while this toxic is active on it, whether or not data flows, even after its own stream
   *  has ended. The core emits the `closed` event. */
  lifetime?(attributes: A): number;
  /** While toxics with this flag sit on both streams (a full partition), new connections are
   *  accepted but not forwarded: the upstream is dialled only once they are gone. */
  readonly holdsNewConnections?: boolean;
  /** Fresh per-link state, kept across updates of the toxic. */
  state?(): S;
  /** The body. Return when `read()` gives null; anything still held must be written first. */
  pipe(stage: Stage<A, S>): Promise<void>;
}

/** Erases a definition's attribute types for registries that hold many toxics. */
export type AnyToxicDefinition = ToxicDefinition<any, any>;

export function defineToxic<A extends Attributes, S = undefined>(
  definition: ToxicDefinition<A, S>,
): ToxicDefinition<A, S> {
  return definition;
}

export function attributeError(field: string, reason: string): Error {
  return invalidAttribute(field, reason);
}

/** The attributes a toxic has on a proxy of `protocol` (all of them when it is not given). */
function specsFor(definition: AnyToxicDefinition, protocol?: Protocol): [string, AttributeSpec][] {
  const all = Object.entries(definition.attributes) as [string, AttributeSpec][];
  return protocol === undefined ? all : all.filter(([, spec]) => spec.protocols?.includes(protocol) ?? true);
}

export function defaultAttributes(definition: AnyToxicDefinition, protocol?: Protocol): Attributes {
  const out: Attributes = {};
  for (const [name, spec] of specsFor(definition, protocol)) out[name] = spec.default;
  return out;
}

/**
 * Validates API input against a definition, merged over `base` (the defaults on create, the
 * current values on update). Absent and null keys keep `base`; unknown keys are ignored, as
 * Toxiproxy ignores them, and so are attributes that mean nothing on a proxy of `protocol`
 * (bandwidth's `queue` on TCP), which are then neither kept nor shown. Throws an error that
 * names the bad field.
 */
export function parseAttributes(definition: AnyToxicDefinition, input: unknown, base?: Attributes, protocol?: Protocol): Attributes {
  const out: Attributes = { ...(base ?? defaultAttributes(definition, protocol)) };
  if (input !== undefined && input !== null) {
    if (typeof input !== 'object' || Array.isArray(input)) {
      throw attributeError('attributes', 'must be a JSON object');
    }
    const given = input as Record<string, unknown>;
    for (const [name, spec] of specsFor(definition, protocol)) {
      const value = given[name];
      if (value === undefined || value === null) continue;
      out[name] = checkValue(name, spec, value);
    }
  }
  definition.validate?.(out);
  return out;
}

function checkValue(name: string, spec: AttributeSpec, value: unknown): AttributeValue {
  switch (spec.kind) {
    case 'boolean':
      if (typeof value !== 'boolean') throw attributeError(name, `must be a boolean, got ${describe(value)}`);
      return value;
    case 'enum':
      if (typeof value !== 'string' || !spec.values.includes(value)) {
        throw attributeError(name, `must be one of ${spec.values.join(', ')}, got ${describe(value)}`);
      }
      return value;
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw attributeError(name, `must be a number, got ${describe(value)}`);
      }
      if (spec.kind === 'integer' && !Number.isInteger(value)) {
        throw attributeError(name, `must be an integer, got ${value}`);
      }
      const min = spec.min ?? 0;
      const max = spec.max ?? (spec.kind === 'integer' ? Number.MAX_SAFE_INTEGER : Infinity);
      if (value < min) throw attributeError(name, `must be at least ${min}, got ${value}`);
      if (value > max) throw attributeError(name, `must be at most ${max}, got ${value}`);
      return value;
    }
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (Array.isArray(value)) return 'array';
  return typeof value === 'object' ? 'object' : `${typeof value} ${String(value)}`;
}
