import { defineToxic, type RandomSource } from '../src/toxic.js';

type CorruptAttributes = { probability: number; bits: number };

export const corrupt = defineToxic<CorruptAttributes>({
  type: 'corrupt',
  description: 'Flips bits random bits in a chunk with the given probability (0-1), so the application receives the right number of bytes with wrong contents.',
  protocols: ['tcp', 'udp'],
  attributes: {
    probability: { kind: 'number', default: 0, unit: 'probability', min: 0, max: 1, description: 'chance that a chunk is corrupted' },
    bits: { kind: 'integer', default: 1, unit: 'bits', min: 1, max: 1_000_000, description: 'distinct bits flipped in a corrupted chunk (all of them if the chunk is smaller)' },
  },
  async pipe(stage) {
    // Stop at an interrupt even with input queued: what is still queued belongs to the next
    // run (new attributes) or, on removal, to no fault at all.
    while (!stage.interrupted) {
      const chunk = await stage.read();
      if (chunk === null) return;
      if (chunk.data.length === 0 || !stage.random.chance(stage.attributes.probability)) {
        await stage.write(chunk);
        continue;
      }
      // This CORRUPTS the data on purpose. It works on a copy: the original Buffer may be
      // shared (a duplicate upstream of here writes it twice) and must stay intact.
      const data = Buffer.from(chunk.data);
      const flipped = flipBits(data, stage.attributes.bits, stage.random);
      await stage.write({ data, ts: chunk.ts });
      stage.emit('corrupted', { bits: flipped, bytes: data.length });
    }
  },
});

/** Flips `bits` distinct random bits of `data` in place (every bit if it has no more); returns how many. */
function flipBits(data: Buffer, bits: number, random: RandomSource): number {
  const total = data.length * 8;
  if (bits >= total) {
    for (let i = 0; i < data.length; i++) data[i] = data[i]! ^ 0xff;
    return total;
  }
  // Rejection sampling stays cheap only while picks are sparse, so for more than half the bits
  // it picks the ones to leave alone instead: flip all, then flip those back.
  const invert = bits > total / 2;
  const picks = invert ? total - bits : bits;
  if (invert) for (let i = 0; i < data.length; i++) data[i] = data[i]! ^ 0xff;
  const chosen = new Set<number>();
  while (chosen.size < picks) chosen.add(random.int(0, total - 1));
  for (const bit of chosen) data[bit >> 3] = data[bit >> 3]! ^ (1 << (bit & 7));
  return bits;
}
