import { attributeError, defineToxic, MAX_MS } from '../src/toxic.js';

type SlicerAttributes = { average_size: number; size_variation: number; delay: number };

export const slicer = defineToxic<SlicerAttributes>({
  type: 'slicer',
  description: 'Splits data into pieces of about average_size bytes (± size_variation bytes), with delay µs after each piece.',
  protocols: ['tcp'],
  attributes: {
    average_size: { kind: 'integer', default: 1024, unit: 'bytes', min: 1, description: 'mean piece size' },
    size_variation: { kind: 'integer', default: 0, unit: 'bytes', description: 'random spread of the piece size' },
    delay: { kind: 'integer', default: 0, unit: 'µs', max: MAX_MS * 1000, description: 'pause after each piece' },
  },
  validate(attrs) {
    // A spread larger than the mean would allow pieces of zero or negative size.
    if (attrs.size_variation > attrs.average_size) {
      throw attributeError('size_variation', `must not exceed average_size (${attrs.average_size}), got ${attrs.size_variation}`);
    }
  },
  async pipe(stage) {
    const { average_size: avg, size_variation: spread } = stage.attributes;
    const delayMs = Math.min(stage.attributes.delay / 1000, MAX_MS);
    for (;;) {
      const chunk = await stage.read();
      if (chunk === null) return;
      const data = chunk.data;
      let pieces = 0;
      let offset = 0;
      while (offset < data.length) {
        const size = Math.max(1, spread > 0 ? stage.random.int(avg - spread, avg + spread) : avg);
        const end = Math.min(offset + size, data.length);
        // With a delay, a piece is stamped with its release time so a later delaying toxic adds
        // to it; without one the slicer takes no time and keeps the arrival stamp.
        const ts = delayMs > 0 ? Math.max(chunk.ts, stage.now()) : chunk.ts;
        if (offset === 0 && end === data.length) {
          chunk.ts = ts;
          await stage.write(chunk);
        } else {
          await stage.write({ data: data.subarray(offset, end), ts });
        }
        pieces++;
        offset = end;
        if (delayMs <= 0) continue;
        // Every gap is a full `delay` from the piece just written, as in Toxiproxy. Keeping an
        // overall schedule instead would let one late timer be made up by sending the next
        // pieces back to back, and the reader would get them as one read. stage.sleep finishes
        // below a millisecond on the check phase, so sub-millisecond delays hold per piece too.
        if (!(await stage.sleep(delayMs))) {
          // Interrupted: whatever is left of this chunk goes as one piece so nothing is lost.
          if (offset < data.length) {
            await stage.write({ data: data.subarray(offset), ts: Math.max(chunk.ts, stage.now()) });
            pieces++;
          }
          break;
        }
      }
      if (pieces > 1) stage.emit('sliced', { pieces, bytes: data.length });
      if (stage.interrupted) return;
    }
  },
});
