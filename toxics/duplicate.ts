import { defineToxic } from '../src/toxic.js';

type DuplicateAttributes = { probability: number };

export const duplicate = defineToxic<DuplicateAttributes>({
  type: 'duplicate',
  description: 'Delivers each chunk twice with the given probability (0-1), as an at-least-once layer replaying a request would, so the application sees extra bytes (TCP) or a repeated datagram (UDP).',
  protocols: ['tcp', 'udp'],
  attributes: {
    probability: { kind: 'number', default: 0, unit: 'probability', min: 0, max: 1, description: 'chance that a chunk is written twice' },
  },
  async pipe(stage) {
    // Stop at an interrupt even with input queued: what is still queued belongs to the next
    // run (new attributes) or, on removal, to no fault at all.
    while (!stage.interrupted) {
      const chunk = await stage.read();
      if (chunk === null) return;
      const twice = stage.random.chance(stage.attributes.probability);
      await stage.write(chunk);
      if (!twice) continue;
      // This ALTERS the stream on purpose: the copy is extra data the peer never sent. The
      // Buffer is shared (sockets never mutate what they write), but the Chunk is new, because
      // a later delaying toxic advances `ts` in place and must not advance it twice.
      await stage.write({ data: chunk.data, ts: chunk.ts });
      stage.emit('duplicated', { bytes: chunk.data.length });
    }
  },
});
