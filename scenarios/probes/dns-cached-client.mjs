#!/usr/bin/env node
// A client of a service found by name, with a DNS cache that respects TTLs: the client of the
// DNS TTL game-day (scenarios/dns-ttl-move.yaml), run beside the service.
//
//   node scenarios/probes/dns-cached-client.mjs LISTEN DNS_SERVER NAME PORT TTL_SCALE
//
// It serves HTTP on LISTEN (host:port). Each GET /?client=ID is one call of the client ID: it
// looks NAME up (A records) at DNS_SERVER (host:port), unless its cache holds an answer whose
// TTL has not run out, GETs http://ADDRESS:PORT/ and answers with what it got and how:
//   instance blue at 127.0.0.2:8080 (cached: TTL 300 s, 2712 ms left)
// (status 200, or 502 when the lookup or the call failed). Each ID has its own cache, so a new
// ID is a client that just started. A TTL of T seconds is kept T * TTL_SCALE seconds, so a
// game-day scaled down keeps the TTLs' ratio (TTL_SCALE 0.01: 300 s is kept 3 s, 5 s is kept
// 50 ms); 1 is a real client. Needs Node 18 or later and nothing else.

import http from 'node:http';
import { Resolver } from 'node:dns/promises';
import { pathToFileURL } from 'node:url';

/** Starts the client; resolves with its HTTP server once it listens. */
export async function startClient({ listen, dnsServer, name, port, scale }) {
  const caches = new Map();
  const resolver = new Resolver({ timeout: 1000, tries: 2 });
  resolver.setServers([dnsServer]);

  async function call(id) {
    let entry = caches.get(id);
    const how = entry !== undefined && entry.expiresAt > Date.now() ? 'cached' : 'resolved';
    if (how === 'resolved') {
      const [first] = await resolver.resolve4(name, { ttl: true });
      if (first === undefined) throw new Error(`no A record for ${name}`);
      entry = { address: first.address, ttl: first.ttl, expiresAt: Date.now() + first.ttl * 1000 * scale };
      caches.set(id, entry);
    }
    const where = `${entry.address}:${port}`;
    const left = `TTL ${entry.ttl} s, ${Math.max(0, Math.round(entry.expiresAt - Date.now()))} ms left`;
    const res = await fetch(`http://${where}/`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.text()).trim().split('\n')[0];
    return { ok: res.ok, line: `${body} at ${where} (${how}: ${left})` };
  }

  const server = http.createServer((req, res) => {
    const id = new URL(req.url ?? '/', 'http://client').searchParams.get('client') ?? 'default';
    call(id).then(
      ({ ok, line }) => res.writeHead(ok ? 200 : 502, { 'content-type': 'text/plain' }).end(`${line}\n`),
      (err) => res.writeHead(502, { 'content-type': 'text/plain' }).end(`call of ${name} failed: ${err.code ?? err.cause?.code ?? err.message}\n`),
    );
  });
  const colon = listen.lastIndexOf(':');
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(listen.slice(colon + 1)), listen.slice(0, colon), resolve);
  });
  return server;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [listen, dnsServer, name, portArg, scaleArg] = process.argv.slice(2);
  const port = Number(portArg);
  const scale = Number(scaleArg);
  if (!listen?.includes(':') || !dnsServer || !name || !(port > 0 && port < 65536) || !(scale > 0)) {
    console.log('usage: dns-cached-client.mjs LISTEN DNS_SERVER NAME PORT TTL_SCALE');
    process.exit(2);
  }
  const server = await startClient({ listen, dnsServer, name, port, scale });
  const bound = server.address();
  console.log(`client of ${name} on ${bound.address}:${bound.port}, looking it up at ${dnsServer}`);
}
