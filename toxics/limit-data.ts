import { defineToxic, type Stage } from '../src/toxic.js';

type LimitDataAttributes = { bytes: number };
// `cut`: on UDP the first datagram dropped ends the allowance for good, as the close does on TCP.
type LimitDataState = { sent: number; cut: boolean };

export const limitData = defineToxic<LimitDataAttributes, LimitDataState>({
  type: 'limit_data',
  description: 'Closes the connection once bytes bytes have passed in its direction. On UDP it drops instead of closing: a datagram that would cross the limit is dropped whole, and so is every later one in that direction.',
  protocols: ['tcp', 'udp'],
  attributes: {
    bytes: { kind: 'integer', default: 0, unit: 'bytes', description: 'total bytes allowed before closing' },
  },
  // The count lives in state so an update (say, raising the limit) continues from what was
  // already sent instead of granting a fresh allowance.
  state: () => ({ sent: 0, cut: false }),
  async pipe(stage) {
    if (stage.protocol === 'udp') return datagrams(stage);
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
      } else if (room > 0) {
        // Bytes past the limit are DROPPED on purpose: the peer gets exactly `limit` bytes.
        await stage.write({ data: chunk.data.subarray(0, room), ts: chunk.ts });
        state.sent += room;
      }
      stage.emit('closed', { bytes: limit });
      stage.close();
      return;
    }
  },
});

/** UDP has no close to send: the session stays, and what exceeds the limit is lost. */
async function datagrams(stage: Stage<LimitDataAttributes, LimitDataState>): Promise<void> {
  const state = stage.state;
  for (;;) {
    const chunk = await stage.read();
    if (chunk === null) return;
    const len = chunk.data.length;
    // Once the limit is reached even an empty datagram is past it. One that does not fit is
    // DROPPED whole, since a truncated datagram would be a corrupt message rather than a
    // cut-off stream; everything after it goes too, as nothing follows a close on TCP.
    if (!state.cut && state.sent < stage.attributes.bytes && len <= stage.attributes.bytes - state.sent) {
      state.sent += len;
      await stage.write(chunk);
      continue;
    }
    state.cut = true;
    stage.emit('dropped', { bytes: len, reason: 'limit' });
  }
}
