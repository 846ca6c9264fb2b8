// The slicer's spacing over real loopback sockets: with average_size 1 and delay 2000 µs, a
// 24-byte message must reach the reader as 24 reads about 2 ms apart, as through Toxiproxy, and
// a late timer (here, the event loop held up on purpose) must delay the pieces after it rather
// than be made up by sending them back to back, which the reader would get as one read.
// Client and proxy share this process, so any stall delays both; the figures are logged.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { performance } from 'node:perf_hooks';
import { connect, echoServer, percentile, startServer, type TestServer, type Upstream } from './_helpers/net.js';
import { within } from './_helpers/toxics.js';

const SIZE = 24;
const DELAY_US = 2000;

let echo: Upstream;
let server: TestServer;
let port = 0;

test.before(async () => {
  echo = await echoServer();
  server = await startServer();
  port = await server.proxy('sliced', echo.address);
  const res = await server.toxic('sliced', { type: 'slicer', attributes: { average_size: 1, size_variation: 0, delay: DELAY_US } });
  assert.is(res.status, 200, res.text);
});

test.after(async () => {
  await server?.close();
  await echo?.close();
});

/** Sends SIZE bytes through the slicer and returns when each read arrived and its size. */
async function trial(onFirstRead?: () => void): Promise<{ at: number[]; sizes: number[] }> {
  const client = await connect(port);
  try {
    const at: number[] = [];
    const sizes: number[] = [];
    let got = 0;
    const done = new Promise<void>((resolve) => client.on('data', (d: Buffer) => {
      at.push(performance.now());
      if (at.length === 1) onFirstRead?.();
      sizes.push(d.length);
      got += d.length;
      if (got >= SIZE) resolve();
    }));
    client.write(Buffer.alloc(SIZE, 0x61));
    await within(done, 5000, 'the sliced message');
    assert.is(got, SIZE);
    return { at, sizes };
  } finally {
    client.destroy();
  }
}

const gapsOf = (at: number[]) => at.slice(1).map((t, i) => t - at[i]!);
const fmt = (ms: number) => ms.toFixed(2);

test('slicer average_size 1, delay 2000 µs: 24 bytes arrive as 24 reads ~2 ms apart', async () => {
  const TRIALS = 15;
  let separate = 0;
  const gaps: number[] = [];
  const reads: number[] = [];
  const spans: number[] = [];
  for (let i = 0; i < TRIALS; i++) {
    const { at, sizes } = await trial();
    reads.push(sizes.length);
    if (sizes.length === SIZE) separate++;
    gaps.push(...gapsOf(at));
    spans.push(at[at.length - 1]! - at[0]!);
  }
  const span = percentile(spans, 50);
  const p10 = percentile(gaps, 10), p50 = percentile(gaps, 50), p90 = percentile(gaps, 90);
  console.log(`  slicer 1 B / ${DELAY_US} µs: ${separate}/${TRIALS} trials all separate reads (reads ${reads.join(',')}); ` +
    `gaps p10 ${fmt(p10)} ms, p50 ${fmt(p50)} ms, p90 ${fmt(p90)} ms, min ${fmt(Math.min(...gaps))} ms; first to last read p50 ${fmt(span)} ms`);
  // Toxiproxy 2.12 gives 14-15 of 15 here, idle or with both cores busy. A read of two pieces
  // needs the reader to be held up for a whole delay; catching up after a late timer made one
  // in most trials on a loaded machine.
  assert.ok(separate >= 11, `${separate} of ${TRIALS} trials had every piece as its own read`);
  // Every gap is a full delay on the writer's side; the reader's own hold-ups shorten single
  // gaps (one read late, the next on time), so the spacing is judged over a whole message: from
  // the first read to the last, 23 delays, which a hold-up only moves, never shortens, unless it
  // hits the first read.
  assert.ok(span >= 0.9 * (SIZE - 1) * DELAY_US / 1000, `first to last read p50 ${fmt(span)} ms`);
  assert.ok(p50 >= 0.95 * DELAY_US / 1000 && p50 <= 2 * DELAY_US / 1000, `gap p50 ${fmt(p50)} ms`);
});

test('slicer after a late timer: the pieces still come a delay apart, not back to back', async () => {
  // Holds the loop (the proxy's and the reader's) for 8 ms, three times during the message:
  // each time the slicer's timer comes due late. Catching up would send ~4 pieces at once.
  const stalls: number[] = [];
  const { at, sizes } = await trial(() => {
    for (const after of [5, 19, 33]) {
      setTimeout(() => {
        stalls.push(performance.now());
        const end = performance.now() + 8;
        while (performance.now() < end) { /* the late timer */ }
      }, after);
    }
  });
  const gaps = gapsOf(at);
  const short = gaps.filter((g) => g < 1).length;
  console.log(`  slicer with 3 stalls of 8 ms (${stalls.map((t) => (t - at[0]!).toFixed(0)).join(', ')} ms after the first read): reads ${sizes.join(',')}; ` +
    `gaps p10 ${fmt(percentile(gaps, 10))} ms, min ${fmt(Math.min(...gaps))} ms, ${short} under 1 ms`);
  assert.is(stalls.length, 3);
  assert.ok(stalls.at(-1)! < at.at(-1)!, 'the stalls fell within the message');
  // Catching up would send ~3 pieces at once after each stall, read as one (~15 reads). The
  // reader shares the stalls, so a gap after one may look short; it still reads each piece.
  assert.ok(sizes.length >= SIZE - 2, `${sizes.length} reads: ${sizes.join(',')}`);
});

test('slicer before a latency toxic: each piece is stamped when released, so the spacing survives', async () => {
  const echo2 = await echoServer();
  const s = await startServer();
  try {
    const p = await s.proxy('chained', echo2.address);
    assert.is((await s.toxic('chained', { name: 'slice', type: 'slicer', attributes: { average_size: 1, delay: DELAY_US } })).status, 200);
    assert.is((await s.toxic('chained', { name: 'late', type: 'latency', attributes: { latency: 50 } })).status, 200);
    const client = await connect(p);
    const at: number[] = [];
    let got = 0;
    const done = new Promise<void>((resolve) => client.on('data', (d: Buffer) => {
      at.push(performance.now());
      got += d.length;
      if (got >= SIZE) resolve();
    }));
    const t0 = performance.now();
    client.write(Buffer.alloc(SIZE, 0x62));
    await within(done, 5000, 'the sliced, delayed message');
    client.destroy();
    const gaps = gapsOf(at);
    console.log(`  slicer then latency 50 ms: bytes from ${fmt(at[0]! - t0)} to ${fmt(at.at(-1)! - t0)} ms, ${at.length} reads, gap p50 ${fmt(percentile(gaps, 50))} ms`);
    assert.ok(at[0]! - t0 >= 49, `first byte after ${fmt(at[0]! - t0)} ms`);
    // Stamped with its arrival time instead, every piece would be due 50 ms in, and those the
    // slicer had let go by then would leave at once: the last byte ~50 ms in, not ~96.
    const last = at.at(-1)! - t0;
    assert.ok(last >= 50 + 0.8 * (SIZE - 1) * DELAY_US / 1000, `last byte after ${fmt(last)} ms`);
  } finally {
    await s.close();
    await echo2.close();
  }
});

test.run();
