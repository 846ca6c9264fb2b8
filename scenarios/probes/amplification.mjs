#!/usr/bin/env node
// Request amplification: how many calls the bottom of a call chain took for each call the top
// took, over the services' last counting window. A probe for the retry-storm game-day:
//
//   node scenarios/probes/amplification.mjs TOP_STATS_URL BOTTOM_STATS_URL BUDGET
//
// Each stats URL answers JSON with `calls` (calls over its sliding window) and `window_ms`,
// e.g. {"service": "top", "window_ms": 1000, "calls": 20, "total": 345}. Prints one line,
//   amplification 2.70x (54 calls at bottom for 20 at top, last 1s)
// and exits 0 within BUDGET, 1 over it (or with no calls at the top to measure against: a
// retry storm cannot be told from idle), 2 when the arguments or a stats endpoint are wrong.
// Needs Node 18 or later (global fetch) and nothing else.

const [topUrl, bottomUrl, budgetArg] = process.argv.slice(2);
const budget = Number(budgetArg);
if (!topUrl || !bottomUrl || !(budget > 0)) {
  console.log('usage: amplification.mjs TOP_STATS_URL BOTTOM_STATS_URL BUDGET (a number > 0, e.g. 1.5)');
  process.exit(2);
}

async function stats(url) {
  let res;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  } catch (err) {
    throw new Error(`cannot read ${url}: ${err.cause?.message ?? err.message}`);
  }
  const json = await res.json().catch(() => null);
  if (!res.ok || json === null || !Number.isInteger(json.calls)) {
    throw new Error(`${url} answered ${res.status} without an integer "calls"`);
  }
  return json;
}

let top, bottom;
try {
  [top, bottom] = await Promise.all([stats(topUrl), stats(bottomUrl)]);
} catch (err) {
  console.log(err.message);
  process.exit(2);
}
const window = `last ${Number(top.window_ms ?? 1000) / 1000}s`;
if (top.calls === 0) {
  console.log(`amplification unknown (${bottom.calls} calls at bottom for 0 at top, ${window}): is the load running?`);
  process.exit(1);
}
const ratio = bottom.calls / top.calls;
console.log(`amplification ${ratio.toFixed(2)}x (${bottom.calls} calls at bottom for ${top.calls} at top, ${window})` +
  (ratio > budget ? `, over the ${budget}x budget` : ''));
process.exit(ratio > budget ? 1 : 0);
