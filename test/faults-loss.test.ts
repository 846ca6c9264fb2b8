// packet_loss over real sockets: the drop rate over 20,000 chunks, bursts under correlation,
// and retransmit mode's stalls (no byte lost, the k-th consecutive loss held rto * 2^(k-1)).
//
// Method for the rates: frames are sent in lockstep (see _helpers/faults.ts), so each frame
// is exactly one chunk, one Bernoulli trial of the toxic; a frame is dropped when the proxy
// counts a 'dropped' fault and nothing arrives, delivered when it arrives whole. The upstream's
// record must then agree with that classification frame by frame, and the proxy's own count of
// drops with ours. The seed is fixed, so the figures are reproducible, not flaky.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { performance } from 'node:perf_hooks';
import { pattern, readAll, sleep } from './_helpers/net.js';
import { mismatch, within } from './_helpers/toxics.js';
import { binomialInterval, bursts, connectRig, frame, frameIds, step, until, withFaultRig, type FaultRig } from './_helpers/faults.js';

/** Sends frames 0..n-1 in lockstep; returns the outcomes as a string, '1' for each drop. */
async function run(rig: FaultRig, n: number): Promise<string> {
  const client = await connectRig(rig);
  let outcomes = '';
  for (let i = 0; i < n; i++) outcomes += (await step(rig, client, frame(i))) === 'dropped' ? '1' : '0';
  client.destroy();
  // The upstream got exactly the frames classified as delivered, in order.
  const delivered = [...outcomes].flatMap((o, i) => (o === '0' ? [i] : []));
  assert.equal(frameIds(rig.data(0)), delivered);
  // One upstream read per delivered frame: no frame reached the toxic as two chunks.
  assert.is(rig.reads[0], delivered.length, 'a frame was split or merged on its way');
  return outcomes;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

test('drop mode: over 20,000 chunks the loss rate is within the 99 % binomial interval of 0.1', () =>
  withFaultRig({ seed: 7 }, async (rig) => {
    await rig.toxic({ name: 'loss', type: 'packet_loss', stream: 'upstream', attributes: { loss_rate: 0.1 } });
    const n = 20_000;
    const start = performance.now();
    const outcomes = await run(rig, n);
    const lost = outcomes.split('1').length - 1;
    const [lo, hi] = binomialInterval(n, 0.1, 0.99);
    console.log(`  packet_loss 0.1: ${lost}/${n} lost (${(lost / n).toFixed(4)}), 99% interval [${lo}, ${hi}], ${(performance.now() - start).toFixed(0)} ms`);
    assert.is(rig.count('dropped', 'packet_loss'), lost, 'the proxy counted every drop the upstream missed');
    assert.ok(lost >= lo && lost <= hi, `${lost} lost of ${n}, want within [${lo}, ${hi}]`);
    // Correlation 0 means independent chunks: loss right after a loss is no likelier.
    const afterLoss = [...outcomes].filter((_o, i) => i > 0 && outcomes[i - 1] === '1');
    const again = afterLoss.filter((o) => o === '1').length;
    const [clo, chi] = binomialInterval(afterLoss.length, 0.1, 0.99);
    assert.ok(again >= clo && again <= chi, `${again} of ${afterLoss.length} losses followed a loss, want [${clo}, ${chi}]`);
  }));

test('correlation 0.5 makes bursts: mean burst ~ 1/(1-(loss+corr)) versus 1/(1-loss) without', async () => {
  const n = 6000;
  const measure = async (correlation: number) => {
    let outcomes = '';
    await withFaultRig({ seed: 11 }, async (rig) => {
      await rig.toxic({ name: 'loss', type: 'packet_loss', stream: 'upstream', attributes: { loss_rate: 0.1, correlation } });
      outcomes = await run(rig, n);
    });
    return outcomes;
  };
  const plain = await measure(0);
  const bursty = await measure(0.5);
  const plainMean = mean(bursts(plain));
  const burstyMean = mean(bursts(bursty));
  console.log(`  mean burst length: correlation 0 ${plainMean.toFixed(3)} (want 1.111), correlation 0.5 ${burstyMean.toFixed(3)} (want 2.5)`);
  // A burst continues with probability q, so its length is geometric with mean 1/(1-q).
  assert.ok(Math.abs(plainMean - 1 / 0.9) < 0.05, `correlation 0: mean burst ${plainMean}`);
  assert.ok(Math.abs(burstyMean - 2.5) < 0.3, `correlation 0.5: mean burst ${burstyMean}`);
  assert.ok(Math.max(...bursts(bursty)) > Math.max(...bursts(plain)), 'longest burst should grow');
  // Conditional loss rates: 0.1 after a delivered chunk, 0.6 right after a lost one.
  const conditional = (o: string, prev: string) => {
    const idx = [...o].map((_, i) => i).filter((i) => i > 0 && o[i - 1] === prev);
    return { k: idx.filter((i) => o[i] === '1').length, n: idx.length };
  };
  const afterLoss = conditional(bursty, '1');
  const afterOk = conditional(bursty, '0');
  const [llo, lhi] = binomialInterval(afterLoss.n, 0.6, 0.99);
  const [olo, ohi] = binomialInterval(afterOk.n, 0.1, 0.99);
  assert.ok(afterLoss.k >= llo && afterLoss.k <= lhi, `P(loss | loss) = ${afterLoss.k}/${afterLoss.n}, want ~0.6`);
  assert.ok(afterOk.k >= olo && afterOk.k <= ohi, `P(loss | delivered) = ${afterOk.k}/${afterOk.n}, want ~0.1`);
});

test('retransmit: a 200 KB transfer with loss 0.3 loses and reorders nothing, and stalls', () =>
  withFaultRig({ seed: 3 }, async (rig) => {
    await rig.toxic({ name: 'rtx', type: 'packet_loss', stream: 'upstream', attributes: { loss_rate: 0.3, mode: 'retransmit', rto: 10 } });
    const client = await connectRig(rig);
    const data = pattern(200_000, 5);
    const start = performance.now();
    // 100 writes of 2 KB, a little apart, so the toxic sees tens of chunks, not a handful.
    for (let at = 0; at < data.length; at += 2000) {
      client.write(data.subarray(at, at + 2000));
      await sleep(1);
    }
    client.end();
    await until(() => rig.upstreamClosed[0] === 'end', 8000, 'upstream FIN');
    const ms = performance.now() - start;
    assert.is(mismatch(rig.data(0), data), null);
    assert.is(rig.count('dropped'), 0);
    const held = rig.events.filter((e) => e.action === 'held');
    assert.ok(held.length > 0, 'no chunk was held: loss 0.3 had no effect');
    assert.is(held.length, rig.count('held'), 'every hold was streamed (none folded)');
    assert.is(rig.count('released'), held.length);
    // Holds are serial on one stream: the transfer takes at least their sum.
    const total = held.reduce((n, e) => n + Number(e.detail.ms), 0);
    assert.ok(held.every((e) => [10, 20, 40, 80, 160, 320].includes(Number(e.detail.ms))), held.map((e) => e.detail.ms).join(','));
    assert.ok(ms >= total - 1, `transfer took ${ms.toFixed(0)} ms, less than the ${total} ms held`);
    console.log(`  retransmit: ${held.length} holds totalling ${total} ms; 200 KB took ${ms.toFixed(0)} ms`);
  }));

test('retransmit: stalls of rto, doubling per consecutive loss, reset by a delivered chunk', () =>
  withFaultRig({ seed: 1 }, async (rig) => {
    await rig.toxic({ name: 'rtx', type: 'packet_loss', stream: 'upstream', attributes: { loss_rate: 1, mode: 'retransmit', rto: 50 } });
    const client = await connectRig(rig);
    const stalls: number[] = [];
    const timed = async (i: number) => {
      const t0 = performance.now();
      assert.is(await step(rig, client, frame(i), 0, 3000), 'delivered');
      return performance.now() - t0;
    };
    for (let i = 0; i < 4; i++) stalls.push(await timed(i));
    // A delivered chunk resets the backoff: the next loss stalls rto again.
    assert.is((await rig.patch('rtx', { attributes: { loss_rate: 0 } })).status, 200);
    const clear = await timed(4);
    assert.is((await rig.patch('rtx', { attributes: { loss_rate: 1, rto: 100 } })).status, 200);
    stalls.push(await timed(5));
    console.log(`  retransmit stalls (want 50, 100, 200, 400, then 100 after a delivery): ${stalls.map((s) => s.toFixed(1)).join(', ')}; clear ${clear.toFixed(1)}`);
    const want = [50, 100, 200, 400, 100];
    stalls.forEach((ms, k) => assert.ok(ms >= want[k]! - 1 && ms < want[k]! + 60, `stall ${k + 1}: ${ms.toFixed(1)} ms, want ${want[k]}`));
    assert.ok(clear < 40, `loss 0 still stalled ${clear} ms`);
    const held = rig.events.filter((e) => e.action === 'held').map((e) => e.detail);
    assert.equal(held, want.map((ms) => ({ ms, bytes: 16 })));
    const released = rig.events.filter((e) => e.action === 'released').map((e) => Number(e.detail.ms));
    released.forEach((ms, k) => assert.ok(ms >= want[k]! && ms < want[k]! + 60, `released after ${ms}, want ${want[k]}`));
    assert.equal(frameIds(rig.data(0)), [0, 1, 2, 3, 4, 5]);
    client.destroy();
  }));

test('retransmit: a held chunk holds everything behind it, in order', () =>
  withFaultRig({ seed: 1, onSocket: (s) => s.pipe(s) }, async (rig) => {
    await rig.toxic({ name: 'rtx', type: 'packet_loss', stream: 'upstream', attributes: { loss_rate: 1, mode: 'retransmit', rto: 150 } });
    const client = await connectRig(rig);
    const reply = readAll(client);
    const t0 = performance.now();
    client.write(frame(0));
    await sleep(30);
    client.write(frame(1));
    // Frame 0 waits 150 ms; frame 1 is not even read until then, and its own loss (the second
    // in a row) waits 300 more: about 450 ms. Held side by side it would arrive at ~330.
    await until(() => rig.bytes[0]! >= 16, 2000, 'frame 0');
    const first = performance.now() - t0;
    await until(() => rig.bytes[0]! >= 32, 2000, 'frame 1');
    const second = performance.now() - t0;
    client.end();
    assert.equal(frameIds(await within(reply, 2000, 'echo')), [0, 1]);
    assert.ok(first >= 149 && first < 220, `frame 0 after ${first.toFixed(0)} ms, want ~150`);
    assert.ok(second >= 449 && second < 560, `frame 1 after ${second.toFixed(0)} ms, want ~450`);
  }));

test.run();
