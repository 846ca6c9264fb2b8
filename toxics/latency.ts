import { defineToxic, MAX_MS } from '../src/toxic.js';

type LatencyAttributes = { latency: number; jitter: number };

export const latency = defineToxic<LatencyAttributes>({
  type: 'latency',
  description: 'Delays each chunk by latency ms, plus or minus a random jitter in ms.',
  protocols: ['tcp', 'udp'],
  attributes: {
    latency: { kind: 'integer', default: 0, unit: 'ms', max: MAX_MS, description: 'delay added to each chunk' },
    jitter: { kind: 'integer', default: 0, unit: 'ms', max: MAX_MS, description: 'random variation around the delay' },
  },
  // Chunks wait here while earlier ones sleep. A deep queue keeps the socket reading, so a
  // high latency delays the stream without capping its throughput.
  buffer: 32 * 1024 * 1024,
  async pipe(stage) {
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
