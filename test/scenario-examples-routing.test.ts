// The shipped examples that move or cut traffic (scenarios/upstream-handoff.yaml and
// scenarios/replica-partition*.yaml), run as a user runs them: `faultline run FILE --url
// <server>` in a child process, against services on loopback behind proxies this test creates
// first, with every variable the file reads set to their ephemeral addresses. After each run:
// the exit code and key lines designed for it, no toxic left, the proxies as they were.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { portOf, sleep, startServer, type TestServer } from './_helpers/net.js';
import { get, heartbeatNode, instanceService, proxyState, runExample, type HeartbeatNode } from './_helpers/services.js';

const NAMES = ['n1', 'n2', 'n3'] as const;
const PAIRS = NAMES.flatMap((a) => NAMES.filter((b) => b !== a).map((b) => `${a}-to-${b}`));

let fl: TestServer;
const nodes = new Map<string, HeartbeatNode>();
const env: Record<string, string> = {};

const proxies = () => Promise.all(PAIRS.map((p) => proxyState(fl, p)));
const views = () => Promise.all(NAMES.map(async (n) => (await get(`${nodes.get(n)!.url}/view`)).body.trim()));
const ALL_SEEN = ['n1 sees n2 n3', 'n2 sees n1 n3', 'n3 sees n1 n2'];

// Three heartbeat nodes; node A sends to B through the UDP proxy A-to-B.
test.before(async () => {
  fl = await startServer();
  for (const n of NAMES) nodes.set(n, await heartbeatNode(n));
  for (const n of NAMES) {
    env[`${n.toUpperCase()}_URL`] = nodes.get(n)!.url;
    env[`${n.toUpperCase()}_HEARTBEAT`] = nodes.get(n)!.heartbeat;
  }
  for (const a of NAMES) {
    const to: Record<string, string> = {};
    for (const b of NAMES.filter((x) => x !== a)) {
      const res = await fl.api('POST', '/proxies', {
        name: `${a}-to-${b}`, listen: '127.0.0.1:0', upstream: nodes.get(b)!.heartbeat, protocol: 'udp',
      });
      assert.is(res.status, 201, res.text);
      to[b] = `127.0.0.1:${portOf(res.json.listen)}`;
      env[`${a.toUpperCase()}_TO_${b.toUpperCase()}`] = to[b]!;
    }
    nodes.get(a)!.sendTo(to);
  }
});

/** What a test opened, closed after it whether it passed or not. */
const opened: Array<() => Promise<unknown>> = [];
test.after.each(async () => { await Promise.all(opened.splice(0).map((close) => close())); });

test.after(async () => {
  await Promise.all([...nodes.values()].map((n) => n.close()));
  await fl.close();
});

test('upstream handoff: clients follow the proxy to the new instance (exit 0), then back after the rollback', async () => {
  const [blue, green] = await Promise.all([instanceService('v1'), instanceService('v2')]);
  opened.push(blue.close, green.close);
  const port = await fl.proxy('catalog', `127.0.0.1:${blue.port}`);
  opened.push(() => fl.api('DELETE', '/proxies/catalog'));
  const before = await proxyState(fl, 'catalog');
  // A client that keeps calling through the proxy, one request at a time, notes whom it reached.
  const seen: string[] = [];
  let errors = 0;
  let following = true;
  const follower = (async () => {
    while (following) {
      await get(`http://127.0.0.1:${port}/`, 1000).then((res) => seen.push(res.body.trim()), () => errors++);
      await sleep(10);
    }
  })();
  opened.unshift(() => { following = false; return follower; });
  const r = await runExample(fl, 'upstream-handoff.yaml', {
    CATALOG_PROXY: `127.0.0.1:${port}`, OLD_ADDRESS: `127.0.0.1:${blue.port}`, NEW_ADDRESS: `127.0.0.1:${green.port}`,
    OLD_INSTANCE: 'v1', NEW_INSTANCE: 'v2',
  });
  await sleep(100);
  following = false;
  await follower;
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.line(/step 0 probe/), /step 0 probe on-old 200 in [\d.]+ms ok$/);
  assert.match(r.line(/step 1 proxy/), new RegExp(`^\\[\\+1\\.\\d{3}s\\] step 1 proxy catalog: upstream=127\\.0\\.0\\.1:${green.port} ok$`));
  assert.match(r.line(/step 2 probe/), /step 2 probe on-new 200 in [\d.]+ms ok$/);
  assert.match(r.line(/step 3 probe/), /step 3 probe still-new 200 in [\d.]+ms ok$/);
  const during = r.lines.filter((l) => /steady state \(during\)/.test(l));
  assert.ok(during.length >= 3 && during.every((l) => / catalog-answers ok 200 /.test(l)), during.join('\n'));
  assert.is(r.line(/^verdict:/), 'verdict: held (exit 0): the steady state held');
  assert.match(r.line(/^rollback:/), /^rollback: ok, 1 change undone in \d+ms$/);
  assert.equal(await proxyState(fl, 'catalog'), before);
  // Old before the move, new after it, old again after the rollback, never mixed; a request
  // may meet the listener as it restarts (twice), on an old connection or a new one.
  const phases = seen.filter((s, i) => i === 0 || s !== seen[i - 1]);
  assert.equal(phases, ['instance v1', 'instance v2', 'instance v1'], seen.join(' '));
  assert.ok(errors <= 4 && seen.length >= 50, `${errors} errors, ${seen.length} answers`);
});

