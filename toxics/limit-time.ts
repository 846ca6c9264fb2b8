import { defineToxic, MAX_MS } from '../src/toxic.js';

type LimitTimeAttributes = { duration: number };

export const limitTime = defineToxic<LimitTimeAttributes>({
  type: 'limit_time',
  description: 'Closes the connection (FIN both ways) duration ms after it opened, whether or not data is flowing; a connection already older closes at once.',
  protocols: ['tcp'],
  attributes: {
    duration: { kind: 'integer', default: 60_000, unit: 'ms', min: 1, max: MAX_MS, description: 'connection lifetime' },
  },
  // The deadline belongs to the connection, not to this stream: it must still fire after this
  // direction has half-closed, when the pipe below has long returned. So the core keeps it.
  lifetime: (attributes) => attributes.duration,
  async pipe(stage) {
    for (;;) {
      const chunk = await stage.read();
      if (chunk === null) return;
      await stage.write(chunk);
    }
  },
});
