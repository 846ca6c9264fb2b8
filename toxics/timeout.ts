import { defineToxic, MAX_MS, TIMED_OUT } from '../src/toxic.js';

type TimeoutAttributes = { timeout: number };

export const timeout = defineToxic<TimeoutAttributes>({
  type: 'timeout',
  description: 'Drops all data in its direction and closes the connection after timeout ms without data (0 = never close). On UDP it drops every datagram in its direction, and a positive timeout ends the session after that long without datagrams (the next datagram from the client starts a new one).',
  protocols: ['tcp', 'udp'],
  attributes: {
    timeout: { kind: 'integer', default: 0, unit: 'ms', max: MAX_MS, description: 'idle time before closing, 0 for never' },
  },
  // Data was swallowed while the toxic was in place, so the stream cannot be resumed intact:
  // Toxiproxy closes the connection on removal rather than hand the peer a corrupt stream.
  // On UDP this ends the session, which costs nothing: the client's next datagram opens another.
  onRemove: 'close',
  async pipe(stage) {
    const limit = stage.attributes.timeout;
    // This toxic DROPS every chunk on purpose: it simulates a peer that stopped answering.
    if (limit === 0) {
      for (;;) {
        const chunk = await stage.read();
        if (chunk === null) return;
        stage.emit('dropped', { bytes: chunk.data.length });
      }
    }
    for (;;) {
      // A fresh deadline per read makes this an idle timeout: any arriving data re-arms it,
      // which is how Toxiproxy behaves.
      const chunk = await stage.readWithin(limit);
      if (chunk === null) return;
      if (chunk === TIMED_OUT) {
        stage.emit('closed', { after_ms: limit });
        stage.close();
        return;
      }
      stage.emit('dropped', { bytes: chunk.data.length });
    }
  },
});
