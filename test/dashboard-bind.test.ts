// A server listening beyond loopback refuses to start without a chosen token or an explicit
// insecure flag, in the library and in `faultline serve` (which also reads FAULTLINE_TOKEN); the
// Docker image's command, read from the Dockerfile, still starts with a plain `docker run`.
// Binding 0.0.0.0 is part of what is tested; every connection still goes to 127.0.0.1.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { isLoopbackHost } from '../src/api/browser-access.js';
import { VERSION, createServer, type ServerOptions } from '../src/server.js';
import { rawRequest } from './_helpers/api.js';
import { CLI, cli } from './_helpers/cli.js';
import { spawnServe, tempDir } from './_helpers/persistence.js';
import { until } from './_helpers/ws.js';

const MOZILLA = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

async function refusal(options: ServerOptions): Promise<string> {
  try {
    const s = await createServer(options);
    await s.close();
  } catch (err) {
    return (err as Error).message;
  }
  return 'started';
}

test('loopback is 127.0.0.0/8, ::1 and localhost; nothing else', () => {
  const yes = ['127.0.0.1', '127.1.2.3', '127.1', 'localhost', 'LOCALHOST', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'];
  const no = ['0.0.0.0', '::', '10.0.0.1', '192.168.1.10', '::ffff:10.0.0.1', 'example.com', 'localhost.example.com', '', '128.0.0.1'];
  for (const host of yes) assert.ok(isLoopbackHost(host), host);
  for (const host of no) assert.not.ok(isLoopbackHost(host), host);
});

test('a non-loopback bind without a token is refused before anything is created', async () => {
  const t = await tempDir();
  try {
    for (const host of ['0.0.0.0', '::', 'example.invalid']) {
      const message = await refusal({ host, port: 0, db: t.file });
      assert.is(message, `refusing to listen on ${host}, which is not a loopback address, without a token: ` +
        'anyone who can reach it could drive the chaos API. Give a token (--token or FAULTLINE_TOKEN), or pass --insecure to accept that');
      assert.not.ok(existsSync(t.file), 'no database file');
    }
    assert.is(await refusal({ host: '0.0.0.0', port: 0, db: false, token: 'two words' }),
      'invalid token: the token must be 1 to 512 printable ASCII characters without spaces');
    assert.is(await refusal({ port: 0, db: false, token: '' }),
      'invalid token: the token must be 1 to 512 printable ASCII characters without spaces');
    assert.is(await refusal({ host: 'localhost', port: 0, db: false }), 'started', 'loopback needs no token');
  } finally {
    await t.remove();
  }
});

test('with a token it starts on 0.0.0.0; with insecure too, and says so', async () => {
  const token = 'a-chosen-token-of-some-length';
  const s = await createServer({ host: '0.0.0.0', port: 0, db: false, token });
  try {
    assert.equal([s.host, s.token], ['0.0.0.0', token]);
    const local = `http://127.0.0.1:${s.port}`;
    assert.is((await rawRequest(local, 'GET', '/version')).status, 200);
    const browser = { 'user-agent': MOZILLA, 'sec-fetch-site': 'same-origin' };
    assert.is((await rawRequest(local, 'GET', '/proxies', browser)).status, 403);
    assert.is((await rawRequest(local, 'GET', '/proxies', { ...browser, 'x-faultline-token': token })).status, 200);
    // Beyond loopback a name must be allowed, or a site could rebind its own name to us.
    const named = { ...browser, host: `chaos.example:${s.port}`, 'x-faultline-token': token };
    assert.is((await rawRequest(local, 'GET', '/proxies', named)).status, 403);
  } finally {
    await s.close();
  }
  const allowing = await createServer({ host: '0.0.0.0', port: 0, db: false, token, allowedHosts: ['chaos.example'] });
  try {
    const named = { 'user-agent': MOZILLA, 'sec-fetch-site': 'same-origin', host: `chaos.example:${allowing.port}`, 'x-faultline-token': token };
    assert.is((await rawRequest(`http://127.0.0.1:${allowing.port}`, 'GET', '/proxies', named)).status, 200);
  } finally {
    await allowing.close();
  }
  const lines: string[] = [];
  const open = await createServer({ host: '0.0.0.0', port: 0, db: false, insecure: true, log: (l) => lines.push(l) });
  try {
    assert.match(open.token, /^[\w-]{32}$/, 'a token is still made for the dashboard');
    assert.equal(lines, ['warn: listening on 0.0.0.0 with --insecure: anyone who can reach this port can drive the API and open the dashboard']);
    assert.is((await rawRequest(`http://127.0.0.1:${open.port}`, 'GET', '/version')).status, 200);
  } finally {
    await open.close();
  }
});

test('faultline serve: refuses 0.0.0.0 without a token, and takes one from --token or FAULTLINE_TOKEN', async () => {
  const refused = await cli(['serve', '--host', '0.0.0.0', '--port', '0', '--db', ':memory:'], { FAULTLINE_TOKEN: '' });
  assert.is(refused.code, 1);
  assert.match(refused.stderr, /^faultline: refusing to listen on 0\.0\.0\.0, which is not a loopback address, without a token/);
  assert.is(refused.stdout, '');
  const t = await tempDir();
  const saved = process.env.FAULTLINE_TOKEN;
  process.env.FAULTLINE_TOKEN = 'from-the-environment';
  try {
    for (const [args, token] of [[[], 'from-the-environment'], [['--token', 'from-the-flag'], 'from-the-flag']] as const) {
      const child = await spawnServe(['--host', '0.0.0.0', '--db', ':memory:', ...args], t.dir);
      try {
        assert.match(child.url, /^http:\/\/0\.0\.0\.0:\d+$/);
        const local = child.url.replace('0.0.0.0', '127.0.0.1');
        const browser = { 'user-agent': MOZILLA, 'sec-fetch-site': 'same-origin' };
        assert.is((await rawRequest(local, 'GET', '/proxies', { ...browser, 'x-faultline-token': token })).status, 200, token);
        assert.is((await rawRequest(local, 'GET', '/proxies', { ...browser, 'x-faultline-token': 'other' })).status, 403);
      } finally {
        await child.kill('SIGTERM');
      }
    }
  } finally {
    if (saved === undefined) delete process.env.FAULTLINE_TOKEN;
    else process.env.FAULTLINE_TOKEN = saved;
    await t.remove();
  }
});

/** The final stage's ENTRYPOINT and CMD, in exec (JSON) form. */
function dockerCommand(): { entrypoint: string[]; cmd: string[] } {
  const text = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
  const last = text.slice(text.lastIndexOf('\nFROM '));
  const field = (name: string): string[] => {
    const m = new RegExp(`^${name} (\\[.*\\])$`, 'm').exec(last);
    assert.ok(m, `the final stage has an exec-form ${name}`);
    return JSON.parse(m![1]!) as string[];
  };
  return { entrypoint: field('ENTRYPOINT'), cmd: field('CMD') };
}

test("the Docker image's command starts without a token, and uses FAULTLINE_TOKEN when given", async () => {
  const { entrypoint, cmd } = dockerCommand();
  assert.equal(entrypoint, ['faultline']);
  assert.equal(cmd.slice(0, 3), ['serve', '--host', '0.0.0.0']);
  const t = await tempDir();
  try {
    for (const token of [undefined, 'from-docker-run-e']) {
      const env: NodeJS.ProcessEnv = { ...process.env };
      delete env.FAULTLINE_TOKEN;
      if (token !== undefined) env.FAULTLINE_TOKEN = token;
      // A later --db wins, so the image's /data path is never touched.
      const proc = spawn(process.execPath, [CLI, ...cmd, '--port', '0', '--db', ':memory:'], { cwd: t.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = once(proc, 'exit');
      let out = '';
      let err = '';
      proc.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      proc.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      try {
        await until(() => out.includes('dashboard: ') || proc.exitCode !== null, 10_000, () => `the listening line in ${JSON.stringify(out + err)}`);
        const port = /^faultline listening on http:\/\/0\.0\.0\.0:(\d+) \(seed -?\d+\)$/m.exec(out)?.[1];
        assert.ok(port !== undefined, out + err);
        const local = `http://127.0.0.1:${port}`;
        const version = await rawRequest(local, 'GET', '/version');
        assert.is(version.status, 200);
        assert.ok(version.text.includes(VERSION), version.text);
        // The warning is written before the listening line, but travels down another pipe.
        if (token === undefined) await until(() => err.endsWith('\n'), 5000, () => `the warning in ${JSON.stringify(err)}`);
        assert.is(err, token === undefined
          ? 'warn: listening on 0.0.0.0 with --insecure: anyone who can reach this port can drive the API and open the dashboard\n'
          : '');
        if (token !== undefined) {
          const browser = { 'user-agent': MOZILLA, 'sec-fetch-site': 'same-origin' };
          assert.is((await rawRequest(local, 'GET', '/proxies', { ...browser, 'x-faultline-token': token })).status, 200);
          assert.is((await rawRequest(local, 'GET', '/proxies', { ...browser, 'x-faultline-token': 'other' })).status, 403);
        }
      } finally {
        proc.kill('SIGTERM');
        await exited;
      }
    }
  } finally {
    await t.remove();
  }
});

test('faultline serve prints where the dashboard is', async () => {
  const t = await tempDir();
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--db', ':memory:'], { cwd: t.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(proc, 'exit');
  try {
    let out = '';
    proc.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    await until(() => out.includes('dashboard: ') && out.endsWith('\n'), 10_000, () => `the dashboard line in ${JSON.stringify(out)}`);
    const url = /^faultline listening on (http:\/\/127\.0\.0\.1:\d+) \(seed -?\d+\)$/m.exec(out)?.[1];
    assert.ok(url !== undefined, out);
    assert.match(out, new RegExp(`\\ndashboard: ${url}/dashboard/\\n$`));
  } finally {
    proc.kill('SIGTERM');
    await exited;
    await t.remove();
  }
});

test.run();
