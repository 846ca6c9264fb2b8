// @ts-check
// The page's model: proxies as the server last described them, the toxic catalog, the selected
// proxy, and each proxy's recent rates derived from the stream's cumulative stats. Views
// subscribe to topics and redraw; nothing here touches the DOM.

/** @import { Proxy, Toxic, ToxicDefinition, Sample, StatsMessage, ProxyStats } from './types' */

/** Five minutes of one-second samples. */
export const HISTORY = 300;
/** The pseudo-proxy whose history sums every proxy (the charts' view with none selected). */
export const ALL = '\0all';

/** @typedef {'proxies' | 'selected' | 'stats' | 'catalog'} Topic */

export const state = {
  /** @type {Map<string, Proxy>} */
  proxies: new Map(),
  /** @type {ToxicDefinition[]} */
  catalog: [],
  /** @type {string | null} */
  selected: null,
  /** @type {Map<string, Sample[]>} */
  history: new Map(),
  /** The latest cumulative counters per proxy, to derive the next rates from. */
  /** @type {Map<string, {ts: number, stats: ProxyStats}>} */
  last: new Map(),
  /** Server-wide event counters from the latest stats message. */
  events: { total: 0, folded: 0 },
};

/** @type {Map<Topic, Set<() => void>>} */
const listeners = new Map();

/** @param {Topic} topic @param {() => void} fn */
export function on(topic, fn) {
  let set = listeners.get(topic);
  if (set === undefined) listeners.set(topic, (set = new Set()));
  set.add(fn);
}

/** @param {Topic} topic */
export function emit(topic) {
  for (const fn of listeners.get(topic) ?? []) {
    try {
      fn();
    } catch (err) {
      console.error(`a ${topic} view failed`, err);
    }
  }
}

/** Replaces every proxy (a snapshot or GET /proxies): nothing stale survives a reconnect. */
export function setProxies(/** @type {Proxy[]} */ list) {
  state.proxies = new Map(list.map((p) => [p.name, { ...p, toxics: Array.isArray(p.toxics) ? p.toxics : [] }]));
  if (state.selected !== null && !state.proxies.has(state.selected)) state.selected = null;
  for (const name of state.history.keys()) if (name !== ALL && !state.proxies.has(name)) state.history.delete(name);
  emit('proxies');
  emit('selected');
}

export function select(/** @type {string | null} */ name) {
  if (state.selected === name) return;
  state.selected = name;
  emit('selected');
}

/**
 * Applies a state:changed event's change to the model. Returns false when the event did not
 * carry enough to apply it (the caller then refetches).
 * @param {Record<string, unknown>} e
 */
export function applyChange(e) {
  const kind = String(e.kind ?? '');
  const name = String(e.proxy ?? '');
  const body = /** @type {Record<string, unknown> | undefined} */ (e.body);
  const proxy = state.proxies.get(name);
  if ((kind === 'proxy:created' || kind === 'proxy:updated') && body !== undefined) {
    const next = /** @type {Proxy} */ (/** @type {unknown} */ (body));
    state.proxies.set(name, { ...next, toxics: Array.isArray(next.toxics) ? next.toxics : proxy?.toxics ?? [] });
  } else if (kind === 'proxy:deleted') {
    state.proxies.delete(name);
    state.history.delete(name);
    if (state.selected === name) select(null);
  } else if ((kind === 'toxic:added' || kind === 'toxic:updated') && body !== undefined && proxy !== undefined) {
    const toxic = /** @type {Toxic} */ (/** @type {unknown} */ (body));
    const at = proxy.toxics.findIndex((t) => t.name === toxic.name);
    if (at >= 0) proxy.toxics[at] = toxic;
    else proxy.toxics.push(toxic);
  } else if ((kind === 'toxic:removed' || kind === 'toxic:expired') && proxy !== undefined) {
    proxy.toxics = proxy.toxics.filter((t) => t.name !== e.toxic);
  } else {
    return false;
  }
  emit('proxies');
  return true;
}

/**
 * Turns one cumulative stats message into a rate sample per proxy (and their sum). The first
 * message after a (re)connect only sets the baseline unless an earlier one is known.
 * @param {StatsMessage} msg
 */
export function addStats(msg) {
  const ts = typeof msg.ts === 'number' ? msg.ts : Date.now();
  /** @type {Sample} */
  const total = { ts, up: 0, down: 0, faults: 0, actions: {}, active: 0 };
  let any = false;
  for (const p of Array.isArray(msg.proxies) ? msg.proxies : []) {
    const prev = state.last.get(p.name);
    state.last.set(p.name, { ts, stats: p });
    if (prev === undefined || ts <= prev.ts) continue;
    const dt = (ts - prev.ts) / 1000;
    // A counter that went down belongs to a proxy deleted and re-created: start it from zero.
    const rate = (/** @type {number} */ now, /** @type {number} */ before) => Math.max(0, now >= before ? now - before : now) / dt;
    /** @type {Record<string, number>} */
    const actions = {};
    const byAction = p.faults_by_action ?? {};
    const prevByAction = prev.stats.faults_by_action ?? {};
    for (const [action, n] of Object.entries(byAction)) actions[action] = rate(n, prevByAction[action] ?? 0);
    /** @type {Sample} */
    const sample = {
      ts,
      up: rate(p.bytes?.upstream ?? 0, prev.stats.bytes?.upstream ?? 0),
      down: rate(p.bytes?.downstream ?? 0, prev.stats.bytes?.downstream ?? 0),
      faults: rate(p.faults ?? 0, prev.stats.faults ?? 0),
      actions,
      active: p.active ?? 0,
    };
    push(p.name, sample);
    any = true;
    total.up += sample.up;
    total.down += sample.down;
    total.faults += sample.faults;
    total.active += sample.active;
    for (const [action, n] of Object.entries(actions)) total.actions[action] = (total.actions[action] ?? 0) + n;
  }
  if (any) push(ALL, total);
  if (msg.events !== undefined) state.events = { total: msg.events.total ?? 0, folded: msg.events.folded ?? 0 };
  emit('stats');
}

/** @param {string} name @param {Sample} sample */
function push(name, sample) {
  let list = state.history.get(name);
  if (list === undefined) state.history.set(name, (list = []));
  list.push(sample);
  if (list.length > HISTORY) list.splice(0, list.length - HISTORY);
}

/** The latest sample of a proxy, if any. */
export function latest(/** @type {string} */ name) {
  const list = state.history.get(name);
  return list === undefined ? undefined : list[list.length - 1];
}

/** The active connections or sessions of a proxy, from stats or (UDP) its own JSON. */
export function activeOf(/** @type {Proxy} */ proxy) {
  const last = state.last.get(proxy.name);
  if (last !== undefined && typeof last.stats.active === 'number') return last.stats.active;
  return typeof proxy.sessions === 'number' ? proxy.sessions : null;
}

export function protocolOf(/** @type {Proxy} */ proxy) {
  return proxy.protocol ?? 'tcp';
}
