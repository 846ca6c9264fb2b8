import { defineToxic, MAX_MS, TIMED_OUT } from '../src/toxic.js';

type ReorderAttributes = { probability: number; gap: number; max_delay: number };

export const reorder = defineToxic<ReorderAttributes>({
  type: 'reorder',
  description: 'Holds a chunk back with the given probability (0-1) until gap later chunks have passed it or max_delay ms have elapsed, so the application sees bytes (TCP) or datagrams (UDP) out of order, or a short stall when nothing overtakes.',
  protocols: ['tcp', 'udp'],
  attributes: {
    probability: { kind: 'number', default: 0, unit: 'probability', min: 0, max: 1, description: 'chance that a chunk is held back' },
    gap: { kind: 'integer', default: 1, unit: 'chunks', min: 1, max: 1_000_000, description: 'later chunks that overtake the held one' },
    max_delay: { kind: 'integer', default: 100, unit: 'ms', max: MAX_MS, description: 'longest a chunk is held waiting to be overtaken' },
  },
  async pipe(stage) {
    // Stop at an interrupt even with input queued: what is still queued belongs to the next
    // run (new attributes) or, on removal, to no fault at all.
    while (!stage.interrupted) {
      const chunk = await stage.read();
      if (chunk === null) return;
      const { probability, gap, max_delay: maxDelay } = stage.attributes;
      if (!stage.random.chance(probability)) {
        await stage.write(chunk);
        continue;
      }
      // This REORDERS the stream on purpose. One chunk is held at a time: those overtaking it
      // are not candidates themselves, which keeps the fault easy to reason about.
      const heldAt = stage.now();
      const deadline = heldAt + maxDelay;
      let passed = 0;
      while (passed < gap && !stage.interrupted) {
        const remaining = deadline - stage.now();
        if (remaining <= 0) break;
        const next = await stage.readWithin(remaining);
        // End of stream or interrupt: the held chunk still goes, below, so nothing is lost.
        if (next === null || next === TIMED_OUT) break;
        await stage.write(next);
        passed++;
      }
      const waited = Math.round(stage.now() - heldAt);
      // Stamped with its release time so a later delaying toxic adds to the hold.
      chunk.ts = Math.max(chunk.ts, stage.now());
      await stage.write(chunk);
      // Nothing overtook it (max_delay ran out first): that is a delay, not a reorder, and
      // reporting it as one would make the events disagree with what the peer received.
      if (passed > 0) stage.emit('reordered', { bytes: chunk.data.length, passed, waited_ms: waited });
      else if (waited > 0) stage.emit('delayed', { ms: waited, bytes: chunk.data.length });
    }
  },
});
