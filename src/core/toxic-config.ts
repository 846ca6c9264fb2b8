// A toxic as configured on a proxy: the definition plus the values the API gave it. Immutable:
// an update builds a new config and the links swap it in, so a running pipe never sees a
// half-applied change.

import {
  parseAttributes, type AnyToxicDefinition, type AttributeSpec, type Attributes, type Protocol, type Stream,
} from '../toxic.js';

export interface ToxicConfig {
  readonly name: string;
  readonly type: string;
  readonly stream: Stream;
  /** The stream as the client spelled it; Toxiproxy echoes `UpStream` back verbatim. */
  readonly streamLabel: string;
  readonly toxicity: number;
  readonly attributes: Attributes;
  readonly definition: AnyToxicDefinition;
  /** Epoch ms after which the toxic removes itself, or null to stay until removed. */
  readonly expiresAt: number | null;
}

/** Toxiproxy's toxic JSON, `attributes` first as Go's embedding puts it. */
export function toxicJSON(config: ToxicConfig): Record<string, unknown> {
  const json: Record<string, unknown> = {
    attributes: config.attributes,
    name: config.name,
    type: config.type,
    stream: config.streamLabel,
    toxicity: config.toxicity,
  };
  if (config.expiresAt !== null) json.expires_at = new Date(config.expiresAt).toISOString();
  return json;
}

/**
 * Validates a toxic's attributes for a proxy of `protocol`, merged over `base` as
 * parseAttributes does. An attribute that means nothing there (bandwidth's `queue` on TCP) is
 * ignored on input, as Toxiproxy ignores keys it does not know, and is not kept, so it never
 * shows in the toxic's JSON.
 */
export function parseToxicAttributes(
  definition: AnyToxicDefinition, protocol: Protocol, input: unknown, base?: Attributes,
): Attributes {
  const foreign = (Object.entries(definition.attributes) as [string, AttributeSpec][])
    .filter(([, spec]) => spec.protocols !== undefined && !spec.protocols.includes(protocol))
    .map(([name]) => name);
  if (foreign.length === 0) return parseAttributes(definition, input, base);
  let given = input;
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    const copy: Record<string, unknown> = { ...input };
    for (const name of foreign) delete copy[name];
    given = copy;
  }
  const out = parseAttributes(definition, given, base);
  for (const name of foreign) delete out[name];
  return out;
}
