import { defineToxic, MAX_MS, TIMED_OUT, type Chunk, type Stage } from '../src/toxic.js';

type BandwidthAttributes = { rate: number; queue: number };

// Pieces are capped at 100 ms worth of data so a large chunk trickles out instead of
// arriving in one burst after a long pause.
const SLICE_MS = 100;
// How far behind its schedule the stream may be before the lost time is forgiven.
const DEBT_MS = 20;

export const bandwidth = defineToxic<BandwidthAttributes>({
  type: 'bandwidth',
  description: 'Limits throughput to rate KB/s (1 KB = 1000 bytes); a rate of 0 stalls the stream until the toxic is changed or removed. On UDP whole datagrams are paced through a queue of at most queue datagrams, and those arriving while it is full are tail-dropped, as a router queue does.',
  protocols: ['tcp', 'udp'],
  attributes: {
    rate: { kind: 'integer', default: 0, unit: 'KB/s', description: 'maximum throughput, 0 to stall' },
    // UDP only: a TCP toxic has no queue attribute (as in Toxiproxy), so TCP never reads it.
    queue: {
      kind: 'integer', default: 100, unit: 'datagrams', min: 1, max: 1_000_000, protocols: ['udp'],
      description: 'datagrams held waiting to be sent before further ones are dropped',
    },
  },
  async pipe(stage) {
    if (stage.protocol === 'udp') return datagrams(stage);
    const rate = stage.attributes.rate;
    if (rate === 0) {
      // Toxiproxy users rely on rate 0 as a stall ("half-open" link). Not reading at all holds
      // everything in the input queue, so nothing is lost when the toxic is changed.
      while (await stage.sleep(MAX_MS)) {
        // keep holding
      }
      return;
    }
    const pieceSize = rate * SLICE_MS;
    // A running schedule rather than one sleep per piece: timer overshoot on one piece is paid
    // back by a shorter sleep on the next, which keeps the long-run rate accurate.
    let next = stage.now();
    for (;;) {
      const chunk = await stage.read();
      if (chunk === null) return;
      const data = chunk.data;
      // The schedule restarts only after the stream went idle (the chunk came after the last
      // one was due). A chunk that waited in the queue keeps the schedule, so a late timer is
      // paid back; but never more than DEBT_MS of it, so a long stall downstream (a slow
      // reader) is not followed by a burst above the rate.
      next = Math.max(next, chunk.ts, stage.now() - DEBT_MS);
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

/**
 * UDP: a router queue. Whole datagrams leave at `rate` (cutting one up would change the
 * messages, not just their pace); arrivals are read eagerly, so the queue, not the sender,
 * absorbs a burst, and what does not fit is lost. Rate 0 sends nothing: the queue fills and
 * every later datagram is dropped.
 */
async function datagrams(stage: Stage<BandwidthAttributes>): Promise<void> {
  const { rate, queue: capacity } = stage.attributes;
  const fifo: (Chunk | undefined)[] = [];
  let head = 0;
  // When the link is free again: a running schedule keeps the long-run rate exact although
  // timers are coarse and a datagram may leave up to a millisecond early.
  let free = -Infinity;
  let due = Infinity; // when fifo[head] has been transmitted, once it has started
  for (;;) {
    let got: Chunk | null | typeof TIMED_OUT;
    const chunk = fifo[head];
    if (chunk === undefined || rate === 0) {
      got = await stage.read();
    } else {
      if (due === Infinity) free = due = Math.max(free, chunk.ts) + chunk.data.length / rate; // KB/s = bytes/ms
      const wait = due - stage.now();
      if (wait < 1) {
        // Below timer resolution: send now rather than sleep a whole millisecond per datagram.
        fifo[head++] = undefined;
        if (head > 1024 && head * 2 > fifo.length) { fifo.splice(0, head); head = 0; }
        await send(stage, chunk, due);
        due = Infinity;
        continue;
      }
      got = await stage.readWithin(Math.min(wait, MAX_MS));
    }
    if (got === TIMED_OUT) continue;
    if (got === null) {
      // Interrupted: what the queue holds goes on at once and in order, as the TCP path sends
      // the rest of a chunk, so an update or removal loses nothing more.
      for (let i = head; i < fifo.length; i++) await send(stage, fifo[i]!, stage.now());
      return;
    }
    if (fifo.length - head >= capacity) {
      // Tail-DROPPED on purpose: a full queue discarding arrivals is the fault being modelled.
      stage.emit('dropped', { bytes: got.data.length, reason: 'queue_full' });
      continue;
    }
    fifo.push(got);
  }
}

async function send(stage: Stage<BandwidthAttributes>, chunk: Chunk, at: number): Promise<void> {
  // Stamped with when it left, so a later delaying toxic adds to this delay.
  const ts = Math.max(chunk.ts, Math.min(at, stage.now()));
  if (ts > chunk.ts) stage.emit('delayed', { ms: Math.round(ts - chunk.ts), bytes: chunk.data.length });
  chunk.ts = ts;
  await stage.write(chunk);
}
