// An h2c upgrade through the proxy: the upgrade is answered only once the upstream has shown it
// speaks HTTP/2 (its SETTINGS arrived in answer to the proxy's preface, which carries the
// client's HTTP2-Settings); the upgraded request then goes to it as stream 1 and the connection
// is relayed frame by frame. If the upstream does not show it in time, the request goes to it
// as it came and the connection stays HTTP/1.1, as it would have without the proxy.

import type { HttpConnection, ProtocolSession } from './connection.js';
import type { Head } from './h1-parse.js';
import { FRAME_HEADER, PREFACE, SETTINGS, frame } from './h2-frame.js';
import { H2Relay } from './h2-relay.js';
import { SWITCHING, upgradeFrames, upgradeSettings } from './h2c.js';

/** How long the upstream may take to show it speaks HTTP/2 before the upgrade is declined. */
const PROBE_MS = 5_000;

/** An h2c upgrade request, and how to go on as HTTP/1.1 if the upstream cannot do HTTP/2. */
export interface H2Upgrade {
  head: Head;
  body: Buffer;
  decline(early: Buffer): void;
}

export class H2cSession implements ProtocolSession {
  private readonly relay: H2Relay;
  private relaying = false;
  private done = false;
  private early: Buffer[] = [];
  private answer: Buffer[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly conn: HttpConnection, private readonly upgrade: H2Upgrade) {
    this.relay = new H2Relay(conn, true);
    this.relay.tap = { data: (d) => this.probed(d), end: () => this.decline() };
    this.relay.swallowAcks = 1;
    this.relay.toUpstream(PREFACE);
    const settings = frame(SETTINGS, 0, 0, upgradeSettings(upgrade.head));
    this.relay.settings({ type: SETTINGS, flags: 0, sid: 0, raw: settings }, this.relay.down);
    this.relay.toUpstream(settings);
    void this.relay.flush();
    void this.relay.dial();
    this.timer = setTimeout(() => this.decline(), PROBE_MS);
  }

  fromClient(data: Buffer): void | Promise<void> {
    if (this.relaying) return this.relay.fromClient(data);
    if (!this.done) this.early.push(data);
  }

  clientEnded(): void {
    if (this.relaying) this.relay.clientEnded();
    else this.conn.endClient('client closed');
  }

  destroy(): void {
    clearTimeout(this.timer);
    this.done = true;
    this.relay.destroy();
  }

  /** The upstream's first bytes: a SETTINGS frame on stream 0 says it speaks HTTP/2. */
  private probed(data: Buffer): void {
    if (this.done) return;
    this.answer.push(data);
    const seen = Buffer.concat(this.answer);
    if (seen.length < FRAME_HEADER) return;
    if (seen[3] !== SETTINGS || seen[4] !== 0 || seen.readUInt32BE(5) !== 0 || seen.readUIntBE(0, 3) % 6 !== 0) return this.decline();
    clearTimeout(this.timer);
    this.done = true;
    this.relay.tap = null;
    void this.conn.toClient(SWITCHING);
    const body = this.upgrade.body;
    // The upstream gives back window for stream 1's body, which the client never sent as DATA;
    // owed before the frames go, as a toxic that drops them takes it back at once.
    this.relay.injected('upstream', body.length);
    this.relay.fromClientFrames(upgradeFrames(this.upgrade.head, body));
    void this.relay.fromUpstream(seen);
    this.relaying = true;
    if (this.early.length > 0) void this.relay.fromClient(Buffer.concat(this.early));
    this.early = [];
  }

  private decline(): void {
    if (this.done || this.conn.closing) return;
    clearTimeout(this.timer);
    this.done = true;
    this.relay.tap = null;
    this.relay.destroy();
    this.upgrade.decline(Buffer.concat(this.early));
  }
}
