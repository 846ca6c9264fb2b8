import { defineToxic } from '../src/toxic.js';

// Explicitly keyless: the failure has no degree, the peer is either there or gone.
type HalfOpenAttributes = Record<string, never>;

export const halfOpen = defineToxic<HalfOpenAttributes>({
  type: 'half_open',
  description: 'The far peer vanishes without a FIN or RST: on downstream the server is gone and the client sees silence on a connection that still accepts writes; on upstream the client is gone and the server sees the same.',
  protocols: ['tcp'],
  attributes: {},
  // The orphaned socket is reset only when the toxic goes, as a keepalive probe would finally
  // discover the dead peer; until then the near side must see nothing at all.
  onRemove: 'reset',
  async pipe(stage) {
    // The core closes the far socket and keeps the near one open, reading and discarding:
    // the toxic only triggers it, since sockets are not the toxic's to touch.
    stage.vanish();
    stage.emit('closed', { half_open: true });
  },
});
