// DNS rebinding beyond loopback: a server bound to 0.0.0.0 serves its page (and the token in
// it), takes browser REST calls and browser WebSocket upgrades only for a Host a rebinding site
// cannot use: an IP address literal, localhost, or a name given with --allowed-host /
// FAULTLINE_ALLOWED_HOSTS / allowedHosts. Toxiproxy clients keep working whatever Host they send.
// The servers bind 0.0.0.0, but every connection goes to 127.0.0.1 with the Host set by hand.

import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type FaultlineServer, type ServerOptions } from '../src/server.js';
import { rawRequest } from './_helpers/api.js';
import { cli } from './_helpers/cli.js';
import { echoServer } from './_helpers/net.js';
import { spawnServe, tempDir } from './_helpers/persistence.js';
import { upgrade } from './_helpers/ws.js';

const MOZILLA = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const TOKEN = 'browser-hosts-test-token-0123456789';
const META = `<meta name="faultline-token" content="${TOKEN}">`;

async function withWide(options: ServerOptions, fn: (s: FaultlineServer, local: string) => Promise<void>): Promise<void> {
  const s = await createServer({ host: '0.0.0.0', port: 0, db: false, token: TOKEN, ...options });
  try {
    await fn(s, `http://127.0.0.1:${s.port}`);
  } finally {
    await s.close();
  }
}

const page = (local: string, host: string, ua = MOZILLA) => rawRequest(local, 'GET', '/dashboard/', { host, 'user-agent': ua });

/** A browser REST call from the page at `host`: its Origin matches that Host, with the token. */
const fromPage = (local: string, host: string) => rawRequest(local, 'GET', '/proxies',
  { host, origin: `http://${host}`, 'user-agent': MOZILLA, 'x-faultline-token': TOKEN });

/** The raw response to a request written byte for byte (node:http would fill in an empty Host). */
function verbatim(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(request));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => { text += d; });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

function refusalBody(name: string): unknown {
  return {
    error: `host not allowed: ${name} is not an IP address, localhost or an allowed host; open the dashboard by one of those, ` +
      `or start the server with --allowed-host ${name} (or FAULTLINE_ALLOWED_HOSTS) to allow the name`,
    status: 403,
    code: 'ERR_HOST_NOT_ALLOWED',
  };
}

test('the page and its token: refused for a rebound name, served for IP literals and localhost', async () => {
  await withWide({}, async (s, local) => {
    for (const ua of [MOZILLA, 'curl/8.5.0']) {
      const r = await page(local, `evil.example:${s.port}`, ua);
      assert.equal([r.status, r.headers['content-type']], [403, 'application/json'], ua);
      assert.equal(JSON.parse(r.text), refusalBody('evil.example'), ua);
      assert.not.ok(r.text.includes(TOKEN), 'no token in the refusal');
    }
    const root = await rawRequest(local, 'GET', '/', { host: `evil.example:${s.port}`, 'user-agent': MOZILLA });
    assert.is(root.status, 403);
    for (const host of [`127.0.0.1:${s.port}`, `[::1]:${s.port}`, `10.1.2.3:${s.port}`, `[fd00::7]:${s.port}`, `localhost:${s.port}`, '192.168.0.9']) {
      const r = await page(local, host);
      assert.is(r.status, 200, host);
      assert.ok(r.text.includes(META), `${host} gets the token`);
    }
    // Names that merely look like an address or like localhost are names.
    for (const host of ['10.1.2.3.evil.example', 'localhost.evil.example', 'evil-localhost', '0x7f.evil.example']) {
      assert.is((await page(local, host)).status, 403, host);
    }
    for (const host of ['', '127.0.0.1@evil.example', '10.1.2.3/x']) {
      const r = await verbatim(s.port, `GET /dashboard/ HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: ${MOZILLA}\r\nConnection: close\r\n\r\n`);
      assert.ok(r.startsWith('HTTP/1.1 403 '), `${JSON.stringify(host)}: ${r.slice(0, 40)}`);
      assert.ok(r.endsWith('{"error":"host not allowed: the request has no valid Host header","status":403,"code":"ERR_HOST_NOT_ALLOWED"}\n'), r);
    }
  });
});

