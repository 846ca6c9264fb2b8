// The toxics that alter the byte stream on purpose, over real sockets and checked against the
// fault events: duplicate (exactly the reported chunks doubled), reorder (who overtook whom,
// and max_delay), corrupt (the number of flipped bits), and seeded reproducibility.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lag } from './_helpers/lag.js';
import { sleep } from './_helpers/net.js';
import {
  FRAME, connectRig, flippedBits, frame, frameIds, step, until, withFaultRig, type FaultRig,
} from './_helpers/faults.js';

/** The frame being sent when each event of `action` fired (lockstep makes this exact). */
function tagEvents(rig: FaultRig, action: string, current: () => number): number[] {
  const tagged: number[] = [];
  rig.server.events.on('fault:injected', (e) => { if (e.action === action) tagged.push(current()); });
  return tagged;
}

test('duplicate 0.5: the upstream gets every frame, exactly the reported ones twice and in place', () =>
  withFaultRig({ seed: 5 }, async (rig) => {
    await rig.toxic({ name: 'dup', type: 'duplicate', stream: 'upstream', attributes: { probability: 0.5 } });
    const client = await connectRig(rig);
    let current = -1;
    const duplicated = tagEvents(rig, 'duplicated', () => current);
    const n = 40;
    for (current = 0; current < n; current++) assert.is(await step(rig, client, frame(current)), 'delivered');
    client.destroy();
    // Under 50 events per toxic and action, so none was folded away by the rate limit.
    assert.is(duplicated.length, rig.count('duplicated'));
    assert.ok(duplicated.length > 5 && duplicated.length < n - 5, `${duplicated.length} of ${n} duplicated at 0.5`);
    const want = Array.from({ length: n }, (_, i) => (duplicated.includes(i) ? [i, i] : [i])).flat();
    assert.equal(frameIds(rig.data(0)), want);
    const extra = rig.events.filter((e) => e.action === 'duplicated').reduce((s, e) => s + Number(e.detail.bytes), 0);
    assert.is(rig.bytes[0], n * FRAME + extra, 'received = sent + the duplicated bytes the events report');
    // Every copy is byte for byte the original.
    const got = rig.data(0);
    for (let at = 0; at < got.length; at += FRAME) {
      const id = got.readUInt32BE(at);
      assert.ok(got.subarray(at, at + FRAME).equals(frame(id)), `frame ${id} altered`);
    }
  }));

test('reorder 1, gap 1: A B C D arrive as B A D C, every byte present, matching the events', () =>
  withFaultRig({ seed: 1 }, async (rig) => {
    await rig.toxic({ name: 'ro', type: 'reorder', stream: 'upstream', attributes: { probability: 1, gap: 1, max_delay: 2000 } });
    const client = await connectRig(rig);
    for (const [a, b] of [[0, 1], [2, 3]] as const) {
      const before = rig.bytes[0]!;
      client.write(frame(a));
      await sleep(40);
      assert.is(rig.bytes[0], before, `frame ${a} should be held until one chunk passes it`);
      client.write(frame(b));
      await until(() => rig.bytes[0]! >= before + 2 * FRAME, 1000, `frames ${a} and ${b}`);
    }
    assert.equal(frameIds(rig.data(0)), [1, 0, 3, 2]);
    const reordered = rig.events.filter((e) => e.toxic === 'ro').map((e) => [e.action, e.detail.passed, e.detail.bytes]);
    assert.equal(reordered, [['reordered', 1, FRAME], ['reordered', 1, FRAME]]);
    client.destroy();
  }));

test('reorder gap 2: a held chunk lets exactly two chunks pass', () =>
  withFaultRig({ seed: 1 }, async (rig) => {
    await rig.toxic({ name: 'ro', type: 'reorder', stream: 'upstream', attributes: { probability: 1, gap: 2, max_delay: 2000 } });
    const client = await connectRig(rig);
    for (const i of [0, 1, 2]) {
      client.write(frame(i));
      await sleep(30);
    }
    await until(() => rig.bytes[0]! >= 3 * FRAME, 1000, 'three frames');
    assert.equal(frameIds(rig.data(0)), [1, 2, 0]);
    assert.equal(rig.events.map((e) => [e.action, e.detail.passed]), [['reordered', 2]]);
    client.destroy();
  }));