/** Runs a partition variant once every node hears the other two through the proxies. */
async function runPartition(file: string) {
  for (let i = 0; i < 40 && (await views()).join('|') !== ALL_SEEN.join('|'); i++) await sleep(25);
  const before = await proxies();
  const r = await runExample(fl, file, env);
  assert.equal(await proxies(), before, `${file}: the proxies are as they were, without toxics`);
  return r;
}

const both = (proxy: string) => `${proxy} upstream, ${proxy} downstream`;

test('replica partition: n3 is isolated both ways, then rejoins (exit 0)', async () => {
  const r = await runPartition('replica-partition.yaml');
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.line(/step 0 partition/), new RegExp(`step 0 partition \\[n3\\] \\| \\[n1, n2\\]: cut ${
    ['n1-to-n3', 'n2-to-n3', 'n3-to-n1', 'n3-to-n2'].map(both).join(', ')}, ttl \\d+ms ok$`));
  assert.match(r.line(/step 1 probe/), /step 1 probe n1-lost-n3 200 in [\d.]+ms ok$/);
  assert.match(r.line(/step 2 probe/), /step 2 probe n2-lost-n3 200 in [\d.]+ms ok$/);
  assert.match(r.line(/step 3 probe/), /step 3 probe n3-alone 200 in [\d.]+ms ok$/);
  assert.match(r.line(/revert step 0 partition/), /healed partition of step 0 \(8 toxics removed\)$/);
  assert.match(r.line(/step 4 probe/), /step 4 probe n3-rejoined 200 in [\d.]+ms ok$/);
  assert.is(r.line(/^verdict:/), 'verdict: held (exit 0): the steady state held');
});

test('replica partition, one way: n1 and n2 stop hearing n3, n3 still hears them (exit 0)', async () => {
  const r = await runPartition('replica-partition-oneway.yaml');
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.line(/step 0 partition/), new RegExp(`step 0 partition \\[n3\\] -> \\[n1, n2\\]: cut ${
    ['n1-to-n3 downstream', 'n2-to-n3 downstream', 'n3-to-n1 upstream', 'n3-to-n2 upstream'].join(', ')}, ttl \\d+ms ok$`));
  assert.match(r.line(/step 1 probe/), /step 1 probe n1-lost-n3 200 in [\d.]+ms ok$/);
  assert.match(r.line(/step 2 probe/), /step 2 probe n2-lost-n3 200 in [\d.]+ms ok$/);
  assert.match(r.line(/step 3 probe/), /step 3 probe n3-still-hears 200 in [\d.]+ms ok$/);
  assert.match(r.line(/revert step 0 partition/), /healed partition of step 0 \(4 toxics removed\)$/);
  assert.is(r.line(/^verdict:/), 'verdict: held (exit 0): the steady state held');
  assert.equal(await views(), ALL_SEEN);
});

test.run();
