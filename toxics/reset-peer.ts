import { defineToxic, MAX_MS } from '../src/toxic.js';

type ResetPeerAttributes = { timeout: number };

export const resetPeer = defineToxic<ResetPeerAttributes>({
  type: 'reset_peer',
  description: 'Resets the connection (TCP RST) timeout ms after the first data arrives in its direction.',
  protocols: ['tcp'],
  attributes: {
    timeout: { kind: 'integer', default: 0, unit: 'ms', max: MAX_MS, description: 'wait after the first data before resetting' },
  },
  async pipe(stage) {
    // Nothing happens on an idle connection: the reset is triggered by traffic.
    const first = await stage.read();
    if (first === null) return;
    // The triggering chunk is DROPPED on purpose: the peer must see a reset, not the data.
    const wait = stage.attributes.timeout;
    if (wait > 0 && !(await stage.sleep(wait))) return;
    stage.emit('reset', { after_ms: wait });
    stage.reset();
  },
});
