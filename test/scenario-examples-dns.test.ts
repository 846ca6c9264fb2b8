// The shipped DNS lab (scenarios/dns-ttl-move.yaml), run as a user runs it: `faultline run FILE
// --url <server>` in a child process, against two instances of a service on one port at two
// loopback addresses (127.0.0.2 and 127.0.0.3), an authoritative DNS server that answers the
// service's name with the old one, a dns proxy this test creates first, and the client with the
// TTL-respecting cache (scenarios/probes/dns-cached-client.mjs) that the probes call.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { once } from 'node:events';
import { authServer } from './_helpers/dns.js';
import { dnsProxy, storedEvents } from './_helpers/dns-client.js';
import { startServer, type TestServer } from './_helpers/net.js';
import { proxyState, runExample, SCENARIOS } from './_helpers/services.js';

const OLD_IP = '127.0.0.2';
const NEW_IP = '127.0.0.3';

/** An HTTP server naming its instance, on `host`:`port`. */
async function instance(name: string, host: string, port: number): Promise<http.Server> {
  const server = http.createServer((_req, res) => res.writeHead(200, { Connection: 'close' }).end(`instance ${name}\n`));
  server.listen(port, host);
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => { throw err; })]);
  return server;
}

/** The old instance on an ephemeral port, the new one on the same port at the other address
 *  (tried again on a fresh port when another process holds it there). */
async function instances(): Promise<{ port: number; servers: http.Server[] }> {
  for (let attempt = 0; ; attempt++) {
    const blue = await instance('blue', OLD_IP, 0);
    const port = (blue.address() as net.AddressInfo).port;
    try {
      return { port, servers: [blue, await instance('green', NEW_IP, port)] };
    } catch (err) {
      blue.close();
      if (attempt >= 10) throw err;
    }
  }
}

let fl: TestServer;
test.before(async () => { fl = await startServer(); });
test.after(async () => { await fl.close(); });

test('DNS TTL move: the old address kept until a 300 s TTL (scaled) runs out, the new one at once with 5 s (exit 0)', async () => {
  const { port, servers } = await instances();
  const auth = await authServer({ 'catalog.lab': [{ type: 'A', data: OLD_IP, ttl: 30 }] });
  try {
    const dnsPort = await dnsProxy(fl, 'resolver', auth.address);
    const before = await proxyState(fl, 'resolver');
    const { startClient } = await import(pathToFileURL(`${SCENARIOS}probes/dns-cached-client.mjs`).href);
    const client: http.Server = await startClient({ listen: '127.0.0.1:0', dnsServer: `127.0.0.1:${dnsPort}`, name: 'catalog.lab', port, scale: 0.01 });
    servers.push(client);
    const r = await runExample(fl, 'dns-ttl-move.yaml', {
      CLIENT_ADDRESS: `127.0.0.1:${(client.address() as net.AddressInfo).port}`, DNS_PROXY: `127.0.0.1:${dnsPort}`,
      DNS_UPSTREAM: auth.address, SERVICE_NAME: 'catalog.lab', OLD_IP, NEW_IP,
    });
    assert.is(r.code, 0, r.stdout + r.stderr);
    // Each probe's body pattern says which instance the client reached and whether from its
    // cache: old while the 300 s TTL runs after the move, new only after it; at once with 5 s.
    const probes: Array<[number, string]> = [[1, 'resolves-old'], [3, 'kept-old'], [4, 'still-old'], [5, 'new-after-ttl'], [8, 'resolves-old-short'], [10, 'follows-at-once']];
    for (const [step, name] of probes) assert.match(r.line(new RegExp(`step ${step} probe`)), new RegExp(`step ${step} probe ${name} 200 in [\\d.]+ms ok$`));
    assert.match(r.line(/step 2 toxic/), /step 2 toxic moved on resolver: added dns_answer downstream, ttl \d+ms ok$/);
    assert.is(r.line(/^verdict:/), 'verdict: held (exit 0): the steady state held');
    assert.equal(await proxyState(fl, 'resolver'), before, 'no toxic left');
    // The proxy reported what it did: TTLs rewritten on the real answers, then the moves.
    const kinds = (events: any[]) => new Set(events.map((e) => `${e.type} ${e.detail.ttl}`));
    const all = ['dns_ttl 300', 'dns_answer 300', 'dns_ttl 5', 'dns_answer 5'];
    const types = kinds(await storedEvents(fl, 'kind=fault:injected&proxy=resolver&limit=100', (events) => all.every((t) => kinds(events).has(t))));
    assert.ok(types.has('dns_ttl 300') && types.has('dns_answer 300') && types.has('dns_ttl 5') && types.has('dns_answer 5'), [...types].join(', '));
  } finally {
    await fl.api('DELETE', '/proxies/resolver');
    await auth.close();
    for (const s of servers) s.close();
  }
});

test.run();
