#!/usr/bin/env node
// A gRPC caller with a deadline and no retries: makes CALLS unary calls at once on one HTTP/2
// connection, each with an empty request message and a deadline, and counts how they ended.
// A probe for the gRPC game-day:
//
//   node scenarios/probes/grpc-deadline.mjs ADDRESS METHOD DEADLINE CALLS BUDGET
//
// ADDRESS is host:port (cleartext HTTP/2), METHOD the full path (/grpc.health.v1.Health/Check,
// which any server with the standard health service answers), DEADLINE milliseconds or a
// duration (250ms, 1s), CALLS how many calls, BUDGET the fraction that may fail (0.1). Prints
//   10 calls to /grpc.health.v1.Health/Check within 250ms: 7 OK, 3 UNAVAILABLE; 30% failed, over the 10% budget
// and exits 0 within BUDGET, 1 over it, 2 when the arguments are wrong. A call fails when its
// grpc-status is not 0 (OK), when its stream is reset, or when the deadline passes first
// (DEADLINE_EXCEEDED, as a gRPC client reports it). Needs Node 18 or later and nothing else.

import http2 from 'node:http2';

const [address, method, deadlineArg, callsArg, budgetArg] = process.argv.slice(2);
const deadline = /^\d+$/.test(deadlineArg ?? '') ? Number(deadlineArg)
  : /^\d+ms$/.test(deadlineArg ?? '') ? Number(deadlineArg.slice(0, -2))
    : /^\d+s$/.test(deadlineArg ?? '') ? Number(deadlineArg.slice(0, -1)) * 1000 : NaN;
const calls = Number(callsArg);
const budget = Number(budgetArg);
if (!/^[^\s:]+:\d+$/.test(address ?? '') || !(method ?? '').startsWith('/') || !(deadline > 0) || !Number.isInteger(calls) || calls < 1 || !(budget >= 0 && budget <= 1)) {
  console.log('usage: grpc-deadline.mjs ADDRESS METHOD DEADLINE CALLS BUDGET (e.g. 127.0.0.1:50051 /grpc.health.v1.Health/Check 250ms 10 0.1)');
  process.exit(2);
}

const NAMES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED',
  'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];
// RST_STREAM codes as gRPC clients map them: REFUSED_STREAM is UNAVAILABLE, the rest INTERNAL.
const RESET = (code) => (code === http2.constants.NGHTTP2_REFUSED_STREAM ? 14 : code === http2.constants.NGHTTP2_CANCEL ? 1 : 13);
// An empty message: no compression flag, length 0.
const EMPTY = Buffer.alloc(5);

const session = http2.connect(`http://${address}`);
session.on('error', () => {});

function call() {
  return new Promise((resolve) => {
    let status = null;
    const done = (code) => {
      if (status !== null) return;
      status = code;
      clearTimeout(timer);
      resolve(code);
    };
    const stream = session.request({
      ':method': 'POST', ':path': method, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': `${deadline}m`,
    });
    const timer = setTimeout(() => {
      done(4);
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }, deadline);
    const statusOf = (headers) => (headers['grpc-status'] === undefined ? null : Number(headers['grpc-status']));
    stream.on('response', (headers) => {
      const code = statusOf(headers);
      if (code !== null) done(code);
      else if (Number(headers[':status']) !== 200) done(Number(headers[':status']) === 503 ? 14 : 2);
    });
    stream.on('trailers', (trailers) => done(statusOf(trailers) ?? 2));
    stream.on('data', () => {});
    stream.on('close', () => done(stream.rstCode ? RESET(stream.rstCode) : 2));
    stream.on('error', () => {});
    stream.end(EMPTY);
  });
}

const results = await Promise.all(Array.from({ length: calls }, call));
session.close();
const counts = new Map();
for (const code of results) counts.set(code, (counts.get(code) ?? 0) + 1);
const failed = results.filter((code) => code !== 0).length;
const parts = [...counts].sort(([a], [b]) => a - b).map(([code, n]) => `${n} ${NAMES[code] ?? `status ${code}`}`);
const pct = (x) => `${Math.round(x * 100)}%`;
const within = failed / calls <= budget;
console.log(`${calls} calls to ${method} within ${deadline}ms: ${parts.join(', ')}; ${pct(failed / calls)} failed, ${within ? 'within' : 'over'} the ${pct(budget)} budget`);
process.exit(within ? 0 : 1);
