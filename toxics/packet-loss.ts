import { defineToxic, type RandomSource } from '../src/toxic.js';

type PacketLossAttributes = {
  loss_rate: number; correlation: number; mode: 'drop' | 'retransmit'; rto: number;
  model: 'simple' | 'gilbert_elliott'; p: number; r: number; h: number; k: number;
};
// `bad` is the Gilbert-Elliott state; kept even while the simple model runs, so switching
// models by update neither needs nor loses anything.
type PacketLossState = { lastLost: boolean; backoff: number; bad: boolean };

// RFC 6298 lets a TCP cap its retransmission timeout at 60 s or more; past that a doubled wait
// would only hang the test, so consecutive losses stop growing the stall here.
const MAX_RTO_MS = 60_000;

export const packetLoss = defineToxic<PacketLossAttributes, PacketLossState>({
  type: 'packet_loss',
  description: 'Loses each chunk with probability loss_rate (0-1, plus correlation right after a loss), or in bursts with model gilbert_elliott (the Gilbert-Elliott model as netem defines it: p and r move between a good and a bad state, k and h are the chances of delivery in each; with h = 0 the mean burst is 1/r chunks). Mode drop discards a lost chunk (missing bytes); mode retransmit stalls it and everything behind it for rto ms, doubling per consecutive loss, as TCP would (no byte lost; on UDP retransmit drops too, as UDP never retransmits).',
  protocols: ['tcp', 'udp'],
  attributes: {
    loss_rate: { kind: 'number', default: 0, unit: 'probability', min: 0, max: 1, description: 'chance that a chunk is lost' },
    correlation: { kind: 'number', default: 0, unit: 'probability', min: 0, max: 1, description: 'extra loss chance right after a loss, for bursts' },
    mode: { kind: 'enum', default: 'drop', values: ['drop', 'retransmit'], description: 'discard lost chunks, or stall them as a TCP retransmission would' },
    rto: { kind: 'integer', default: 200, unit: 'ms', min: 1, max: MAX_RTO_MS, description: 'stall for the first loss in retransmit mode, doubled for each consecutive loss' },
    model: { kind: 'enum', default: 'simple', values: ['simple', 'gilbert_elliott'], description: 'simple uses loss_rate and correlation; gilbert_elliott uses p, r, h and k' },
    // netem spells these `gemodel p r 1-h 1-k`: it takes the loss chances, these are their complements.
    p: { kind: 'number', default: 0, unit: 'probability', min: 0, max: 1, description: 'gilbert_elliott: chance of moving from the good state to the bad one' },
    r: { kind: 'number', default: 1, unit: 'probability', min: 0, max: 1, description: 'gilbert_elliott: chance of moving from the bad state to the good one' },
    h: { kind: 'number', default: 0, unit: 'probability', min: 0, max: 1, description: 'gilbert_elliott: chance that a chunk is delivered in the bad state' },
    k: { kind: 'number', default: 1, unit: 'probability', min: 0, max: 1, description: 'gilbert_elliott: chance that a chunk is delivered in the good state' },
  },
  // Kept in state so a burst and its backoff carry on across an update instead of restarting.
  state: () => ({ lastLost: false, backoff: 0, bad: false }),
  async pipe(stage) {
    const state = stage.state;
    // Stop at an interrupt even with input queued: what is still queued belongs to the next
    // run (new attributes) or, on removal, to no fault at all.
    while (!stage.interrupted) {
      const chunk = await stage.read();
      if (chunk === null) return;
      const { loss_rate: rate, correlation, mode, rto, model } = stage.attributes;
      let lost: boolean;
      if (model === 'gilbert_elliott') {
        lost = gilbertElliott(stage.attributes, state, stage.random);
      } else {
        // Correlation models bursty links (Gilbert-style): losses cluster instead of spreading evenly.
        lost = stage.random.chance(state.lastLost ? Math.min(1, rate + correlation) : rate);
      }
      if (!lost) {
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

/**
 * One step of the Gilbert-Elliott chain, in netem's order (loss_gilb_ell): draw the state
 * transition first, then the loss, which is decided by the state the chunk arrived in (netem
 * compares against the old state's loss chance in the same switch arm). So with h = 0 a burst
 * is the run of chunks seen in the bad state, of mean length 1/r.
 */
function gilbertElliott(ge: PacketLossAttributes, state: PacketLossState, random: RandomSource): boolean {
  const wasBad = state.bad;
  if (random.chance(wasBad ? ge.r : ge.p)) state.bad = !wasBad;
  return !random.chance(wasBad ? ge.h : ge.k);
}