test('browser REST: the token and a matching Origin are not enough when the Host is a rebound name', async () => {
  await withWide({}, async (s, local) => {
    const rebound = await fromPage(local, `evil.example:${s.port}`);
    assert.equal([rebound.status, rebound.text], [403, 'User agent not allowed\n']);
    // A script that replaces its User-Agent still sends the Origin of a POST.
    const post = await rawRequest(local, 'POST', '/proxies', {
      host: `evil.example:${s.port}`, origin: `http://evil.example:${s.port}`, 'user-agent': 'curl/8.5.0',
      'x-faultline-token': TOKEN, 'content-type': 'application/json',
    }, JSON.stringify({ name: 'planted', listen: '127.0.0.1:0', upstream: '127.0.0.1:1' }));
    assert.equal([post.status, post.text], [403, 'User agent not allowed\n']);
    for (const host of [`127.0.0.1:${s.port}`, `10.1.2.3:${s.port}`, `[::1]:${s.port}`, `localhost:${s.port}`]) {
      const r = await fromPage(local, host);
      assert.equal([r.status, r.text], [200, '{}'], host);
    }
  });
});

test('allowedHosts: listed names and, with a leading dot, a domain and its subdomains', async () => {
  await withWide({ allowedHosts: ['chaos.internal', '.Corp.Example'] }, async (s, local) => {
    const port = `:${s.port}`;
    for (const name of ['chaos.internal', 'CHAOS.internal', 'corp.example', 'a.corp.example', 'x.y.corp.example']) {
      assert.is((await page(local, name + port)).status, 200, name);
      assert.is((await fromPage(local, name + port)).status, 200, name);
    }
    for (const name of ['evil.example', 'a.chaos.internal', 'chaos.internal.evil.example', 'evilcorp.example', 'corp.example.evil']) {
      const r = await page(local, name + port);
      assert.equal([r.status, JSON.parse(r.text)], [403, refusalBody(name)], name);
      assert.is((await fromPage(local, name + port)).status, 403, name);
    }
  });
});

test('a loopback server keeps its loopback rule, and also takes the allowed names', async () => {
  const s = await createServer({ port: 0, db: false, token: TOKEN, allowedHosts: ['chaos.test'] });
  try {
    const loopback = (name: string, allow: boolean) => ({
      error: `host not allowed: ${name}; this server listens on loopback, so open the dashboard at localhost, 127.0.0.1 or [::1]` +
        (allow ? `, or start the server with --allowed-host ${name} (or FAULTLINE_ALLOWED_HOSTS) to allow the name` : ''),
      status: 403,
      code: 'ERR_HOST_NOT_ALLOWED',
    });
    for (const host of [`chaos.test:${s.port}`, `localhost:${s.port}`, `[::1]:${s.port}`]) {
      assert.is((await page(s.url, host)).status, 200, host);
    }
    const named = await page(s.url, `evil.example:${s.port}`);
    assert.equal([named.status, JSON.parse(named.text)], [403, loopback('evil.example', true)]);
    const address = await page(s.url, `10.1.2.3:${s.port}`);
    assert.equal([address.status, JSON.parse(address.text)], [403, loopback('10.1.2.3', true)]);
    const v6 = await page(s.url, `[fd00::7]:${s.port}`);
    assert.equal([v6.status, JSON.parse(v6.text)], [403, loopback('[fd00::7]', false)]);
  } finally {
    await s.close();
  }
});

test('Toxiproxy clients (no Origin, no Mozilla/ agent) are untouched whatever Host they send', async () => {
  const echo = await echoServer();
  try {
    await withWide({}, async (_s, local) => {
      for (const ua of [undefined, 'toxiproxy-go/2.12', 'python-requests/2.31']) {
        const headers: Record<string, string> = { host: 'toxiproxy:8474', ...(ua === undefined ? {} : { 'user-agent': ua }) };
        const name = `svc_${ua?.split('/')[0] ?? 'none'}`;
        const made = await rawRequest(local, 'POST', '/proxies', { ...headers, 'content-type': 'application/json' },
          JSON.stringify({ name, listen: '127.0.0.1:0', upstream: echo.address }));
        assert.is(made.status, 201, `${ua}: ${made.text}`);
        const list = await rawRequest(local, 'GET', '/proxies', headers);
        assert.is(list.status, 200);
        assert.ok(name in JSON.parse(list.text), name);
        assert.is((await rawRequest(local, 'GET', '/version', headers)).status, 200);
      }
      assert.equal(Object.keys(JSON.parse((await rawRequest(local, 'GET', '/proxies')).text)).sort(),
        ['svc_none', 'svc_python-requests', 'svc_toxiproxy-go']);
    });
  } finally {
    await echo.close();
  }
});

