import { defineToxic } from '../src/toxic.js';

// Explicitly keyless: the catalog shows no attributes, and any given are ignored.
type NoopAttributes = Record<string, never>;

export const noop = defineToxic<NoopAttributes>({
  type: 'noop',
  description: 'Passes data through unchanged; useful to check that the toxic API reaches a proxy.',
  protocols: ['tcp', 'udp'],
  attributes: {},
  async pipe(stage) {
    for (;;) {
      const chunk = await stage.read();
      if (chunk === null) return;
      await stage.write(chunk);
    }
  },
});
