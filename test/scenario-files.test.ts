// GET /scenarios/files and /scenarios/files/{name}: the server's folder of scenario files as the
// dashboard sees it (name, size, mtime, title), each file's text, nothing outside the folder, and
// a listed file started as a run. Also `faultline serve --scenarios`.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rawRequest } from './_helpers/api.js';
import { cli } from './_helpers/cli.js';
import { echoServer, startServer, type TestServer } from './_helpers/net.js';
import { SCENARIO_LIMITS } from '../src/scenario/read-yaml.js';

const FILES: Record<string, string> = {
  'alpha.yaml': 'title: Alpha outage\nduration: 1s\n',
  'beta.yml': '# no title here\ntimeline: []\n',
  'gamma.json': '{"title": "Gamma", "timeline": []}\n',
  'broken.yaml': 'title: [unclosed\n',
  'number-title.yaml': 'title: 42\n',
  'notes.txt': 'title: not a scenario\n',
  '.hidden.yaml': 'title: hidden\n',
};

async function withFolder(run: (s: TestServer, dir: string, base: string) => Promise<void>): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), 'faultline-scenarios-'));
  const dir = join(base, 'scenarios');
  await mkdir(join(dir, 'nested.yaml'), { recursive: true });
  for (const [name, text] of Object.entries(FILES)) await writeFile(join(dir, name), text);
  await writeFile(join(base, 'secret.yaml'), 'title: outside\n');
  await symlink(join(base, 'secret.yaml'), join(dir, 'escape.yaml'));
  await symlink(join(dir, 'alpha.yaml'), join(dir, 'alias.yaml'));
  const s = await startServer({ db: false, scenariosDir: dir });
  try {
    await run(s, dir, base);
  } finally {
    await s.close();
    await rm(base, { recursive: true, force: true });
  }
}

function verbatim(port: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the listing: the folder\'s .yaml, .yml and .json files by name, with size, mtime and title', async () => {
  await withFolder(async (s, dir) => {
    const r = await s.api('GET', '/scenarios/files');
    assert.is(r.status, 200);
    const names = ['alias.yaml', 'alpha.yaml', 'beta.yml', 'broken.yaml', 'gamma.json', 'number-title.yaml'];
    const titles = ['Alpha outage', 'Alpha outage', null, null, 'Gamma', null];
    const expected = await Promise.all(names.map(async (name, i) => {
      const info = await stat(join(dir, name));
      return { name, size: info.size, mtime: Math.round(info.mtimeMs), title: titles[i] };
    }));
    assert.equal(r.json, { files: expected });
  });
});

test('a file\'s text, typed by extension; names outside the folder or not listed are 404', async () => {
  await withFolder(async (s) => {
    for (const [name, type] of [['alpha.yaml', 'text/yaml; charset=utf-8'], ['beta.yml', 'text/yaml; charset=utf-8'], ['gamma.json', 'application/json; charset=utf-8']]) {
      const r = await s.api('GET', `/scenarios/files/${name}`);
      assert.equal([r.status, r.headers.get('content-type'), r.text], [200, type, FILES[name!]], name);
    }
    const missing = ['escape.yaml', 'notes.txt', '.hidden.yaml', 'nested.yaml', 'nope.yaml', '..%2fsecret.yaml', '%2e%2e%2fsecret.yaml',
      '%2E%2E%2Fscenarios%2Falpha.yaml', '..%5csecret.yaml', '%2e%2e', 'alpha.yaml%00.txt'];
    for (const name of missing) {
      const r = await verbatim(s.port, `/scenarios/files/${name}`);
      assert.equal([r.status, JSON.parse(r.text)], [404, { error: 'scenario file not found', status: 404, code: 'ERR_SCENARIO_FILE_NOT_FOUND' }], name);
    }
    assert.is((await verbatim(s.port, '/scenarios/files/../../secret.yaml')).status, 404);
    const browser = await rawRequest(s.url, 'GET', '/scenarios/files', { 'user-agent': 'Mozilla/5.0' });
    assert.equal([browser.status, browser.text], [403, 'User agent not allowed\n'], 'the browser guard applies');
    const withToken = await rawRequest(s.url, 'GET', '/scenarios/files/alpha.yaml',
      { 'user-agent': 'Mozilla/5.0', 'x-faultline-token': s.token, 'sec-fetch-site': 'same-origin' });
    assert.equal([withToken.status, withToken.text], [200, FILES['alpha.yaml']]);
  });
});

test('files over the scenario size limit are listed without a title and not served', async () => {
  await withFolder(async (s, dir) => {
    const limit = SCENARIO_LIMITS.bytes;
    // One byte over: 'title: Huge\n# ' is 14 bytes, then the padding and a newline.
    await writeFile(join(dir, 'huge.yaml'), `title: Huge\n# ${'x'.repeat(limit - 14)}\n`);
    await writeFile(join(dir, 'just.yaml'), `title: Just\n# ${'x'.repeat(limit - 15)}\n`);
    const files = (await s.api('GET', '/scenarios/files')).json.files;
    const huge = files.find((f: any) => f.name === 'huge.yaml');
    const just = files.find((f: any) => f.name === 'just.yaml');
    assert.equal([huge.size, huge.title], [limit + 1, null]);
    assert.equal([just.size, just.title], [limit, 'Just']);
    const r = await s.api('GET', '/scenarios/files/huge.yaml');
    assert.equal([r.status, r.json.error], [404, `scenario file not found: huge.yaml is larger than ${limit} bytes, the scenario size limit`]);
    assert.is((await s.api('GET', '/scenarios/files/just.yaml')).status, 200);
  });
});

test('a deeply nested file in the folder is listed without a title and does not crash the server', async () => {
  await withFolder(async (s, dir) => {
    await writeFile(join(dir, 'deep.yaml'), `${'{"a":'.repeat(1000)}1${'}'.repeat(1000)}\n`);
    for (let i = 0; i < 3; i++) {
      const listed = (await s.api('GET', '/scenarios/files')).json.files.find((f: any) => f.name === 'deep.yaml');
      assert.is(listed.title, null);
    }
    assert.is((await s.api('GET', '/version')).status, 200);
  });
});

test('a listed file, fetched and posted to /scenarios/runs, runs', async () => {
  const echo = await echoServer();
  try {
    await withFolder(async (s, dir) => {
      await writeFile(join(dir, 'latency.yaml'), [
        'title: Stored latency',
        'proxies:',
        `  - {name: stored, upstream: ${echo.address}}`,
        'timeline:',
        '  - {at: 0s, toxic: {proxy: stored, name: lat, type: latency, attributes: {latency: 5}}, for: 100ms}',
        '',
      ].join('\n'));
      const listed = (await s.api('GET', '/scenarios/files')).json.files.find((f: any) => f.name === 'latency.yaml');
      assert.is(listed.title, 'Stored latency');
      const text = (await s.api('GET', '/scenarios/files/latency.yaml')).text;
      const started = await s.api('POST', '/scenarios/runs', { scenario: text });
      assert.is(started.status, 201, started.text);
      const deadline = Date.now() + 5000;
      let status = 'running';
      while (status === 'running' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        status = (await s.api('GET', `/scenarios/runs/${started.json.id}`)).json.status;
      }
      assert.is(status, 'held');
    });
  } finally {
    await echo.close();
  }
});

test('faultline serve --scenarios: a folder that does not exist is an error', async () => {
  const r = await cli(['serve', '--port', '0', '--db', ':memory:', '--scenarios', '/no/such/folder']);
  assert.equal([r.code, r.stderr], [1, 'faultline: --scenarios /no/such/folder: not a folder\n']);
});

test.run();
