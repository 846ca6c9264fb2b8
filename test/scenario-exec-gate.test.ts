// Exec probes are opt-in on the server: a posted scenario with one is refused (403, nothing
// stored) unless the server allows exec (`--allow-exec`, `allowExec`) and the request carries
// the token, whoever the client is. An allowed run's command sees a bare PATH and the probe's
// own `env`, nothing of the server's environment. `faultline run FILE` keeps exec and the
// user's environment.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseScenario } from '../src/scenario/parse.js';
import { cli } from './_helpers/cli.js';
import { startServer, type TestServer } from './_helpers/net.js';
import { spawnServe, tempDir } from './_helpers/persistence.js';

const SECRET = 'FAULTLINE_GATE_SECRET';
// The server in this process reads process.env, as a real one would read its own.
process.env[SECRET] = 'hunter2';

/** What the shell sees: the secret (if it leaked), the PATH, the probe's variable, and every
 *  name in the environment. `$$` keeps `${...}` from the scenario's own substitution. */
const REPORT = 'echo "secret=$${FAULTLINE_GATE_SECRET:-none} path=$$PATH mine=$${MINE:-unset} names=$$(env | cut -d= -f1 | sort | tr \'\\n\' \',\')"';

type Where = 'steady' | 'halt' | 'step';

function execScenario(where: Where, command = 'true'): string {
  const probe = `{name: shell, exec: {command: ${JSON.stringify(command)}, env: {MINE: "probe's own", COUNT: 3}}}`;
  const lines = ['title: Exec gate'];
  if (where === 'steady') lines.push('steady_state:', `  probes: [${probe}]`);
  if (where === 'halt') lines.push('halt_when:', `  - {probe: ${probe}, failing_for: 1s}`);
  lines.push('timeline:', where === 'step' ? `  - {at: 0s, probe: ${probe}}` : '  - {at: 0s, heal: all}', '');
  return lines.join('\n');
}

const PLAIN = 'title: No exec\ntimeline:\n  - {at: 0s, heal: all}\n';

async function runs(server: TestServer): Promise<unknown[]> {
  return (await server.api('GET', '/scenarios/runs')).json.runs;
}

async function finished(server: TestServer, id: string): Promise<any> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const run = (await server.api('GET', `/scenarios/runs/${id}`)).json;
    if (run.status !== 'running') return run;
    if (Date.now() > deadline) assert.unreachable(`run ${id} still running`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a server started without allowExec refuses exec in any probe position, token or not, and stores nothing', async () => {
  const server = await startServer({ db: false });
  try {
    for (const where of ['steady', 'halt', 'step'] as const) {
      for (const headers of [{}, { 'X-Faultline-Token': server.token }] as Record<string, string>[]) {
        const res = await server.api('POST', '/scenarios/runs', { scenario: execScenario(where) }, headers);
        assert.is(res.status, 403, res.text);
        assert.is(res.json.code, 'ERR_EXEC_NOT_ALLOWED');
        assert.match(res.json.error, /^exec not allowed on this server: the scenario has exec probes \(shell\); start the server with faultline serve --allow-exec/);
        assert.ok(res.text.endsWith('}\n'));
      }
    }
    assert.equal(await runs(server), [], 'no run was stored');
    const plain = await server.api('POST', '/scenarios/runs', { scenario: PLAIN });
    assert.is(plain.status, 201, 'a scenario without exec still needs no token');
  } finally {
    await server.close();
  }
});

