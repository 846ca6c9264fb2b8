// The compiled CLI (dist/src/cli/main.js) run as a child process against an in-process server
// on an ephemeral loopback port. Outputs are asserted exactly, so a changed message fails.
// A second, tiny capture server checks the exact requests the CLI sends (paths, bodies, UA).
// It runs past 300 lines because it is one end-to-end suite: every command shares the same
// server, helpers and exact-output assertions, and splitting it would duplicate the harness.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type FaultlineServer } from '../src/server.js';
import { parseAttributes, parseToxicity } from '../src/cli/toxics.js';
import { CLI, cli, type CliResult } from './_helpers/cli.js';
import { portOf } from './_helpers/net.js';
import { udpClient, udpEcho } from './_helpers/udp.js';

const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
const UPSTREAM = '127.0.0.1:9';

type Result = CliResult;

let server: FaultlineServer;
let url = '';


/** The CLI against the test server, `--url` first. */
const fl = (...args: string[]): Promise<Result> => cli(['--url', url, ...args]);

function ok(r: Result, stdout: string): void {
  assert.is(r.stderr, '');
  assert.is(r.stdout, stdout);
  assert.is(r.code, 0);
}

function fails(r: Result, stderr: string): void {
  assert.is(r.stdout, '');
  assert.is(r.stderr, stderr);
  assert.is(r.code, 1);
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

test.before(async () => {
  server = await createServer({ host: '127.0.0.1', port: 0, log: () => {} });
  url = server.url;
});

// A failing test must not leave proxies behind for the next one's exact `list` output.
test.after.each(async () => {
  for (const name of Object.keys((await api('GET', '/proxies')).json ?? {})) {
    await api('DELETE', `/proxies/${encodeURIComponent(name)}`);
  }
});

test.after(async () => {
  await server.close();
});

test('--help at the root lists every command and the URL sources', async () => {
  const r = await cli(['--help']);
  assert.is(r.code, 0);
  assert.is(r.stderr, '');
  assert.ok(r.stdout.startsWith('Usage: faultline [options] [command]\n'));
  for (const name of ['serve', 'list|l', 'inspect|i', 'create|c', 'toggle|tog', 'delete|d', 'toxic|t', '--url <url>', '--json']) {
    assert.ok(r.stdout.includes(name), `help mentions ${name}`);
  }
  assert.ok(r.stdout.includes('$FAULTLINE_URL, else $TOXIPROXY_URL'));
});

test('toxic add --help lists the types with their units', async () => {
  const r = await cli(['toxic', 'add', '--help']);
  assert.is(r.code, 0);
  assert.ok(r.stdout.startsWith('Usage: faultline toxic add|a [options] <proxy>\n'));
  for (const line of [
    '  latency      latency=<ms>,jitter=<ms>\n',
    '  bandwidth    rate=<KB/s>',
    '  slow_close   delay=<ms>\n',
    '  timeout      timeout=<ms>\n',
    '  reset_peer   timeout=<ms>\n',
    '  slicer       average_size=<bytes>,size_variation=<bytes>,delay=<µs>\n',
    '  limit_data   bytes=<bytes>\n',
    '  noop ',
    '--tox, --toxicity <float>',
  ]) {
    assert.ok(r.stdout.includes(line), `help has ${JSON.stringify(line)}`);
  }
});

test('subcommand help shows the root options it reads, with their environment variables', async () => {
  for (const args of [['list'], ['toxic', 'add']]) {
    const r = await cli([...args, '--help']);
    assert.is(r.code, 0);
    const at = r.stdout.indexOf('\nGlobal Options:\n');
    assert.ok(at > 0, `${args.join(' ')}: no Global Options`);
    const global = r.stdout.slice(at).replace(/\s+/g, ' ');
    assert.ok(global.includes(' --url <url> server API address (env FAULTLINE_URL or TOXIPROXY_URL; default http://127.0.0.1:8474) '), global);
    assert.ok(global.includes(' --json print the server JSON response instead of text (proxy and toxic commands)'), global);
  }
  const serve = await cli(['serve', '--help']);
  assert.is(serve.code, 0);
  for (const flag of ['--host <host>', '--port <port>', '--config <file>', '--seed <n>', '--db <path>', '--token <token>', '--insecure']) {
    assert.ok(serve.stdout.includes(`\n  ${flag} `), flag);
  }
  // serve reads neither --url nor --json, and run declares its own --url: no Global Options.
  assert.not.ok(serve.stdout.includes('Global Options'));
  assert.not.ok((await cli(['run', '--help'])).stdout.includes('Global Options'));
});

test('--version prints the package version', async () => {
  ok(await cli(['--version']), `${VERSION}\n`);
});

test('create, list, inspect, toggle, delete round trip in text', async () => {
  ok(await fl('create', 'alpha', '-l', '127.0.0.1:0', '-u', UPSTREAM), 'Created new proxy alpha\n');
  ok(await cli(['c', '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:10', 'beta-2', '--url', url]), 'Created new proxy beta-2\n');
  ok(await fl('toxic', 'add', 'alpha', '-t', 'latency', '-a', 'latency=100', '-a', 'jitter=10', '--tox', '0.5'),
    "Added downstream latency toxic 'latency_downstream' on proxy 'alpha'\n");
  ok(await fl('toggle', 'beta-2'), 'Proxy beta-2 is now disabled\n');

  const proxies = (await api('GET', '/proxies')).json;
  const la: string = proxies.alpha.listen;
  const lb: string = proxies['beta-2'].listen;
  assert.match(la, /^127\.0\.0\.1:[1-9]\d*$/);
  const w = Math.max(la.length, lb.length);
  ok(await fl('list'),
    `NAME    PROTO  ${'LISTEN'.padEnd(w)}  UPSTREAM      STATE     TOXICS\n` +
    `alpha   tcp    ${la.padEnd(w)}  127.0.0.1:9   enabled   1\n` +
    `beta-2  tcp    ${lb.padEnd(w)}  127.0.0.1:10  disabled  0\n`);
  ok(await fl('inspect', 'alpha'),
    `alpha  listen=${la}  upstream=127.0.0.1:9  enabled\n` +
    'latency_downstream  type=latency  stream=downstream  toxicity=0.50  attributes=[jitter=10 latency=100]\n');
  ok(await fl('ins', 'beta-2'), `beta-2  listen=${lb}  upstream=127.0.0.1:10  disabled\n`);

  ok(await fl('tog', 'beta-2'), 'Proxy beta-2 is now enabled\n');
  assert.is((await api('GET', '/proxies/beta-2')).json.enabled, true);
  ok(await fl('delete', 'alpha'), 'Deleted proxy alpha\n');
  ok(await fl('d', 'beta-2'), 'Deleted proxy beta-2\n');
  ok(await fl('ls'), 'NAME  PROTO  LISTEN  UPSTREAM  STATE  TOXICS\n');
  assert.equal((await api('GET', '/proxies')).json, {});
});

test('create --protocol udp --idle-timeout makes a UDP proxy; list and inspect show it', async () => {
  ok(await fl('create', 'dns', '-l', '127.0.0.1:0', '-u', '127.0.0.1:53', '--protocol', 'udp', '--idle-timeout', '5000'),
    'Created new proxy dns\n');
  const proxy = (await api('GET', '/proxies/dns')).json;
  assert.equal([proxy.protocol, proxy.idle_timeout, proxy.sessions], ['udp', 5000, 0]);
  const listed = await fl('list');
  assert.match(listed.stdout, /^dns +udp +127\.0\.0\.1:\d+ +127\.0\.0\.1:53 +enabled +0$/m);
  ok(await fl('inspect', 'dns'), `dns  listen=${proxy.listen}  upstream=127.0.0.1:53  enabled  protocol=udp  idle_timeout=5000ms  sessions=0\n`);
  const slicer = await fl('toxic', 'add', 'dns', '-t', 'slicer');
  assert.is(slicer.code, 1);
  assert.is(slicer.stderr, 'faultline: HTTP 400: toxic slicer does not apply to udp proxies\n');
  ok(await fl('delete', 'dns'), 'Deleted proxy dns\n');
});

test('create, list, inspect, toggle, delete round trip with --json', async () => {
  const created = await fl('--json', 'create', 'gamma', '-l', '127.0.0.1:0', '-u', UPSTREAM);
  assert.is(created.code, 0);
  const proxy = JSON.parse(created.stdout);
  assert.is(proxy.name, 'gamma');
  assert.is(proxy.upstream, UPSTREAM);
  assert.is(proxy.enabled, true);
  assert.equal(proxy.toxics, []);
  assert.match(proxy.listen, /^127\.0\.0\.1:[1-9]\d*$/);

  const listed = await cli(['list', '--json', '--url', url]);
  assert.equal(JSON.parse(listed.stdout), { gamma: proxy });
  assert.equal(JSON.parse((await fl('inspect', 'gamma', '--json')).stdout), proxy);
  const toggled = JSON.parse((await fl('toggle', '--json', 'gamma')).stdout);
  assert.equal(toggled, { ...proxy, enabled: false });
  const deleted = await fl('delete', 'gamma', '--json');
  assert.is(deleted.code, 0);
  assert.equal(JSON.parse(deleted.stdout), { deleted: 'gamma' });
  assert.is((await api('GET', '/proxies/gamma')).status, 404);
});

test('names with spaces are URL-encoded', async () => {
  ok(await fl('create', 'my proxy', '-l', '127.0.0.1:0', '-u', UPSTREAM), 'Created new proxy my proxy\n');
  ok(await fl('t', 'a', 'my proxy', '-t', 'noop', '-n', 'a toxic'), "Added downstream noop toxic 'a toxic' on proxy 'my proxy'\n");
  const shown = await fl('inspect', 'my proxy');
  assert.is(shown.stdout.split('\n')[1], 'a toxic  type=noop  stream=downstream  toxicity=1.00  attributes=[]');
  ok(await fl('t', 'r', 'my proxy', '-n', 'a toxic'), "Removed toxic 'a toxic' on proxy 'my proxy'\n");
  ok(await fl('delete', 'my proxy'), 'Deleted proxy my proxy\n');
});

test('toxic add, update, remove', async () => {
  ok(await fl('create', 'tox', '-l', '127.0.0.1:0', '-u', UPSTREAM), 'Created new proxy tox\n');
  ok(await fl('toxic', 'add', '-u', '-n', 'slow', '--toxicity', '0.5', '-t', 'latency', '-a', 'latency=100', 'tox'),
    "Added upstream latency toxic 'slow' on proxy 'tox'\n");
  ok(await fl('t', 'a', 'tox', '-t', 'bandwidth', '-d', '-a', 'rate=1000'),
    "Added downstream bandwidth toxic 'bandwidth_downstream' on proxy 'tox'\n");
  assert.equal((await api('GET', '/proxies/tox/toxics/slow')).json,
    { attributes: { latency: 100, jitter: 0 }, name: 'slow', type: 'latency', stream: 'upstream', toxicity: 0.5 });

  // No --toxicity: the toxicity must stay 0.5 (toxiproxy-cli would reset it to 1).
  ok(await fl('toxic', 'update', 'tox', '-n', 'slow', '-a', 'jitter=20'), "Updated toxic 'slow' on proxy 'tox'\n");
  assert.equal((await api('GET', '/proxies/tox/toxics/slow')).json.toxicity, 0.5);
  const updated = await fl('t', 'u', 'tox', '-n', 'slow', '--tox', '0.25', '-a', 'latency=300', '--json');
  assert.is(updated.code, 0);
  assert.equal(JSON.parse(updated.stdout),
    { attributes: { latency: 300, jitter: 20 }, name: 'slow', type: 'latency', stream: 'upstream', toxicity: 0.25 });
  ok(await fl('inspect', 'tox'), [
    `tox  listen=${(await api('GET', '/proxies/tox')).json.listen}  upstream=${UPSTREAM}  enabled`,
    'slow  type=latency  stream=upstream  toxicity=0.25  attributes=[jitter=20 latency=300]',
    'bandwidth_downstream  type=bandwidth  stream=downstream  toxicity=1.00  attributes=[rate=1000]',
    '',
  ].join('\n'));

  ok(await fl('toxic', 'remove', 'tox', '-n', 'slow'), "Removed toxic 'slow' on proxy 'tox'\n");
  const removed = await fl('t', 'delete', 'tox', '-n', 'bandwidth_downstream', '--json');
  assert.equal(JSON.parse(removed.stdout), { deleted: 'bandwidth_downstream', proxy: 'tox' });
  assert.equal((await api('GET', '/proxies/tox/toxics')).json, []);
  fails(await fl('toxic', 'remove', 'tox', '-n', 'slow'), 'faultline: HTTP 404: toxic not found\n');
  fails(await fl('toxic', 'add', 'tox', '-t', 'bogus'), 'faultline: HTTP 400: invalid toxic type\n');
  ok(await fl('delete', 'tox'), 'Deleted proxy tox\n');
});

test('server errors exit 1 with one line', async () => {
  fails(await fl('inspect', 'nope'), 'faultline: HTTP 404: proxy not found\n');
  fails(await fl('delete', 'nope'), 'faultline: HTTP 404: proxy not found\n');
  fails(await fl('toggle', 'nope', '--json'), 'faultline: HTTP 404: proxy not found\n');
  fails(await fl('toxic', 'add', 'nope', '-t', 'latency'), 'faultline: HTTP 404: proxy not found\n');
  ok(await fl('create', 'dup', '-l', '127.0.0.1:0', '-u', UPSTREAM), 'Created new proxy dup\n');
  fails(await fl('create', 'dup', '-l', '127.0.0.1:0', '-u', UPSTREAM), 'faultline: HTTP 409: proxy already exists\n');
  ok(await fl('delete', 'dup'), 'Deleted proxy dup\n');
});

test('flag validation errors', async () => {
  fails(await fl('toxic', 'add', 'p', '-t', 'latency', '-u', '-d'), 'faultline: Only one should be specified: upstream or downstream.\n');
  fails(await fl('toxic', 'add', 'p', '-t', 'latency', '--tox', '1.5'), 'faultline: toxicity should be a float between 0 and 1.\n');
  fails(await fl('toxic', 'update', 'p', '-n', 'x', '--toxicity', 'abc'), 'faultline: toxicity should be a float between 0 and 1.\n');
  fails(await fl('toxic', 'add', 'p', '-t', 'latency', '-a', 'latency'), "faultline: attribute should be key=value, got 'latency'.\n");
  fails(await fl('toxic', 'add', 'p'), "error: required option '-t, --type <type>' not specified\n");
  fails(await fl('toxic', 'remove', 'p'), "error: required option '-n, --toxicName <name>' not specified\n");
  fails(await fl('create', 'p', '-l', '127.0.0.1:0'), "error: required option '-u, --upstream <addr>' not specified\n");
  fails(await fl('inspect'), "error: missing required argument 'proxy'\n");
  const unknown = await fl('bogus');
  assert.is(unknown.code, 1);
  assert.ok(unknown.stderr.startsWith("error: unknown command 'bogus'"));
  fails(await cli(['serve', '--port', '70000']),
    "error: option '--port <port>' argument '70000' is invalid. port must be an integer between 0 and 65535.\n");
  fails(await cli(['serve', '--seed', '1.5']), "error: option '--seed <n>' argument '1.5' is invalid. seed must be an integer.\n");
});

test('an unreachable server exits 1 with one line', async () => {
  const port = await closedPort();
  fails(await cli(['--url', `127.0.0.1:${port}`, 'list']), `faultline: cannot reach http://127.0.0.1:${port}: connect ECONNREFUSED\n`);
  fails(await cli(['list'], { FAULTLINE_URL: `http://127.0.0.1:${port}/` }),
    `faultline: cannot reach http://127.0.0.1:${port}: connect ECONNREFUSED\n`);
});

test('FAULTLINE_URL, then TOXIPROXY_URL, then --url over both', async () => {
  const dead = `127.0.0.1:${await closedPort()}`;
  const bare = url.replace(/^http:\/\//, '');
  ok(await cli(['list', '--json'], { FAULTLINE_URL: bare }), '{}\n');
  ok(await cli(['list', '--json'], { TOXIPROXY_URL: url }), '{}\n');
  ok(await cli(['list', '--json'], { FAULTLINE_URL: url, TOXIPROXY_URL: dead }), '{}\n');
  fails(await cli(['list'], { FAULTLINE_URL: dead, TOXIPROXY_URL: url }),
    `faultline: cannot reach http://${dead}: connect ECONNREFUSED\n`);
  ok(await cli(['list', '--json', '--url', url], { FAULTLINE_URL: dead, TOXIPROXY_URL: dead }), '{}\n');
});

test('requests: encoded paths, partial update bodies, user agent', async () => {
  const seen: { method: string; url: string; ua: string; body: string }[] = [];
  const capture = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', ua: req.headers['user-agent'] ?? '', body });
      if (req.url === '/proxies/forbidden') {
        res.writeHead(403, { 'Content-Type': 'text/plain' }).end('User agent not allowed\n');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ name: 'x/y', type: 'latency', stream: 'upstream', toxicity: 1, attributes: {} }));
    });
  });
  capture.listen(0, '127.0.0.1');
  await once(capture, 'listening');
  const base = `127.0.0.1:${(capture.address() as AddressInfo).port}`;
  try {
    ok(await cli(['--url', base, 't', 'u', 'a b', '-n', 'x/y', '-a', 'latency=5']), "Updated toxic 'x/y' on proxy 'a b'\n");
    await cli(['--url', base, 't', 'a', 'a b', '-t', 'latency', '-u', '--tox', '0', '-a', 'on=true', '-a', 's=1x']);
    fails(await cli(['--url', base, 'inspect', 'forbidden']), 'faultline: HTTP 403: User agent not allowed\n');
  } finally {
    capture.close();
  }
  assert.equal(seen.map(({ method, url: u, body }) => [method, u, body]), [
    ['POST', '/proxies/a%20b/toxics/x%2Fy', '{"attributes":{"latency":5}}'],
    ['POST', '/proxies/a%20b/toxics', '{"type":"latency","stream":"upstream","toxicity":0,"attributes":{"on":true,"s":"1x"}}'],
    ['GET', '/proxies/forbidden', ''],
  ]);
  for (const s of seen) assert.is(s.ua, `faultline-cli/${VERSION}`);
});

