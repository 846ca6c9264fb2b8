// A 2xx on a state change means it is on disk: `faultline serve` on a real SQLite file, 20
// creates and toxic changes, each acknowledged, then kill -9 the moment the last answer arrives;
// after a restart every acknowledged change is there. Also what the write costs per change.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { performance } from 'node:perf_hooks';
import { echoServer, percentile, startServer } from './_helpers/net.js';
import { call, spawnServe, tempDir } from './_helpers/persistence.js';

const ROUNDS = 3;
const CHANGES = 20;

test(`kill -9 right after the last 2xx, ${ROUNDS} rounds of ${CHANGES} changes: none lost`, async () => {
  const t = await tempDir();
  const echo = await echoServer();
  let lost = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const child = await spawnServe(['--db', t.file], t.dir);
      /** What the server acknowledged: proxy name -> its toxics' latency. */
      const acked = new Map<string, Map<string, number>>();
      try {
        for (let i = 0; i < CHANGES; i++) {
          const proxies = [...acked.keys()].filter((n) => n.startsWith(`r${round}-`));
          const last = proxies.at(-1);
          if (i % 4 === 0 || last === undefined) {
            const name = `r${round}-${i}`;
            const r = await call(child.url, 'POST', '/proxies', { name, listen: '127.0.0.1:0', upstream: echo.address });
            assert.is(r.status, 201, r.text);
            acked.set(name, new Map());
          } else if (i % 4 === 3) {
            const [toxic] = [...acked.get(last)!.keys()];
            if (toxic === undefined) continue;
            const r = await call(child.url, 'POST', `/proxies/${last}/toxics/${toxic}`, { attributes: { latency: 1000 + i } });
            assert.is(r.status, 200, r.text);
            acked.get(last)!.set(toxic, 1000 + i);
          } else {
            const toxic = `t${i}`;
            const r = await call(child.url, 'POST', `/proxies/${last}/toxics`, { name: toxic, type: 'latency', attributes: { latency: i } });
            assert.is(r.status, 200, r.text);
            acked.get(last)!.set(toxic, i);
          }
        }
      } finally {
        await child.kill('SIGKILL');
      }
      const again = await spawnServe(['--db', t.file], t.dir);
      try {
        const stored = (await call(again.url, 'GET', '/proxies')).json as Record<string, any>;
        for (const [name, toxics] of acked) {
          const proxy = stored[name];
          if (proxy === undefined) { lost++; continue; }
          for (const [toxic, latency] of toxics) {
            const found = proxy.toxics.find((x: any) => x.name === toxic);
            if (found?.attributes.latency !== latency) lost++;
          }
        }
      } finally {
        await again.kill('SIGTERM');
      }
    }
    console.log(`  kill -9 after a 2xx: ${ROUNDS * CHANGES} acknowledged changes, ${lost} lost after restart`);
    assert.is(lost, 0);
  } finally {
    await echo.close();
    await t.remove();
  }
});

test('what writing before answering costs: a toxic change on a file against the same without a store', async () => {
  const t = await tempDir();
  const echo = await echoServer();
  const timings: Record<string, number[]> = { file: [], none: [] };
  try {
    for (const [label, db] of [['file', t.file], ['none', false]] as const) {
      const s = await startServer({ db });
      try {
        await s.proxy('p', echo.address);
        for (let i = 0; i < 60; i++) {
          const t0 = performance.now();
          const r = await s.api('POST', '/proxies/p/toxics', { name: `t${i}`, type: 'latency', attributes: { latency: i } });
          timings[label]!.push(performance.now() - t0);
          assert.is(r.status, 200, r.text);
        }
      } finally {
        await s.close();
      }
    }
    const p50 = (l: string) => percentile(timings[l]!, 50);
    console.log(`  toxic add p50: ${p50('file').toFixed(2)} ms written first, ${p50('none').toFixed(2)} ms without a store ` +
      `(p99 ${percentile(timings.file!, 99).toFixed(2)} / ${percentile(timings.none!, 99).toFixed(2)} ms)`);
    // The write is a small transaction, not an fsync per change: well under a frame.
    assert.ok(p50('file') < 50, `p50 ${p50('file')} ms`);
  } finally {
    await echo.close();
    await t.remove();
  }
});

test.run();
