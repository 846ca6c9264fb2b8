import { defineToxic, MAX_MS, TIMED_OUT, type Chunk, type Stage } from '../src/toxic.js';

type LatencyAttributes = { latency: number; jitter: number };

// A held datagram: `seq` breaks ties so datagrams due at the same moment keep arrival order.
type Held = { due: number; seq: number; delay: number; chunk: Chunk };

// The core's input queue bounds what arrives, but this toxic reads eagerly to keep its clock;
// past this many held datagrams it stops reading (back-pressure) rather than grow without end.
const MAX_HELD = 10_000;

export const latency = defineToxic<LatencyAttributes>({
  type: 'latency',
  description: 'Delays each chunk by latency ms, plus or minus a random jitter in ms. On TCP the stream keeps its order; on UDP each datagram is delayed independently, so jitter reorders datagrams as it does on real networks.',
  protocols: ['tcp', 'udp'],
  attributes: {
    latency: { kind: 'integer', default: 0, unit: 'ms', max: MAX_MS, description: 'delay added to each chunk' },
    jitter: { kind: 'integer', default: 0, unit: 'ms', max: MAX_MS, description: 'random variation around the delay' },
  },
  // Chunks wait here while earlier ones sleep. A deep queue keeps the socket reading, so a
  // high latency delays the stream without capping its throughput.
  buffer: 32 * 1024 * 1024,
  async pipe(stage) {
    if (stage.protocol === 'udp') return datagrams(stage);
    for (;;) {
      const chunk = await stage.read();
      if (chunk === null) return;
      const { latency: base, jitter } = stage.attributes;
      // A negative delay is allowed on purpose (jitter > latency): such chunks go at once.
      const delay = jitter > 0 ? base + stage.random.int(-jitter, jitter) : base;
      if (delay > 0) {
        // Measured from arrival, so time spent queued behind earlier chunks counts towards it.
        const wait = chunk.ts + delay - stage.now();
        if (wait > 0) await stage.sleep(Math.min(wait, MAX_MS));
        // Advancing the stamp lets a later latency toxic add its delay on top of this one. If
        // the sleep was cut short by an interrupt, the chunk really left now, so stamp no later.
        chunk.ts = Math.min(chunk.ts + delay, stage.now());
        stage.emit('delayed', { ms: delay });
      }
      await stage.write(chunk);
    }
  },
});

/** UDP: every datagram gets its own delay and leaves when due, so a shorter one overtakes. */
async function datagrams(stage: Stage<LatencyAttributes>): Promise<void> {
  const heap: Held[] = [];
  let seq = 0;
  for (;;) {
    while (heap.length > 0 && heap[0]!.due <= stage.now()) await release(stage, pop(heap));
    let got: Chunk | null | typeof TIMED_OUT;
    const wait = heap.length > 0 ? heap[0]!.due - stage.now() : 0;
    if (heap.length === 0) got = await stage.read();
    else if (heap.length >= MAX_HELD) got = (await stage.sleep(wait)) ? TIMED_OUT : null;
    // Never a plain sleep for a sub-millisecond wait, though readWithin rounds it up to 1 ms:
    // under a flood something is always that close to due, and sleeping would stop reading, so
    // datagrams due meanwhile would sit unread in the input and leave late.
    else got = await stage.readWithin(Math.min(wait, MAX_MS));
    if (got === TIMED_OUT) continue;
    if (got === null) {
      // Interrupted: nothing held may be lost, so it all goes now, still in due order.
      while (heap.length > 0) await release(stage, pop(heap));
      return;
    }
    const { latency: base, jitter } = stage.attributes;
    // Clamped at 0: a datagram cannot leave before it arrived.
    const delay = Math.max(0, jitter > 0 ? base + stage.random.int(-jitter, jitter) : base);
    push(heap, { due: got.ts + delay, seq: seq++, delay, chunk: got });
  }
}

async function release(stage: Stage<LatencyAttributes>, held: Held): Promise<void> {
  // Stamped with its due time so a later delaying toxic adds to it; no later than now, in
  // case an interrupt sent it early.
  held.chunk.ts = Math.min(held.due, stage.now());
  if (held.delay > 0) stage.emit('delayed', { ms: held.delay });
  await stage.write(held.chunk);
}

// A binary min-heap on (due, seq): O(log n) per datagram even with thousands held.
const before = (a: Held, b: Held) => a.due < b.due || (a.due === b.due && a.seq < b.seq);

function push(heap: Held[], item: Held): void {
  let i = heap.push(item) - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(item, heap[parent]!)) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = item;
}

function pop(heap: Held[]): Held {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length === 0) return top;
  let i = 0;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= heap.length) break;
    if (child + 1 < heap.length && before(heap[child + 1]!, heap[child]!)) child++;
    if (!before(heap[child]!, last)) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = last;
  return top;
}
