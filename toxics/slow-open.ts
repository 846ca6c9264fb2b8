import { defineToxic, MAX_MS } from '../src/toxic.js';

type SlowOpenAttributes = { delay: number };

export const slowOpen = defineToxic<SlowOpenAttributes>({
  type: 'slow_open',
  description: 'Delays dialling the upstream by delay ms for each new connection: the client is accepted at once but its first reply stalls that long, and the server sees the connection arrive late.',
  protocols: ['tcp'],
  attributes: {
    delay: { kind: 'integer', default: 0, unit: 'ms', max: MAX_MS, description: 'wait before the upstream is dialled' },
  },
  // The fault is all in connection set-up, which the core owns: it waits before dialling and
  // reports the delay itself, since only it knows when the dial happens.
  connectDelay: (attrs) => attrs.delay,
  async pipe(stage) {
    // Once connected, data flows untouched.
    for (;;) {
      const chunk = await stage.read();
      if (chunk === null) return;
      await stage.write(chunk);
    }
  },
});
