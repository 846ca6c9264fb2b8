// A toxic as configured on a proxy: the definition plus the values the API gave it. Immutable:
// an update builds a new config and the links swap it in, so a running pipe never sees a
// half-applied change.

import type { AnyToxicDefinition, Attributes, Stream } from '../toxic.js';

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
