import { defineToxic } from '../src/toxic.js';

type PacketLossAttributes = { loss_rate: number; correlation: number; mode: 'drop' | 'retransmit'; rto: number };
type PacketLossState = { lastLost: boolean; backoff: number };

// RFC 6298 lets a TCP cap its retransmission timeout at 60 s or more; past that a doubled wait
// would only hang the test, so consecutive losses stop growing the stall here.
const MAX_RTO_MS = 60_000;

export const packetLoss = defineToxic<PacketLossAttributes, PacketLossState>({
  type: 'packet_loss',
  description: 'Loses each chunk with probability loss_rate (0-1, plus correlation right after a loss): mode drop discards it (missing bytes), mode retransmit stalls it and everything behind it for rto ms, doubling per consecutive loss, as TCP would (no byte lost; on UDP retransmit drops too, as UDP never retransmits).',
  protocols: ['tcp', 'udp'],
  attributes: {
    loss_rate: { kind: 'number', default: 0, unit: 'probability', min: 0, max: 1, description: 'chance that a chunk is lost' },
    correlation: { kind: 'number', default: 0, unit: 'probability', min: 0, max: 1, description: 'extra loss chance right after a loss, for bursts' },
    mode: { kind: 'enum', default: 'drop', values: ['drop', 'retransmit'], description: 'discard lost chunks, or stall them as a TCP retransmission would' },
    rto: { kind: 'integer', default: 200, unit: 'ms', min: 1, max: MAX_RTO_MS, description: 'stall for the first loss in retransmit mode, doubled for each consecutive loss' },
  },
  // Kept in state so a burst and its backoff carry on across an update instead of restarting.
  state: () => ({ lastLost: false, backoff: 0 }),
  async pipe(stage) {
    const state = stage.state;
    // Stop at an interrupt even with input queued: what is still queued belongs to the next
    // run (new attributes) or, on removal, to no fault at all.
    while (!stage.interrupted) {
      const chunk = await stage.read();
      if (chunk === null) return;
      const { loss_rate: rate, correlation, mode, rto } = stage.attributes;
      // Correlation models bursty links (Gilbert-style): losses cluster instead of spreading evenly.
      const p = state.lastLost ? Math.min(1, rate + correlation) : rate;
      if (!stage.random.chance(p)) {
        state.lastLost = false;
        state.backoff = 0;
        await stage.write(chunk);
        continue;
      }
      state.lastLost = true;
      if (mode === 'drop' || stage.protocol === 'udp') {
        // The chunk is DROPPED on purpose: that is the fault. A UDP datagram is never
        // retransmitted, so retransmit mode drops it too.
        stage.emit('dropped', { bytes: chunk.data.length });
        continue;
      }
      // Retransmit: nothing is lost or reordered. Holding this chunk holds everything behind
      // it too, since chunks are handled one at a time, as a receiver waiting for a missing
      // segment delivers nothing after it. The exponent is capped so it cannot overflow.
      state.backoff = Math.min(state.backoff + 1, 32);
      const wait = Math.min(rto * 2 ** (state.backoff - 1), MAX_RTO_MS);
      stage.emit('held', { ms: wait, bytes: chunk.data.length });
      const start = stage.now();
      await stage.sleep(wait);
      stage.emit('released', { ms: Math.round(stage.now() - start) });
      // Stamped with its release time so a later delaying toxic adds to this stall.
      chunk.ts = Math.max(chunk.ts, stage.now());
      // On an interrupt the chunk goes at once: the stall ends, the data still arrives.
      await stage.write(chunk);
    }
  },
});
