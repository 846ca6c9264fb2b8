// Proxy commands: list, inspect, create, toggle, delete. Each one is a thin wrapper over one
// or two control-API calls; with --json it prints the server's JSON instead of text.

import type { Command } from 'commander';
import { clientFor, seg, wantsJson } from './client.js';
import { formatProxy, formatProxyList, printJson, printLine, type CliIO, type ProxyJson } from './output.js';

interface CreateOptions {
  listen: string;
  upstream: string;
  protocol?: string;
  idleTimeout?: string;
}

export function registerProxyCommands(program: Command, io: CliIO): void {
  program
    .command('list')
    .aliases(['l', 'li', 'ls'])
    .description('list all proxies: name, protocol, listen, upstream, state and number of toxics')
    .action(async (_opts: unknown, cmd: Command) => {
      const proxies = await clientFor(cmd, io).get<Record<string, ProxyJson>>('/proxies');
      if (wantsJson(cmd)) return printJson(io, proxies);
      printLine(io, formatProxyList(Object.values(proxies ?? {})));
    });

  program
    .command('inspect')
    .aliases(['i', 'ins'])
    .description('show a proxy and its toxics')
    .argument('<proxy>', 'proxy name')
    .action(async (proxy: string, _opts: unknown, cmd: Command) => {
      const found = await clientFor(cmd, io).get<ProxyJson>(`/proxies/${seg(proxy)}`);
      if (wantsJson(cmd)) return printJson(io, found);
      printLine(io, formatProxy(found));
    });

  program
    .command('create')
    .aliases(['c', 'new'])
    .description('create a new, enabled proxy')
    .argument('<proxy>', 'name of the new proxy')
    .requiredOption('-l, --listen <addr>', 'address the proxy listens on, host:port (port 0 picks a free port)')
    .requiredOption('-u, --upstream <addr>', 'address the proxy forwards to, host:port')
    .option('-p, --protocol <protocol>', 'tcp (the default), udp, http (HTTP/1.1 and HTTP/2 with per-request toxics), or dns (UDP and TCP at one address, per-query toxics)')
    .option('--idle-timeout <ms>', 'udp only: end a client session after this many ms without traffic (default 60000)')
    .action(async (proxy: string, opts: CreateOptions, cmd: Command) => {
      const body: Record<string, unknown> = { name: proxy, listen: opts.listen, upstream: opts.upstream, enabled: true };
      if (opts.protocol !== undefined) body.protocol = opts.protocol;
      if (opts.idleTimeout !== undefined) body.idle_timeout = Number(opts.idleTimeout);
      const created = await clientFor(cmd, io).post<ProxyJson>('/proxies', body);
      if (wantsJson(cmd)) return printJson(io, created);
      printLine(io, `Created new proxy ${created?.name ?? proxy}`);
    });

  program
    .command('toggle')
    .alias('tog')
    .description('enable a disabled proxy, or disable an enabled one (disabling drops its connections)')
    .argument('<proxy>', 'proxy name')
    .action(async (proxy: string, _opts: unknown, cmd: Command) => {
      const client = clientFor(cmd, io);
      const path = `/proxies/${seg(proxy)}`;
      const current = await client.get<ProxyJson>(path);
      const updated = await client.post<ProxyJson>(path, { enabled: !current.enabled });
      if (wantsJson(cmd)) return printJson(io, updated);
      const state = updated.enabled ? 'enabled' : 'disabled';
      printLine(io, `Proxy ${updated.name ?? proxy} is now ${state}`);
    });

  program
    .command('delete')
    .alias('d')
    .description('delete a proxy, closing its listener and connections')
    .argument('<proxy>', 'proxy name')
    .action(async (proxy: string, _opts: unknown, cmd: Command) => {
      await clientFor(cmd, io).delete(`/proxies/${seg(proxy)}`);
      if (wantsJson(cmd)) return printJson(io, { deleted: proxy });
      printLine(io, `Deleted proxy ${proxy}`);
    });
}
