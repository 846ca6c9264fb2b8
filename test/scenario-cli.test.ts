// `faultline validate` and `faultline run --dry-run` (and the wiring of `run` itself) as a
// child process: exact output lines and exit codes (0 ok, 3 invalid). The dry run must not
// send a single request: its default server is a capture server that counts them. A run cut
// short by SIGINT rolls back and is still stored.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TOXICS } from '../toxics/index.js';
import { CLI, cli } from './_helpers/cli.js';
import { echoServer, startServer } from './_helpers/net.js';
import { waitFor } from './_helpers/persistence.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/scenarios/', import.meta.url));
const fixture = (name: string) => join(FIXTURES, name);



/** An HTTP server that records every request and answers 500. */
async function captureServer(): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(500).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** A loopback port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const FULL_PLAN = (defaultUrl: string) => [
  'scenario: Slow database',
  '  The database slows down, stops, and is cut off from the API.',
  '  tags: database, latency',
  'servers:',
  `  default  ${defaultUrl}`,
  '  edge     http://127.0.0.1:18474',
  'proxies (created if missing, removed afterwards if the run created them):',
  '  db@edge        tcp  127.0.0.1:0 -> 127.0.0.1:5432  labels api -> db',
  '  cache@default  tcp  127.0.0.1:0 -> 127.0.0.1:6379  labels api -> cache',
  'steady state (checked before and after the timeline, and every 1s during it):',
  '  db-up   tcp connect 127.0.0.1:5432 (timeout 1s)',
  '  health  http GET http://127.0.0.1:8080/health: status 200, body /ok/, latency <= 300ms (timeout 2s)',
  '  ping    exec "redis-cli -p 6380 ping": exit code 0, stdout /PONG/ (timeout 2s)',
  'halt when (then stop at once and roll back):',
  '  api  fails for 5s  http GET http://127.0.0.1:8080/health: status 200 (timeout 2s)',
  'timeline (26s):',
  '  +0.000s  add toxic lat (latency, downstream, toxicity 1) on db@edge  {latency: 200}',
  '  +5.000s  update toxic lat on db@edge  {latency: 400}',
  '  +8.000s  remove toxic lat on db@edge',
  '  +10.000s revert: remove toxic lat on db (already gone: removed at +8.000s)',
  '  +10.000s change proxy db@edge: enabled false',
  '  +12.000s revert: restore enabled of proxy db as before +10.000s',
  '  +15.000s partition [api] | [db, cache]: cut db@edge (upstream, downstream), cache@default (upstream, downstream)',
  '  +20.000s revert: heal partition [api] | [db, cache]: remove its toxics on db (upstream, downstream), cache (upstream, downstream)',
  '  +25.000s heal all: remove every toxic the run added',
  '  +26.000s probe after: tcp connect 127.0.0.1:5432 (timeout 1s)',
  '  +26.000s rollback: remove every toxic the run added, restore every proxy it changed, delete the proxies it created',
].join('\n') + '\n';

test('validate: a valid file prints ok with its step count and duration, exit 0', async () => {
  assert.equal(await cli(['validate', fixture('full.yaml')]), { code: 0, stdout: 'ok: Slow database (7 steps, 26s)\n', stderr: '' });
  assert.equal(await cli(['validate', fixture('handoff.json')]), { code: 0, stdout: 'ok: Upstream handoff (4 steps, 4.5s)\n', stderr: '' });
});

test('validate: an invalid file prints every issue as FILE:line:column: path: message, exit 3', async () => {
  const file = fixture('invalid.yaml');
  const r = await cli(['validate', file]);
  assert.is(r.stdout, '');
  assert.equal(r.stderr.split('\n'), [
    `${file}:4:15: proxies[0].upstream: expected host:port like 127.0.0.1:5432 (port 1 to 65535), got "127.0.0.1"`,
    `${file}:7:61: steady_state.probes[0].tcp.timeout: expected a duration like 500ms, 30s or 2m, got "1 second"`,
    `${file}:9:5: timeline[0].atx: unknown key 'atx'; expected one of at, for, toxic, update_toxic, remove_toxic, proxy, partition, heal, probe`,
    `${file}:9:5: timeline[0]: missing required key 'at'`,
    `${file}:11:9: timeline[1].at: expected a duration like 500ms, 30s or 2m, got "10 seconds"`,
    `${file}:12:30: timeline[1].toxic.type: unknown toxic type 'latncy'; expected one of ${TOXICS.map((t) => t.type).join(', ')}`,
    `${file}:12:46: timeline[1].toxic.stream: expected upstream or downstream, got "sideways"`,
    `${file}:15:5: timeline[2]: a step needs exactly one action, found 2: heal, probe`,
    `${file}: 8 errors`,
    '',
  ]);
  assert.is(r.code, 3);
});

