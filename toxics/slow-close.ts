import { defineToxic, MAX_MS } from '../src/toxic.js';

type SlowCloseAttributes = { delay: number };

export const slowClose = defineToxic<SlowCloseAttributes>({
  type: 'slow_close',
  description: 'Passes data unchanged but holds back the end of the stream for delay ms.',
  protocols: ['tcp'],
  attributes: {
    delay: { kind: 'integer', default: 0, unit: 'ms', max: MAX_MS, description: 'wait before the close is passed on' },
  },
  async pipe(stage) {
    for (;;) {
      const chunk = await stage.read();
      if (chunk === null) break;
      await stage.write(chunk);
    }
    // Only a real end of stream is slowed; an interrupt means the toxic is being changed and
    // the close has not happened yet.
    if (!stage.ended) return;
    const delay = stage.attributes.delay;
    if (delay > 0) {
      stage.emit('delayed', { ms: delay });
      // Returning is what lets the core propagate the close, so the wait happens first.
      await stage.sleep(delay);
    }
  },
});