test('reorder max_delay 150: a held chunk nothing overtakes goes after ~150 ms, reported as a delay', () =>
  withFaultRig({ seed: 1 }, async (rig) => {
    await rig.toxic({ name: 'ro', type: 'reorder', stream: 'upstream', attributes: { probability: 1, max_delay: 150 } });
    const client = await connectRig(rig);
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      client.write(frame(i));
      waits.push(await until(() => rig.bytes[0]! >= (i + 1) * FRAME, 1000, `frame ${i}`));
    }
    console.log(`  reorder max_delay 150: released after ${waits.map((w) => w.toFixed(1)).join(', ')} ms; events say ${rig.events.map((e) => e.detail.ms).join(', ')}`);
    assert.equal(frameIds(rig.data(0)), [0, 1, 2]);
    assert.equal(rig.events.map((e) => [e.action, e.detail.bytes]), [['delayed', FRAME], ['delayed', FRAME], ['delayed', FRAME]]);
    // Measured from before the write to after the arrival, so a hold of max_delay can never
    // read shorter than 150 ms: the lower bound is exact, the upper one allows for load.
    for (const w of waits) assert.ok(w >= 150 && w < 220, `released ${w.toFixed(2)} ms after the write, before max_delay 150 ran out`);
    for (const e of rig.events) assert.ok(Number(e.detail.ms) >= 150 && Number(e.detail.ms) < 220 + lag.worst(), `event says delayed ${e.detail.ms} ms, want >= 150 (timer lag ${lag.worst()} ms)`);
    client.destroy();
  }));

test('corrupt bits 3: one 64-byte chunk comes back with exactly 3 bits flipped, same length', () =>
  withFaultRig({ seed: 1 }, async (rig) => {
    await rig.toxic({ name: 'bad', type: 'corrupt', stream: 'upstream', attributes: { probability: 1, bits: 3 } });
    const client = await connectRig(rig);
    const sent = frame(9, 64);
    assert.is(await step(rig, client, sent), 'delivered');
    assert.is(flippedBits(sent, rig.data(0)), 3);
    assert.equal(rig.events.map((e) => [e.action, e.detail]), [['corrupted', { bits: 3, bytes: 64 }]]);
    client.destroy();
  }));

test('corrupt 0.5: flipped bits = bits x corrupted chunks, frame by frame as the events say', () =>
  withFaultRig({ seed: 2 }, async (rig) => {
    await rig.toxic({ name: 'bad', type: 'corrupt', stream: 'upstream', attributes: { probability: 0.5, bits: 5 } });
    const client = await connectRig(rig);
    let current = -1;
    const corrupted = tagEvents(rig, 'corrupted', () => current);
    const n = 40;
    const sent: Buffer[] = [];
    for (current = 0; current < n; current++) {
      sent.push(frame(current, 32));
      assert.is(await step(rig, client, sent[current]!), 'delivered');
    }
    client.destroy();
    const got = rig.data(0);
    assert.is(got.length, n * 32);
    const flips = sent.map((s, i) => flippedBits(s, got.subarray(i * 32, (i + 1) * 32)));
    assert.equal(flips.flatMap((f, i) => (f > 0 ? [i] : [])), corrupted, 'the frames that changed are the reported ones');
    assert.ok(flips.every((f) => f === 0 || f === 5), `flips per frame: ${flips.join(',')}`);
    assert.is(flips.reduce((a: number, b) => a + b, 0), 5 * rig.count('corrupted'));
    assert.ok(corrupted.length > 5 && corrupted.length < n - 5, `${corrupted.length} of ${n} corrupted at 0.5`);
  }));

/** Seeded traffic: loss, corruption and duplication on 40 frames in lockstep. */
async function faultSequence(seed: number): Promise<{ events: string[]; data: string }> {
  let out = { events: [] as string[], data: '' };
  await withFaultRig({ seed }, async (rig) => {
    await rig.toxic({ name: 'loss', type: 'packet_loss', stream: 'upstream', attributes: { loss_rate: 0.2 } });
    await rig.toxic({ name: 'bad', type: 'corrupt', stream: 'upstream', attributes: { probability: 0.3, bits: 2 } });
    await rig.toxic({ name: 'dup', type: 'duplicate', stream: 'upstream', attributes: { probability: 0.3 } });
    const client = await connectRig(rig);
    let current = -1;
    const tagged: string[] = [];
    rig.server.events.on('fault:injected', (e) => tagged.push(`${current}:${e.toxic}:${e.action}:${JSON.stringify(e.detail)}`));
    for (current = 0; current < 40; current++) await step(rig, client, frame(current));
    client.destroy();
    const counted = ['dropped', 'corrupted', 'duplicated'].reduce((n, a) => n + rig.count(a as any), 0);
    assert.is(tagged.length, counted, 'every fault was streamed');
    out = { events: tagged, data: rig.data(0).toString('hex') };
  });
  return out;
}

test('reproducibility: the same seed and traffic give the same fault events and bytes; another seed differs', async () => {
  const a = await faultSequence(1234);
  const b = await faultSequence(1234);
  const c = await faultSequence(4321);
  for (const action of ['dropped', 'corrupted', 'duplicated']) {
    assert.ok(a.events.some((e) => e.includes(`:${action}:`)), `no ${action} fault in run a: ${a.events.join(' ')}`);
  }
  assert.equal(b.events, a.events);
  assert.is(b.data, a.data);
  assert.is.not(c.events.join(' '), a.events.join(' '), 'a different seed should give different faults');
});

test.run();
