import { defineToxic, MAX_MS, type Stage } from '../src/toxic.js';

type PartitionAttributes = { drop: boolean };

export const partition = defineToxic<PartitionAttributes>({
  type: 'partition',
  description: 'Nothing crosses in its direction, not even the FIN: data is held (the application sees a stall, then everything in order when the partition heals) or, with drop or on UDP, discarded (missing bytes); on both streams new connections wait until it heals.',
  protocols: ['tcp', 'udp'],
  attributes: {
    drop: { kind: 'boolean', default: false, description: 'discard data instead of holding it (UDP always discards)' },
  },
  // With both directions cut, a new connection could not get through either: it is accepted
  // and waits, as a SYN would be retransmitted until the link heals.
  holdsNewConnections: true,
  async pipe(stage) {
    // UDP has no retransmission: a datagram sent into a partition is gone, whatever `drop` says.
    if (stage.attributes.drop || stage.protocol === 'udp') {
      // Stops at an interrupt even with input queued, so an update to holding drops nothing more.
      while (!stage.interrupted) {
        const chunk = await stage.read();
        if (chunk === null) break;
        // DROPPED on purpose: a partition that discards is what the toxic was asked for.
        stage.emit('dropped', { bytes: chunk.data.length });
      }
    } else {
      // One chunk in hand is enough to report the hold; the rest stays in the input queue,
      // whose back-pressure stops the sender instead of growing memory.
      const chunk = await stage.read();
      if (chunk !== null) {
        stage.emit('held', { bytes: chunk.data.length });
        await holdUntilInterrupted(stage);
        // Back at the front of the input: an update keeps holding it, a removal delivers it
        // first, so the healed stream arrives whole and in order.
        stage.unread(chunk);
        return;
      }
    }
    // The input ended. Returning would pass the FIN on, and a FIN must not cross a partition
    // any more than data may: it waits for the toxic to change or go.
    if (!stage.interrupted) await holdUntilInterrupted(stage);
  },
});

async function holdUntilInterrupted(stage: Stage<PartitionAttributes>): Promise<void> {
  while (await stage.sleep(MAX_MS)) {
    // keep holding
  }
}
