// `await using` with the client's handles, as TypeScript lowers it for the project's ES2022
// target (Node 20 cannot parse `await using` itself), and the Symbol.asyncDispose fallback
// for runtimes that lack the symbol the lowered code looks up.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import ts from 'typescript';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startFaultline } from '../src/index.js';
import { ensureAsyncDispose } from '../src/client/dispose.js';
import { tryConnect } from './_helpers/api.js';
import { echoServer } from './_helpers/net.js';

test('this file runs the lowered form of await using', () => {
  const compiled = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  assert.ok(compiled.includes('__addDisposableResource'), 'the helper TypeScript emits for await using');
  // The statements below, not the snippet the last test transpiles.
  assert.not.ok(/^\s*await using \w+ = await /m.test(compiled), 'no await using left for Node to parse');
});

test('await using disposes the toxic, then the proxy, then the client and its server', async () => {
  const echo = await echoServer();
  const changes: string[] = [];
  let port = 0;
  let apiPort = 0;
  try {
    {
      await using faultline = await startFaultline();
      apiPort = faultline.server!.port;
      faultline.server!.events.on('state:changed', (e) => changes.push(e.kind));
      await using proxy = await faultline.proxy({ name: 'p', upstream: echo.address });
      port = proxy.port;
      await using toxic = await proxy.timeout({ timeout: 0 });
      assert.is(toxic.type, 'timeout');
      assert.is((await proxy.toxics()).length, 1);
    }
    assert.equal(changes, ['proxy:created', 'toxic:added', 'toxic:removed', 'proxy:deleted']);
    assert.is(await tryConnect(port), 'ECONNREFUSED');
    assert.is(await tryConnect(apiPort), 'ECONNREFUSED', 'the server stopped with the client');
  } finally {
    await echo.close();
  }
});

test('disposal also runs when the block throws', async () => {
  await using faultline = await startFaultline();
  let port = 0;
  const failure = new Error('body failed');
  try {
    await using proxy = await faultline.proxy({ upstream: '127.0.0.1:9' });
    port = proxy.port;
    await using _toxic = await proxy.resetPeer();
    throw failure;
  } catch (err) {
    assert.is(err, failure);
  }
  assert.equal(await faultline.proxies(), []);
  assert.is(await tryConnect(port), 'ECONNREFUSED');
});

test('the fallback defines Symbol.asyncDispose where it is missing, so lowered code runs', async () => {
  // A fresh vm context has its own Symbol without asyncDispose, as Node before 20.4 had.
  const source = `export async function run(log: string[]) {
    {
      await using resource = { async [Symbol.asyncDispose]() { log.push('disposed'); } };
      log.push('body');
    }
  }`;
  const js = ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS } }).outputText;
  const runIn = async (fallback: boolean) => {
    const context = vm.createContext({ exports: {} });
    const symbol = vm.runInContext('Symbol', context) as SymbolConstructor;
    assert.is(typeof symbol.asyncDispose, 'undefined');
    if (fallback) assert.is(typeof ensureAsyncDispose(symbol), 'symbol');
    vm.runInContext(js, context);
    const log: string[] = [];
    await (context.exports as { run(log: string[]): Promise<void> }).run(log);
    return log;
  };
  await runIn(false).then(() => assert.unreachable('ran without the symbol'), (err: Error) => assert.match(err.message, /Symbol\.asyncDispose is not defined/));
  assert.equal(await runIn(true), ['body', 'disposed']);
  assert.is(ensureAsyncDispose(), Symbol.asyncDispose, 'an existing symbol is left as it is');
});

test.run();
