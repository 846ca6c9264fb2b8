// The error table in src/errors.ts is the single source of the API's error codes, statuses and
// messages: every code is documented in README.md, every documented code exists, and the API
// really answers with the table's status and message.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ERRORS, type ErrorCode } from '../src/errors.js';
import { echoServer, startServer, type ApiResponse, type TestServer, type Upstream } from './_helpers/net.js';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const CODES = Object.keys(ERRORS) as ErrorCode[];

function readme(): string {
  try {
    return readFileSync(README, 'utf8');
  } catch {
    assert.unreachable(`README.md not found at ${README}; it must document every error code`);
    return '';
  }
}

test('the error table is well formed', () => {
  assert.ok(CODES.length >= 10, `only ${CODES.length} codes`);
  for (const code of CODES) {
    const { status, message } = ERRORS[code];
    assert.match(code, /^ERR_[A-Z_]+$/, `${code} is not ERR_UPPER_SNAKE`);
    assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${code} has status ${status}`);
    assert.ok(message.length > 0, `${code} has no message`);
  }
});

test('every code in ERRORS is documented in README.md', () => {
  const text = readme();
  const missing = CODES.filter((code) => !new RegExp(`\\b${code}\\b`).test(text));
  assert.equal(missing, [], `codes in src/errors.ts that README.md does not mention: ${missing.join(', ')}`);
});

test('every ERR_ code in README.md exists in ERRORS', () => {
  const documented = [...new Set(readme().match(/\bERR_[A-Z_]+\b/g) ?? [])];
  assert.ok(documented.length > 0, 'README.md mentions no ERR_ codes');
  const unknown = documented.filter((code) => !(code in ERRORS));
  assert.equal(unknown, [], `codes in README.md that src/errors.ts does not define: ${unknown.join(', ')}`);
});

test("README.md's row for each code gives the table's HTTP status", () => {
  const rows = readme().split('\n').filter((line) => line.trim().startsWith('|'));
  const wrong: string[] = [];
  for (const code of CODES) {
    const row = rows.find((r) => new RegExp(`\\b${code}\\b`).test(r));
    // A code mentioned outside a table row is still documented; presence is checked above.
    if (row === undefined) continue;
    const { status } = ERRORS[code];
    if (!new RegExp(`\\b${status}\\b`).test(row)) wrong.push(`${code}: status ${status} not in row: ${row.trim()}`);
  }
  assert.equal(wrong, [], wrong.join('\n'));
});

// ---- the API answers with the table ----

let server: TestServer;
let echo: Upstream;

test.before(async () => {
  server = await startServer();
  echo = await echoServer();
  await server.proxy('known', echo.address);
  const res = await server.toxic('known', { name: 'lat', type: 'latency', attributes: { latency: 1 } });
  if (res.status !== 200) throw new Error(`setup toxic: ${res.status} ${res.text}`);
});

test.after(async () => {
  await server.close();
  await echo.close();
});

/**
 * The JSON error body carries the table's status (in both places) and code; the message is the
 * table's, exactly, or starts with it when the code appends a detail (`exact: false`).
 */
function expectError(res: ApiResponse, code: ErrorCode, exact = true): void {
  const { status, message } = ERRORS[code];
  assert.is(res.status, status, `${code}: HTTP status; body ${res.text}`);
  assert.ok(res.json !== undefined, `${code}: body is not JSON: ${JSON.stringify(res.text)}`);
  assert.is(res.json.status, status, `${code}: "status" in the body`);
  assert.is(res.json.code, code, `${code}: "code" in the body`);
  if (exact) assert.is(res.json.error, message, `${code}: "error" in the body`);
  else assert.ok(String(res.json.error).startsWith(message), `${code}: '${res.json.error}' should start with '${message}'`);
}

const proxy = { name: 'p', listen: '127.0.0.1:0', upstream: '127.0.0.1:9' };

test('ERR_PROXY_NOT_FOUND: 404 proxy not found', async () => {
  expectError(await server.api('GET', '/proxies/nope'), 'ERR_PROXY_NOT_FOUND');
  expectError(await server.api('DELETE', '/proxies/nope'), 'ERR_PROXY_NOT_FOUND');
  expectError(await server.api('POST', '/proxies/nope/toxics', { type: 'latency' }), 'ERR_PROXY_NOT_FOUND');
});

test('ERR_TOXIC_NOT_FOUND: 404 toxic not found', async () => {
  expectError(await server.api('GET', '/proxies/known/toxics/nope'), 'ERR_TOXIC_NOT_FOUND');
  expectError(await server.api('DELETE', '/proxies/known/toxics/nope'), 'ERR_TOXIC_NOT_FOUND');
});

test('ERR_PROXY_EXISTS: 409 proxy already exists', async () => {
  expectError(await server.api('POST', '/proxies', { ...proxy, name: 'known' }), 'ERR_PROXY_EXISTS');
});

test('ERR_TOXIC_EXISTS: 409 toxic already exists, across both streams', async () => {
  expectError(await server.toxic('known', { name: 'lat', type: 'latency' }), 'ERR_TOXIC_EXISTS');
  expectError(await server.toxic('known', { name: 'lat', type: 'latency', stream: 'upstream' }), 'ERR_TOXIC_EXISTS');
});

test('ERR_INVALID_STREAM: 400 stream was invalid', async () => {
  expectError(await server.toxic('known', { type: 'latency', stream: 'sideways' }), 'ERR_INVALID_STREAM');
});

test('ERR_INVALID_TOXIC_TYPE: 400 invalid toxic type', async () => {
  expectError(await server.toxic('known', { type: 'no_such_toxic' }), 'ERR_INVALID_TOXIC_TYPE');
  expectError(await server.toxic('known', {}), 'ERR_INVALID_TOXIC_TYPE');
});

test('ERR_MISSING_FIELD: 400 missing required field, naming it', async () => {
  const name = await server.api('POST', '/proxies', { upstream: proxy.upstream });
  expectError(name, 'ERR_MISSING_FIELD', false);
  assert.is(name.json.error, 'missing required field: name');
  const upstream = await server.api('POST', '/proxies', { name: 'no-upstream' });
  expectError(upstream, 'ERR_MISSING_FIELD', false);
  assert.is(upstream.json.error, 'missing required field: upstream');
  const populate = await server.api('POST', '/populate', [proxy, { name: 'x' }]);
  expectError(populate, 'ERR_MISSING_FIELD', false);
  assert.is(populate.json.error, 'missing required field: upstream at proxy 2');
});

test('ERR_BAD_BODY: 400 bad request body', async () => {
  expectError(await server.api('POST', '/proxies', '{"name":'), 'ERR_BAD_BODY', false);
});

test('ERR_BODY_TOO_LARGE: 413 for a body over 1 MiB', async () => {
  const huge = JSON.stringify({ ...proxy, name: 'x'.repeat(1024 * 1024 + 1) });
  expectError(await server.api('POST', '/proxies', huge), 'ERR_BODY_TOO_LARGE', false);
  const ok = await server.api('GET', '/proxies/known');
  assert.is(ok.status, 200, 'the API still answers after a refused body');
});

test('ERR_ROUTE_NOT_FOUND: 404 for an unknown route', async () => {
  expectError(await server.api('GET', '/no/such/route'), 'ERR_ROUTE_NOT_FOUND');
  expectError(await server.api('GET', '/proxies/'), 'ERR_ROUTE_NOT_FOUND');
});

test('ERR_METHOD_NOT_ALLOWED: 405 for a known route with the wrong method', async () => {
  const res = await server.api('PUT', '/proxies');
  expectError(res, 'ERR_METHOD_NOT_ALLOWED');
  assert.is(res.headers.get('allow'), 'GET, POST');
});

test('the server is unharmed by every error above', async () => {
  const res = await server.api('GET', '/proxies');
  assert.is(res.status, 200);
  assert.equal(Object.keys(res.json), ['known']);
  assert.equal(res.json.known.toxics.map((t: { name: string }) => t.name), ['lat']);
});

test.run();