test('the stream: a browser upgrade with the token is refused for a rebound name, accepted for an allowed one', async () => {
  await withWide({ allowedHosts: ['chaos.internal'] }, async (s) => {
    const ws = (host: string, token = TOKEN) => upgrade(`ws://127.0.0.1:${s.port}/events/stream?token=${token}`,
      { origin: `http://${host}`, headers: { host } });
    assert.equal(await ws(`evil.example:${s.port}`), { status: 401, body: 'Unauthorized' });
    assert.equal(await ws(`chaos.internal:${s.port}`), { status: 101, body: '' });
    assert.equal(await ws(`10.1.2.3:${s.port}`), { status: 101, body: '' });
    assert.equal(await ws(`chaos.internal:${s.port}`, 'wrong'), { status: 401, body: 'Unauthorized' });
    // A script subscribes without an Origin, by any Host.
    assert.equal(await upgrade(`ws://127.0.0.1:${s.port}/events/stream`, { headers: { host: 'toxiproxy:8474' } }), { status: 101, body: '' });
  });
});

test('the library refuses a malformed or wildcard name before starting', async () => {
  const name = 'expected a host name such as chaos.internal, or .example.com for a domain and its subdomains, without a scheme, port, path or spaces';
  const cases: Array<[string, string]> = [
    ['a.example/x', name], ['a.example:8474', name], ['a example', name], ['http://a.example', name],
    ['', name], ['a..example', name], ['-a.example', name], ['[::1]', name],
    ['*', 'there is no wildcard: list each name, or .example.com for a domain and its subdomains'],
    ['*.example', 'there is no wildcard: list each name, or .example.com for a domain and its subdomains'],
  ];
  for (const [host, problem] of cases) {
    let message = 'started';
    try {
      await (await createServer({ host: '0.0.0.0', port: 0, db: false, insecure: true, allowedHosts: [host] })).close();
    } catch (err) {
      message = (err as Error).message;
    }
    assert.is(message, `invalid allowed host ${JSON.stringify(host)}: ${problem}`, host);
  }
});

test('faultline serve: --allowed-host (repeated, comma-separated) and FAULTLINE_ALLOWED_HOSTS; bad names stop the start', async () => {
  const t = await tempDir();
  const saved = process.env.FAULTLINE_ALLOWED_HOSTS;
  const statuses = async (url: string, names: string[]): Promise<number[]> => {
    const local = url.replace('0.0.0.0', '127.0.0.1');
    const port = new URL(url).port;
    return Promise.all(names.map(async (n) => (await page(local, `${n}:${port}`)).status));
  };
  const names = ['a.example', 'b.example', 'c.example', 'x.d.example', '127.0.0.1'];
  try {
    const runs: Array<[string | undefined, string[], number[]]> = [
      [undefined, ['--allowed-host', 'a.example,b.example'], [200, 200, 403, 403, 200]],
      [undefined, ['--allowed-host', 'a.example', '--allowed-host', '.d.example'], [200, 403, 403, 200, 200]],
      ['b.example, .d.example,', [], [403, 200, 403, 200, 200]],
      ['b.example', ['--allowed-host', 'c.example'], [403, 403, 200, 403, 200]], // the flag wins
    ];
    for (const [env, args, expected] of runs) {
      if (env === undefined) delete process.env.FAULTLINE_ALLOWED_HOSTS;
      else process.env.FAULTLINE_ALLOWED_HOSTS = env;
      const child = await spawnServe(['--host', '0.0.0.0', '--insecure', '--db', ':memory:', ...args], t.dir);
      try {
        assert.equal(await statuses(child.url, names), expected, `${env} ${args.join(' ')}`);
      } finally {
        await child.kill('SIGTERM');
      }
    }
  } finally {
    if (saved === undefined) delete process.env.FAULTLINE_ALLOWED_HOSTS;
    else process.env.FAULTLINE_ALLOWED_HOSTS = saved;
    await t.remove();
  }
  const serve = ['serve', '--host', '0.0.0.0', '--insecure', '--port', '0', '--db', ':memory:'];
  const problem = 'expected a host name such as chaos.internal, or .example.com for a domain and its subdomains, without a scheme, port, path or spaces';
  for (const [args, env, bad] of [
    [['--allowed-host', 'a.example,b.example/admin'], '', 'b.example/admin'],
    [['--allowed-host', 'a.example:8474'], '', 'a.example:8474'],
    [[], 'ok.example,bad host', 'bad host'],
  ] as const) {
    const r = await cli([...serve, ...args], { FAULTLINE_ALLOWED_HOSTS: env });
    assert.equal([r.code, r.stdout], [1, ''], r.stderr);
    assert.is(r.stderr, `faultline: invalid allowed host ${JSON.stringify(bad)}: ${problem}\n`);
  }
});

test.run();
