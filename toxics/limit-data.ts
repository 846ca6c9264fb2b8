import { defineToxic } from '../src/toxic.js';

type LimitDataAttributes = { bytes: number };
type LimitDataState = { sent: number };

export const limitData = defineToxic<LimitDataAttributes, LimitDataState>({
  type: 'limit_data',
  description: 'Closes the connection once bytes bytes have passed in its direction.',
  protocols: ['tcp', 'udp'],
  attributes: {
    bytes: { kind: 'integer', default: 0, unit: 'bytes', description: 'total bytes allowed before closing' },
  },
  // The count lives in state so an update (say, raising the limit) continues from what was
  // already sent instead of granting a fresh allowance.
  state: () => ({ sent: 0 }),
  async pipe(stage) {
    const limit = stage.attributes.bytes;
    const state = stage.state;
    for (;;) {
      const chunk = await stage.read();
      if (chunk === null) return;
      // The close waits for data, as in Toxiproxy: a limit of 0 leaves an idle connection open.
      const room = limit - state.sent;
      const len = chunk.data.length;
      if (room > 0 && len <= room) {
        await stage.write(chunk);
        state.sent += len;
        if (state.sent < limit) continue;
      } else if (room > 0 && stage.protocol === 'tcp') {
        // Bytes past the limit are DROPPED on purpose: the peer gets exactly `limit` bytes.
        await stage.write({ data: chunk.data.subarray(0, room), ts: chunk.ts });
        state.sent += room;
      }
      // A UDP datagram that does not fit is DROPPED whole: a truncated datagram would be a
      // corrupt message rather than a cut-off stream.
      stage.emit('closed', { bytes: limit });
      stage.close();
      return;
    }
  },
});
