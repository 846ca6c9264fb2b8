// DNS over TCP frames each message with a two-byte length (RFC 1035 4.2.2), which also bounds a
// message to 65,535 bytes: a reader never holds more than one frame and its prefix.

export class FrameReader {
  private held: Buffer | null = null;

  /** Feeds bytes in; `onFrame` gets each complete message, in order. */
  push(data: Buffer, onFrame: (message: Buffer) => void): void {
    let buf = this.held === null ? data : Buffer.concat([this.held, data]);
    this.held = null;
    while (buf.length >= 2) {
      const end = 2 + buf.readUInt16BE(0);
      if (buf.length < end) break;
      onFrame(buf.subarray(2, end));
      buf = buf.subarray(end);
    }
    if (buf.length > 0) this.held = Buffer.from(buf);
  }
}

/** The message with its length in front. */
export function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(message.length + 2);
  out.writeUInt16BE(message.length, 0);
  message.copy(out, 2);
  return out;
}
