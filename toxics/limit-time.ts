import { defineToxic, MAX_MS, TIMED_OUT } from '../src/toxic.js';

type LimitTimeAttributes = { duration: number };

export const limitTime = defineToxic<LimitTimeAttributes>({
  type: 'limit_time',
  description: 'Closes the connection (FIN both ways) duration ms after it opened, whether or not data is flowing; a connection already older closes at once.',
  protocols: ['tcp'],
  attributes: {
    duration: { kind: 'integer', default: 60_000, unit: 'ms', min: 1, max: MAX_MS, description: 'connection lifetime' },
  },
  async pipe(stage) {
    const duration = stage.attributes.duration;
    // Measured from the connection's start, not this run's: an update or a late add must not
    // grant the connection a fresh lifetime.
    const deadline = stage.connectedAt + duration;
    for (;;) {
      // Checked after every write too, so a busy stream is cut on time as well as an idle one.
      const left = deadline - stage.now();
      if (left <= 0) break;
      const chunk = await stage.readWithin(left);
      if (chunk === null) return;
      // Timers may fire a little early; the loop re-checks the clock rather than trusting it.
      if (chunk === TIMED_OUT) continue;
      await stage.write(chunk);
    }
    stage.emit('closed', { after_ms: duration });
    stage.close();
  },
});