test('attribute and toxicity parsing', () => {
  assert.equal(parseAttributes(['latency=100', 'f=0.5', 'b=false', 's=abc', 'e=', 'eq=a=b']),
    { latency: 100, f: 0.5, b: false, s: 'abc', e: '', eq: 'a=b' });
  assert.is(parseToxicity('0'), 0);
  assert.is(parseToxicity('1'), 1);
  assert.throws(() => parseToxicity('-0.1'), /between 0 and 1/);
  assert.throws(() => parseToxicity(''), /between 0 and 1/);
});

test('serve: prints its address, answers, and exits 0 on SIGTERM', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'faultline-cli-'));
  const config = join(dir, 'config.json');
  const echo = await udpEcho();
  const client = await udpClient();
  await writeFile(config, JSON.stringify([
    { name: 'from-config', listen: '127.0.0.1:0', upstream: UPSTREAM },
    { name: 'udp-config', protocol: 'udp', idle_timeout: 1234, listen: '127.0.0.1:0', upstream: echo.address },
  ]));
  // Run in the temp dir: the default --db, faultline.db, is created in the working directory.
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--seed', '42', '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: dir,
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  try {
    let out = '';
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve printed no address: ${out}`)), 10_000);
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) {
          clearTimeout(timer);
          resolve(out.split('\n')[0] ?? '');
        }
      });
      child.on('exit', () => reject(new Error(`serve exited early: ${out}`)));
    });
    const m = /^faultline listening on (http:\/\/127\.0\.0\.1:([1-9]\d*)) \(seed 42\)$/.exec(line);
    assert.ok(m, `unexpected line: ${line}`);
    const served = m?.[1] ?? '';
    const version = await fetch(`${served}/version`);
    assert.is(version.status, 200);
    await version.text();
    const listed = await cli(['list', '--json', '--url', served]);
    assert.equal(Object.keys(JSON.parse(listed.stdout)), ['from-config', 'udp-config']);
    const udp = JSON.parse(listed.stdout)['udp-config'];
    assert.equal([udp.protocol, udp.idle_timeout, udp.sessions, udp.upstream], ['udp', 1234, 0, echo.address]);
    client.send('ping via config', portOf(udp.listen));
    assert.is((await client.next(5000)).data.toString(), 'ping via config');
    assert.is(echo.count, 1);
    const after = await fetch(`${served}/proxies/udp-config`);
    assert.is((await after.json() as { sessions: number }).sessions, 1);
    child.kill('SIGTERM');
    const [code, signal] = await exited;
    assert.ok(existsSync(join(dir, 'faultline.db')), 'serve keeps its state in ./faultline.db by default');
    assert.is(signal, null);
    assert.is(code, 0);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all([client.close(), echo.close()]);
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
