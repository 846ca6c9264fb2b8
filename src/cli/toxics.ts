// `toxic add|update|remove`: the toxic commands. Flags and messages follow toxiproxy-cli, with
// one deliberate difference: `update` sends toxicity only when --toxicity is given, so an
// update never silently resets it to 1.

import type { Command } from 'commander';
import { TOXICS } from '../../toxics/index.js';
import { isDnsToxic, isRequestToxic, type AttributeSpec } from '../toxic.js';
import { clientFor, seg, wantsJson } from './client.js';
import { printJson, printLine, type CliIO, type ToxicJson } from './output.js';

/** Built from the toxic registry, so the help lists exactly the toxics the server accepts. */
export const TOXIC_TYPES_HELP = [
  '',
  'Toxic types and their attributes (-a key=value):',
  ...TOXICS.map((def) => {
    const specs = Object.entries(def.attributes) as [string, AttributeSpec][];
    const attrs = specs.map(([name, spec]) => `${name}=<${'unit' in spec ? spec.unit : spec.kind === 'string' ? spec.format : spec.kind}>`).join(',');
    const note = def.type === 'bandwidth' ? '  (KB = 1000 bytes)' : isRequestToxic(def) ? '  (http proxies)' : isDnsToxic(def) ? '  (dns proxies)' : '';
    return `  ${def.type.padEnd(12)} ${attrs === '' ? '(no attributes)' : attrs}${note}`;
  }),
  '',
  'Streams: upstream is client -> server, downstream (the default) is server -> client.',
  'http_* toxics act per request and dns_* toxics per query (toxicity is rolled for each); their stream is only a label.',
  'A list attribute (addresses) takes comma-separated values: -a addresses=10.0.0.2,2001:db8::2.',
].join('\n');

interface AddOptions {
  type: string;
  upstream?: boolean;
  downstream?: boolean;
  toxicName?: string;
  toxicity?: string;
  attribute?: string[];
}

interface UpdateOptions {
  toxicName: string;
  toxicity?: string;
  attribute?: string[];
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** A float in [0, 1], or toxiproxy-cli's error. */
export function parseToxicity(raw: string): number {
  const value = raw.trim() === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw new Error('toxicity should be a float between 0 and 1.');
  }
  return value;
}

/** Attribute names of the toxic `type` (of any toxic when it is not known) of this kind: a
 *  text attribute stays a string even when it looks like a number (a body of "503"), and a
 *  list one is split at commas. */
function attributesOfKind(type: string | undefined, kind: 'string' | 'list'): Set<string> {
  const names = new Set<string>();
  for (const def of TOXICS) {
    if (type !== undefined && def.type !== type) continue;
    for (const [name, spec] of Object.entries(def.attributes) as [string, AttributeSpec][]) if (spec.kind === kind) names.add(name);
  }
  return names;
}

/** `k=v` pairs; numbers become JSON numbers, true/false booleans, anything else a string; a
 *  text attribute of `type` (a body, a path glob) is always a string, and a list one (DNS
 *  addresses) an array of the comma-separated values. */
export function parseAttributes(pairs: readonly string[], type?: string): Record<string, unknown> {
  const text = attributesOfKind(type, 'string');
  const lists = attributesOfKind(type, 'list');
  const attributes: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`attribute should be key=value, got '${pair}'.`);
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    const num = raw.trim() === '' ? Number.NaN : Number(raw);
    if (lists.has(key)) {
      attributes[key] = raw.split(',').map((item) => item.trim()).filter((item) => item !== '');
      continue;
    }
    attributes[key] = text.has(key) ? raw : Number.isFinite(num) ? num : raw === 'true' ? true : raw === 'false' ? false : raw;
  }
  return attributes;
}

export function registerToxicCommands(program: Command, io: CliIO): void {
  const toxic = program
    .command('toxic')
    .alias('t')
    .description('add, update or remove toxics on a proxy (see `toxic add --help` for the types)')
    .addHelpText('after', TOXIC_TYPES_HELP);

  toxic
    .command('add')
    .alias('a')
    .description('add a toxic to a proxy')
    .argument('<proxy>', 'proxy name')
    .requiredOption('-t, --type <type>', 'toxic type (listed below)')
    .option('-u, --upstream', 'apply to the upstream stream (client -> server)')
    .option('-d, --downstream', 'apply to the downstream stream (server -> client; the default)')
    .option('-n, --toxicName <name>', 'toxic name (default <type>_<stream>)')
    .option('--tox, --toxicity <float>', 'probability the toxic applies to a connection (http_*: to a request, dns_*: to a query), 0..1 (default 1)')
    .option('-a, --attribute <key=value>', 'toxic attribute; repeat for several', collect)
    .addHelpText('after', TOXIC_TYPES_HELP)
    .action(async (proxy: string, opts: AddOptions, cmd: Command) => {
      if (opts.upstream && opts.downstream) {
        throw new Error('Only one should be specified: upstream or downstream.');
      }
      const body: Record<string, unknown> = { type: opts.type };
      if (opts.toxicName !== undefined) body.name = opts.toxicName;
      if (opts.upstream) body.stream = 'upstream';
      if (opts.downstream) body.stream = 'downstream';
      if (opts.toxicity !== undefined) body.toxicity = parseToxicity(opts.toxicity);
      if (opts.attribute) body.attributes = parseAttributes(opts.attribute, opts.type);
      const added = await clientFor(cmd, io).post<ToxicJson>(`/proxies/${seg(proxy)}/toxics`, body);
      if (wantsJson(cmd)) return printJson(io, added);
      printLine(io, `Added ${added.stream} ${added.type} toxic '${added.name}' on proxy '${proxy}'`);
    });

  toxic
    .command('update')
    .alias('u')
    .description('update a toxic: only the attributes and toxicity given are changed')
    .argument('<proxy>', 'proxy name')
    .requiredOption('-n, --toxicName <name>', 'name of the toxic to update')
    .option('--tox, --toxicity <float>', 'new toxicity, 0..1 (unchanged when omitted)')
    .option('-a, --attribute <key=value>', 'attribute to change; repeat for several', collect)
    .addHelpText('after', TOXIC_TYPES_HELP)
    .action(async (proxy: string, opts: UpdateOptions, cmd: Command) => {
      const body: Record<string, unknown> = {};
      if (opts.toxicity !== undefined) body.toxicity = parseToxicity(opts.toxicity);
      if (opts.attribute) body.attributes = parseAttributes(opts.attribute);
      const path = `/proxies/${seg(proxy)}/toxics/${seg(opts.toxicName)}`;
      const updated = await clientFor(cmd, io).post<ToxicJson>(path, body);
      if (wantsJson(cmd)) return printJson(io, updated);
      printLine(io, `Updated toxic '${updated.name ?? opts.toxicName}' on proxy '${proxy}'`);
    });

  toxic
    .command('remove')
    .aliases(['r', 'delete', 'd'])
    .description('remove a toxic from a proxy')
    .argument('<proxy>', 'proxy name')
    .requiredOption('-n, --toxicName <name>', 'name of the toxic to remove')
    .action(async (proxy: string, opts: { toxicName: string }, cmd: Command) => {
      await clientFor(cmd, io).delete(`/proxies/${seg(proxy)}/toxics/${seg(opts.toxicName)}`);
      if (wantsJson(cmd)) return printJson(io, { deleted: opts.toxicName, proxy });
      printLine(io, `Removed toxic '${opts.toxicName}' on proxy '${proxy}'`);
    });
}
