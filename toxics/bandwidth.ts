import { defineToxic, MAX_MS } from '../src/toxic.js';

type BandwidthAttributes = { rate: number };

// Pieces are capped at 100 ms worth of data so a large chunk trickles out instead of
// arriving in one burst after a long pause.
const SLICE_MS = 100;

export const bandwidth = defineToxic<BandwidthAttributes>({
  type: 'bandwidth',
  description: 'Limits throughput to rate KB/s (1 KB = 1000 bytes); a rate of 0 stalls the stream until the toxic is changed or removed.',
  protocols: ['tcp', 'udp'],
  attributes: {
    rate: { kind: 'integer', default: 0, unit: 'KB/s', description: 'maximum throughput, 0 to stall' },
  },
  async pipe(stage) {
    const rate = stage.attributes.rate;
    if (rate === 0) {
      // Toxiproxy users rely on rate 0 as a stall ("half-open" link). Not reading at all holds
      // everything in the input queue, so nothing is lost when the toxic is changed.
      while (await stage.sleep(MAX_MS)) {
        // keep holding
      }
      return;
    }
    // A UDP chunk is one datagram: cutting it up would change the messages, not just their pace.
    const pieceSize = stage.protocol === 'udp' ? Infinity : rate * SLICE_MS;
    // A running schedule rather than one sleep per piece: timer overshoot on one piece is paid
    // back by a shorter sleep on the next, which keeps the long-run rate accurate.
    let next = stage.now();
    for (;;) {
      const chunk = await stage.read();
      if (chunk === null) return;
      const data = chunk.data;
      next = Math.max(next, stage.now());
      let slept = 0;
      for (let offset = 0; offset < data.length; ) {
        const end = Math.min(offset + pieceSize, data.length);
        next += (end - offset) / rate; // rate KB/s is rate bytes per ms
        const wait = next - stage.now();
        if (wait > 0) {
          slept += wait;
          if (!(await stage.sleep(Math.min(wait, MAX_MS)))) {
            // Interrupted: the rest of the chunk goes at once so the update loses nothing.
            await stage.write({ data: data.subarray(offset), ts: Math.max(chunk.ts, stage.now()) });
            break;
          }
        }
        // Stamped with its release time so a later delaying toxic adds to this delay.
        const ts = Math.max(chunk.ts, next);
        if (offset === 0 && end === data.length) {
          chunk.ts = ts;
          await stage.write(chunk);
        } else {
          await stage.write({ data: data.subarray(offset, end), ts });
        }
        offset = end;
      }
      if (slept > 0) stage.emit('delayed', { ms: Math.round(slept), bytes: data.length });
      if (stage.interrupted) return;
    }
  },
});
