// Aggregate throughput: many connections at once, each a bulk transfer into the sink as fast as
// back-pressure allows (measure.ts pumpUntil). All connections are opened before the clock
// starts, all write until the same instant, and the clock stops when the last sink count is in:
// MB/s = the bytes every sink acknowledged / that wall time. One connection shows the cost of a
// chunk's trip through the proxy; many show how the proxy shares its process among streams.

import { connect, pumpUntil } from './measure.js';

export async function aggregateThroughput(sinkPort: number, connections: number, ms: number): Promise<number> {
  const sockets = await Promise.all(Array.from({ length: connections }, () => connect(sinkPort)));
  const start = process.hrtime.bigint();
  const stopAt = start + BigInt(ms) * 1_000_000n;
  try {
    const bytes = await Promise.all(sockets.map((socket) => pumpUntil(socket, stopAt)));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    return bytes.reduce((a, b) => a + b, 0) / 1e6 / seconds;
  } finally {
    for (const socket of sockets) socket.destroy();
  }
}