test('validate: syntax errors have no key path; an unreadable file is exit 3 too', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'faultline-scenario-'));
  try {
    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, 'title: a\ntitle: b\ntimeline: []\n');
    assert.equal(await cli(['validate', broken]), {
      code: 3, stdout: '', stderr: `${broken}:2:1: duplicate key 'title'; a key may appear once in a mapping\n${broken}: 1 error\n`,
    });
    const missing = join(dir, 'missing.yaml');
    assert.equal(await cli(['validate', missing]), {
      code: 3, stdout: '', stderr: `${missing}: cannot read the scenario: ENOENT: no such file or directory, open '${missing}'\n`,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('run --dry-run prints the plan and sends nothing to any server, exit 0', async () => {
  const capture = await captureServer();
  try {
    assert.equal(await cli(['run', fixture('full.yaml'), '--dry-run', '--url', capture.url]), { code: 0, stdout: FULL_PLAN(capture.url), stderr: '' });
    // The default server also comes from before the command and from FAULTLINE_URL.
    assert.equal(await cli(['--url', capture.url, 'run', '--dry-run', fixture('full.yaml')]), { code: 0, stdout: FULL_PLAN(capture.url), stderr: '' });
    assert.equal(await cli(['run', '--dry-run', fixture('full.yaml')], { FAULTLINE_URL: capture.url }), { code: 0, stdout: FULL_PLAN(capture.url), stderr: '' });
    assert.equal(capture.requests, []);
  } finally {
    await capture.close();
  }
});

test('run --dry-run expands a oneway partition into the streams it cuts', async () => {
  const r = await cli(['run', fixture('partition.yaml'), '--dry-run']);
  assert.is(r.stderr, '');
  assert.is(r.code, 0);
  assert.equal(r.stdout.split('\n').slice(8), [
    'steady state: none (no probes before, during or after the timeline)',
    'halt when: never (no halt conditions)',
    'timeline (4s):',
    '  +0.000s  partition [n1] -> [n2, n3] (oneway): cut n1-n2@default (upstream), n2-n1@default (downstream), n1-n3@default (upstream), n3-n1@default (downstream)',
    '  +2.000s  revert: heal partition [n1] -> [n2, n3] (oneway): remove its toxics on n1-n2 (upstream), n2-n1 (downstream), n1-n3 (upstream), n3-n1 (downstream)',
    '  +2.500s  partition [n3] | [n1, n2]: cut n1-n3@default (upstream, downstream), n3-n1@default (upstream, downstream)',
    '  +4.000s  heal all: remove every toxic the run added',
    '  +4.000s  rollback: remove every toxic the run added, restore every proxy it changed, delete the proxies it created',
    '',
  ]);
  assert.is(r.stdout.split('\n')[3], 'proxies (created if missing, removed afterwards if the run created them):');
  assert.is(r.stdout.split('\n')[7], '  n3-n1@default  udp  127.0.0.1:0 -> 127.0.0.1:7001  labels n3 -> n1');
});

test('run --dry-run on an invalid file prints the issues, no plan, exit 3', async () => {
  const r = await cli(['run', fixture('invalid.yaml'), '--dry-run']);
  assert.is(r.stdout, '');
  assert.is(r.stderr.split('\n').at(-2), `${fixture('invalid.yaml')}: 8 errors`);
  assert.is(r.code, 3);
});

test("run (no dry run) reaches the runner and its exit code reaches the process: 4 when the steady state fails first", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'faultline-scenario-'));
  try {
    const file = join(dir, 'down.yaml');
    const port = await closedPort();
    await writeFile(file, [
      'title: Down from the start',
      'steady_state:',
      `  probes: [{name: up, tcp: {address: "127.0.0.1:${port}", timeout: 500ms}}]`,
      'timeline:',
      '  - {at: 0s, probe: {name: once, tcp: {address: "127.0.0.1:1"}}}',
      '',
    ].join('\n'));
    const r = await cli(['run', file, '--embedded']);
    assert.is(r.code, 4, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stdout, /embedded server at http:\/\/127\.0\.0\.1:\d+/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('run: SIGINT rolls back, then the aborted run is still stored on the server', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'faultline-scenario-'));
  const upstream = await echoServer();
  const server = await startServer();
  let child: ReturnType<typeof spawn> | null = null;
  try {
    await server.proxy('int-db', upstream.address);
    const file = join(dir, 'long.yaml');
    await writeFile(file, [
      'title: Interrupted',
      `proxies: [{name: int-db, upstream: "${upstream.address}"}]`,
      'timeline:',
      '  - {at: 0s, toxic: {proxy: int-db, name: lat, type: latency, attributes: {latency: 5}}, for: 60s}',
      '',
    ].join('\n'));
    const proc = spawn(process.execPath, [CLI, 'run', file, '--url', server.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = once(proc, 'exit');
    await waitFor(() => server.collection.get('int-db')!.listToxics().length === 1, 10_000, 'the toxic');
    proc.kill('SIGINT');
    const [code] = await exited;
    assert.is(code, 2, stdout + stderr);
    assert.is(stderr, 'faultline: SIGINT received, rolling back\n');
    const id = /^run ([\w-]+): aborted \(exit 2\)$/m.exec(stdout)?.[1];
    assert.ok(id !== undefined, stdout);
    assert.is(stdout.trimEnd().split('\n').at(-1), `report: faultline report ${id} --url ${server.url}`);
    assert.equal(server.collection.get('int-db')!.listToxics(), []);
    const rec = (await server.api('GET', `/scenarios/runs/${id}`)).json;
    assert.equal([rec.origin, rec.status, rec.exit_code, rec.rollback], ['cli', 'aborted', 2, { ok: true, errors: [] }]);
    assert.equal(rec.windows.map((w: any) => [w.proxy, w.toxic]), [['int-db', 'lat']]);
    assert.ok(rec.windows[0].to_ms <= rec.ended_at - rec.started_at, 'the window closes by the end of the run');
  } finally {
    if (child !== null && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await server.close();
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
