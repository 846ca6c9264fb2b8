// Printing helpers shared by the CLI commands: the injectable writers, the --json switch, and
// the text layouts for proxies and toxics. Nothing here touches the network or the process.

/** Where the CLI writes, and the environment it reads; injected so the program is testable. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  /** Present when `out` writes to a terminal (live displays are drawn only then); columns is
   *  its current width, when known. */
  tty?: { columns?: number };
}

/** A toxic object as the server returns it (Toxiproxy's shape). */
export interface ToxicJson {
  name: string;
  type: string;
  stream: string;
  toxicity: number;
  attributes?: Record<string, unknown> | null;
}

/** A proxy object as the server returns it (Toxiproxy's shape). */
export interface ProxyJson {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  toxics?: ToxicJson[] | null;
  /** faultline's extension: absent means tcp. */
  protocol?: string;
  sessions?: number;
  idle_timeout?: number;
}

/** One JSON document, pretty-printed, for scripts. */
export function printJson(io: CliIO, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

/** A single line of text. */
export function printLine(io: CliIO, line: string): void {
  io.out(`${line}\n`);
}

/** Rows aligned in columns two spaces apart; the last column is not padded. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '),
    )
    .join('\n');
}

/** The `list` table: a header row and one row per proxy, sorted by name. */
export function formatProxyList(proxies: readonly ProxyJson[]): string {
  const sorted = [...proxies].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const rows = [['NAME', 'PROTO', 'LISTEN', 'UPSTREAM', 'STATE', 'TOXICS']];
  for (const p of sorted) {
    rows.push([p.name, p.protocol ?? 'tcp', p.listen, p.upstream, state(p.enabled), String(p.toxics?.length ?? 0)]);
  }
  return formatTable(rows);
}

/** `inspect`: the proxy on one line, then one line per toxic. */
export function formatProxy(proxy: ProxyJson): string {
  const udp = proxy.protocol === 'udp'
    ? `  protocol=udp  idle_timeout=${proxy.idle_timeout}ms  sessions=${proxy.sessions}`
    : proxy.protocol === 'http' || proxy.protocol === 'dns' ? `  protocol=${proxy.protocol}` : '';
  const head = `${proxy.name}  listen=${proxy.listen}  upstream=${proxy.upstream}  ${state(proxy.enabled)}${udp}`;
  return [head, ...(proxy.toxics ?? []).map(formatToxic)].join('\n');
}

/** `name  type=..  stream=..  toxicity=0.50  attributes=[k=v ...]`, attributes sorted by key. */
export function formatToxic(toxic: ToxicJson): string {
  const attrs = Object.entries(toxic.attributes ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${formatValue(v)}`)
    .join(' ');
  const toxicity = typeof toxic.toxicity === 'number' ? toxic.toxicity.toFixed(2) : String(toxic.toxicity);
  return `${toxic.name}  type=${toxic.type}  stream=${toxic.stream}  toxicity=${toxicity}  attributes=[${attrs}]`;
}

function formatValue(value: unknown): string {
  // A string with spaces or nothing in it (an HTTP body, an empty match) is quoted, so the
  // attribute list still reads as key=value pairs.
  if (typeof value === 'string' && (value === '' || /[\s"]/.test(value))) return JSON.stringify(value);
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

function state(enabled: boolean): string {
  return enabled ? 'enabled' : 'disabled';
}
