// One contract suite for every request toxic in the registry, as toxic-contract.test.ts is for
// the byte-stream ones: defaults, bad input named, toxicity 0 harmless, the match attributes
// honoured, live add/update/remove between requests on one connection, and where it applies.
// A new request toxic joins by being listed in TOXICS and given a fixture in EFFECT.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { performance } from 'node:perf_hooks';
import { TOXICS } from '../toxics/index.js';
import { isRequestToxic, MATCH_ATTRIBUTES, type AnyToxicDefinition, type AttributeSpec, type Attributes } from '../src/toxic.js';
import { startServer, type TestServer } from './_helpers/net.js';
import { h1Upstream, httpProxy, oneSocket, request } from './_helpers/http.js';
import type http from 'node:http';

/** Attributes under which each request toxic is impossible to miss, and how to see it. */
const EFFECT: Record<string, { attributes: Attributes; update: Attributes; seen: (r: Outcome) => boolean; updated: (r: Outcome) => boolean }> = {
  http_abort: { attributes: { status: 418 }, update: { status: 429 }, seen: (r) => r.status === 418, updated: (r) => r.status === 429 },
  http_delay: { attributes: { latency: 400 }, update: { latency: 800 }, seen: (r) => r.ms >= 399, updated: (r) => r.ms >= 799 },
  http_reset: { attributes: {}, update: { when: 'response' }, seen: (r) => r.error === 'ECONNRESET', updated: (r) => r.error === 'ECONNRESET' },
};

type Outcome = { status: number; ms: number; error?: string };
type Ctx = { server: TestServer; upstream: Awaited<ReturnType<typeof h1Upstream>> };

async function outcome(port: number, agent: http.Agent | false, path = '/'): Promise<Outcome> {
  const start = performance.now();
  try {
    const r = await request(port, agent, path);
    return { status: r.status, ms: performance.now() - start };
  } catch (err) {
    return { status: 0, ms: performance.now() - start, error: (err as NodeJS.ErrnoException).code ?? String(err) };
  }
}

function contract(def: AnyToxicDefinition): void {
  const type = def.type;
  const effect = EFFECT[type];
  const t = suite<Ctx>(`request toxic contract: ${type}`, {} as Ctx);
  let n = 0;
  const newProxy = async (ctx: Ctx) => {
    const name = `${type}-${++n}`;
    return { name, port: await httpProxy(ctx.server, name, ctx.upstream.address), path: `/proxies/${name}/toxics` };
  };
  t.before(async (ctx) => {
    ctx.server = await startServer();
    ctx.upstream = await h1Upstream();
  });
  t.after(async (ctx) => {
    await ctx.server.close();
    await ctx.upstream.close();
  });

  t('(a) a fixture exists; created bare, it shows every attribute at its default, the match ones last', async (ctx) => {
    assert.ok(effect !== undefined, `add an EFFECT fixture for ${type}`);
    const p = await newProxy(ctx);
    const created = await ctx.server.toxic(p.name, { type });
    assert.is(created.status, 200, created.text);
    const specs = Object.entries(def.attributes) as [string, AttributeSpec][];
    assert.equal(created.json.attributes, Object.fromEntries(specs.map(([name, spec]) => [name, spec.default])));
    assert.equal(Object.keys(created.json.attributes).slice(-4), Object.keys(MATCH_ATTRIBUTES));
  });

  t('(b) a value of the wrong kind or out of range gets a 400 naming the attribute', async (ctx) => {
    const p = await newProxy(ctx);
    for (const [name, spec] of Object.entries(def.attributes) as [string, AttributeSpec][]) {
      const bad: unknown[] = spec.kind === 'string' ? [7, true, 'x'.repeat(spec.maxLength + 1)]
        : spec.kind === 'enum' ? ['nope', 1] : spec.kind === 'boolean' ? ['yes'] : [-1, 'x', ...(spec.kind === 'integer' ? [1.5] : [])];
      for (const value of bad) {
        const res = await ctx.server.toxic(p.name, { type, attributes: { [name]: value } });
        assert.is(res.status, 400, `${name}=${JSON.stringify(value).slice(0, 30)}: ${res.text}`);
        assert.match(res.json.error, new RegExp(`attribute ${name}\\b`));
      }
    }
    assert.equal((await ctx.server.api('GET', p.path)).json, []);
  });

  t('(c) at toxicity 0, or on requests it does not match, it does nothing', async (ctx) => {
    const p = await newProxy(ctx);
    await ctx.server.toxic(p.name, { type, name: 'off', toxicity: 0, attributes: effect!.attributes });
    await ctx.server.toxic(p.name, { type, name: 'elsewhere', attributes: { ...effect!.attributes, path: '/elsewhere/**', method: 'DELETE' } });
    const agent = oneSocket();
    for (let i = 0; i < 20; i++) {
      const r = await outcome(p.port, agent, `/here/${i}`);
      assert.is(r.status, 200, JSON.stringify(r));
      assert.ok(r.ms < 390, `request ${i} took ${r.ms}`);
    }
    agent.destroy();
  });

  t('(d) added, updated and removed between requests: each change applies from the next request', async (ctx) => {
    const p = await newProxy(ctx);
    // A reset ends the connection, so each request here has its own; the others share one.
    const agent = type === 'http_reset' ? false : oneSocket();
    assert.is((await outcome(p.port, agent)).status, 200);
    assert.is((await ctx.server.toxic(p.name, { type, name: 'x', attributes: effect!.attributes })).status, 200);
    const seen = await outcome(p.port, agent);
    assert.ok(effect!.seen(seen), `added: ${JSON.stringify(seen)}`);
    assert.is((await ctx.server.api('POST', `${p.path}/x`, { attributes: effect!.update })).status, 200);
    const updated = await outcome(p.port, agent);
    assert.ok(effect!.updated(updated), `updated: ${JSON.stringify(updated)}`);
    assert.is((await ctx.server.api('DELETE', `${p.path}/x`)).status, 204);
    assert.is((await outcome(p.port, agent)).status, 200);
    if (agent !== false) agent.destroy();
  });

  t('(e) it applies to http proxies only, and the catalog says so with its attributes', async (ctx) => {
    assert.equal([...def.protocols], ['http']);
    await ctx.server.proxy(`tcp_${type}`, ctx.upstream.address);
    const refused = await ctx.server.toxic(`tcp_${type}`, { type });
    assert.is(refused.status, 400);
    assert.match(refused.json.error, new RegExp(`${type} does not apply to tcp proxies`));
    const entry = ((await ctx.server.api('GET', '/toxics')).json as any[]).find((e) => e.type === type);
    assert.equal(entry.protocols, ['http']);
    assert.equal(Object.keys(entry.attributes), Object.keys(def.attributes));
  });

  t.run();
}

for (const def of TOXICS.filter((d) => isRequestToxic(d))) contract(def);