test('with allowExec, a request without the token (or with a wrong one) is refused, whoever sends it', async () => {
  const server = await startServer({ db: false, allowExec: true });
  try {
    const clients: Record<string, string>[] = [
      {},
      { 'User-Agent': 'curl/8.5.0' },
      { 'X-Faultline-Token': `${server.token}x` },
      { 'X-Faultline-Token': '' },
    ];
    for (const headers of clients) {
      const res = await server.api('POST', '/scenarios/runs', { scenario: execScenario('steady') }, headers);
      assert.is(res.status, 403, `${JSON.stringify(headers)}: ${res.text}`);
      assert.is(res.json.code, 'ERR_EXEC_NEEDS_TOKEN');
      assert.match(res.json.error, /^exec needs the token: the scenario has exec probes \(shell\); send the server's token .* in the X-Faultline-Token header$/);
    }
    assert.equal(await runs(server), []);
  } finally {
    await server.close();
  }
});

test('with allowExec and the token, the run executes with a bare PATH and the probe env, none of the server environment', async () => {
  const server = await startServer({ db: false, allowExec: true });
  try {
    const res = await server.api('POST', '/scenarios/runs', { scenario: execScenario('step', REPORT) }, { 'X-Faultline-Token': server.token });
    assert.is(res.status, 201, res.text);
    const run = await finished(server, res.json.id);
    assert.is(run.status, 'held', run.reason);
    const output: string = run.probes[0].output;
    assert.match(output, /^secret=none path=\/usr\/local\/bin:\/usr\/bin:\/bin mine=probe's own names=/);
    const names = output.slice(output.indexOf('names=') + 6).split(',').filter((n) => n !== '');
    // The shell adds a few of its own (PWD, SHLVL, _); nothing comes from the server.
    const fromShell = ['OLDPWD', 'PWD', 'SHLVL', '_'];
    assert.equal(names.filter((n) => !fromShell.includes(n)).sort(), ['COUNT', 'MINE', 'PATH']);
    assert.not.ok(JSON.stringify(run).includes('hunter2'), 'the secret is nowhere in the record');
  } finally {
    await server.close();
  }
});

test('faultline serve --allow-exec passes through; without it the same request is refused', async () => {
  const t = await tempDir();
  const token = 'gate-token-0123456789';
  const allowed = await spawnServe(['--db', ':memory:', '--token', token, '--allow-exec'], t.dir);
  const refused = await spawnServe(['--db', ':memory:', '--token', token], t.dir);
  try {
    const post = (url: string) => fetch(`${url}/scenarios/runs`, {
      method: 'POST', headers: { 'X-Faultline-Token': token }, body: JSON.stringify({ scenario: execScenario('step', REPORT) }),
    });
    const ok = await post(allowed.url);
    assert.is(ok.status, 201, await ok.clone().text());
    const id = (await ok.json()).id;
    let run: any;
    for (let i = 0; i < 500; i++) {
      run = await (await fetch(`${allowed.url}/scenarios/runs/${id}`)).json();
      if (run.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.is(run.status, 'held', run.reason);
    assert.match(run.probes[0].output, /^secret=none /);
    const no = await post(refused.url);
    assert.is(no.status, 403);
    assert.is((await no.json()).code, 'ERR_EXEC_NOT_ALLOWED');
  } finally {
    await allowed.kill();
    await refused.kill();
    await t.remove();
  }
});

test('faultline run FILE keeps exec with the user environment, plus the probe env on top', async () => {
  const t = await tempDir();
  try {
    const file = join(t.dir, 'exec.yaml');
    // A steady-state probe's output is printed; the names would not fit in its 200 characters.
    await writeFile(file, execScenario('steady', 'echo "secret=$${FAULTLINE_GATE_SECRET:-none} mine=$${MINE:-unset} count=$${COUNT:-unset}"'));
    const r = await cli(['run', file, '--embedded'], { [SECRET]: 'from-the-shell', MINE: 'overridden' });
    assert.is(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /steady state \(before\) shell ok 0 in [\d.]+ms \(secret=from-the-shell mine=probe's own count=3\)/);
  } finally {
    await t.remove();
  }
});

test('the plan lists an exec probe env by name only', async () => {
  const t = await tempDir();
  try {
    const file = join(t.dir, 'exec.yaml');
    await writeFile(file, execScenario('step', 'true'));
    const r = await cli(['run', file, '--dry-run']);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /exec "true": exit code 0, env MINE, COUNT \(timeout 5s\)/);
    assert.not.match(r.stdout, /probe's own/);
  } finally {
    await t.remove();
  }
});

test('an exec probe env is a mapping of variable names to strings, numbers or true/false', () => {
  const parse = (env: string) => parseScenario(
    `title: t\ntimeline:\n  - {at: 0s, probe: {name: p, exec: {command: "true", env: ${env}}}}\n`, { defaultServer: 'http://127.0.0.1:1' });
  const ok = parse('{A: x, B_2: 3, c: true, D: "${UNSET:-dflt}"}');
  assert.equal(ok.issues, []);
  const action = ok.scenario!.timeline[0]!.action as { probe: { env?: Record<string, string> } };
  assert.equal(action.probe.env, { A: 'x', B_2: '3', c: 'true', D: 'dflt' });
  const issues = (env: string) => parse(env).issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
  assert.equal(issues('[A]'), ['3:60 timeline[0].probe.exec.env: expected a mapping of variable names to values like {TARGET: db, RETRIES: 3}']);
  assert.equal(issues('{1A: x, A-B: y}'), [
    '3:61 timeline[0].probe.exec.env: expected a variable name (letters, digits and _, not starting with a digit), got "1A"',
    '3:68 timeline[0].probe.exec.env: expected a variable name (letters, digits and _, not starting with a digit), got "A-B"',
  ]);
  assert.equal(issues('{A: [x], B: ~, C}'), [
    '3:64 timeline[0].probe.exec.env.A: expected a string, a number or true/false',
    '3:72 timeline[0].probe.exec.env.B: expected a string, a number or true/false',
    '3:75 timeline[0].probe.exec.env.C: expected a string, a number or true/false',
  ]);
  const none = parse('{}').scenario!.timeline[0]!.action as { probe: { env?: Record<string, string> } };
  assert.equal(none.probe.env, {});
});

test('beyond loopback, --allow-exec needs a chosen token, and the dashboard page no longer carries it', async () => {
  // Bound to every interface, reached only over loopback.
  const refusal = await startServer({ db: false, host: '0.0.0.0', insecure: true, allowExec: true }).then(
    async (s) => { await s.close(); return ''; }, (err: Error) => err.message);
  assert.match(refusal, /^refusing --allow-exec on 0\.0\.0\.0, which is not a loopback address, without a token you chose/);
  const token = 'wide-token-0123456789';
  const wide = await startServer({ db: false, host: '0.0.0.0', token, allowExec: true });
  const plain = await startServer({ db: false, host: '0.0.0.0', token });
  try {
    const meta = async (s: { port: number }) => /<meta name="faultline-token" content="([^"]*)">/
      .exec(await (await fetch(`http://127.0.0.1:${s.port}/dashboard/`)).text())?.[1];
    assert.is(await meta(wide), '', 'exec allowed: the page is served without the token');
    assert.is(await meta(plain), token, 'without exec the page carries it, as before');
    const post = (headers: Record<string, string>) => fetch(`http://127.0.0.1:${wide.port}/scenarios/runs`, {
      method: 'POST', headers, body: JSON.stringify({ scenario: execScenario('step', 'true') }),
    });
    const no = await post({});
    assert.is(no.status, 403);
    assert.is((await no.json()).code, 'ERR_EXEC_NEEDS_TOKEN');
    const yes = await post({ 'X-Faultline-Token': token });
    assert.is(yes.status, 201, await yes.clone().text());
  } finally {
    await wide.close();
    await plain.close();
  }
});

test.run();
