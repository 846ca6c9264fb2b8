// Which bus events a stream client asked for: the kinds that may be streamed, and the query
// filters (`proxy`, `type`, `kind`, `stats`) parsed from the upgrade's URL and matched per event.

/** The bus events a client can receive; `kind` filters name these. */
export const STREAM_KINDS = [
  'fault:injected', 'fault:folded', 'conn:opened', 'conn:closed', 'state:changed',
  'scenario:started', 'scenario:step', 'scenario:finished', 'session:started', 'session:stopped',
] as const;
export type StreamKind = (typeof STREAM_KINDS)[number];

export interface Filter { proxy: string[]; type: string[]; kind: Set<string> | null; stats: boolean }

/** `proxy` and `type` may repeat (any of them matches); `kind` also takes a comma list. A client
 *  that filters asked for particular events, so it gets stats only with `stats=1`. */
export function parseFilter(params: URLSearchParams): Filter | string {
  const kinds = params.getAll('kind').flatMap((k) => k.split(',')).map((k) => k.trim()).filter((k) => k !== '');
  const unknown = kinds.filter((k) => !(STREAM_KINDS as readonly string[]).includes(k));
  if (unknown.length > 0) return `unknown kind ${unknown.join(', ')}; kinds are ${STREAM_KINDS.join(', ')}`;
  const proxy = params.getAll('proxy');
  const type = params.getAll('type');
  const stats = params.get('stats');
  if (stats !== null && stats !== '0' && stats !== '1') return 'stats must be 0 or 1';
  return {
    proxy, type, kind: kinds.length > 0 ? new Set(kinds) : null,
    stats: stats === null ? proxy.length === 0 && type.length === 0 && kinds.length === 0 : stats === '1',
  };
}

/** Every given filter must match; an event without the field fails a filter on it. */
export function matches(filter: Filter, kind: StreamKind, event: Record<string, unknown>): boolean {
  if (filter.kind !== null && !filter.kind.has(kind)) return false;
  if (filter.proxy.length > 0 && !filter.proxy.includes(event.proxy as string)) return false;
  if (filter.type.length > 0 && !filter.type.includes(event.type as string)) return false;
  return true;
}
