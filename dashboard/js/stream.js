// @ts-check
// The live stream: one WebSocket to /events/stream, reconnected with backoff whenever it
// closes (a server restart, a network drop, or the server telling a slow page it lagged). Each
// connection starts with a snapshot, which replaces the page's state rather than adding to it.

import { currentToken, refreshToken } from './api.js';

/** @import { StreamMessage, ConnState, StatsMessage, Proxy } from './types' */

/**
 * @typedef {object} StreamHandlers
 * @property {(proxies: Proxy[], stats: StatsMessage | null) => void} snapshot
 * @property {(kind: string, event: Record<string, unknown>) => void} event
 * @property {(stats: StatsMessage) => void} stats
 * @property {(state: ConnState, detail: string) => void} status
 */

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;

/**
 * Opens the stream and keeps it open. Returns a function that closes it for good.
 * @param {StreamHandlers} handlers
 */
export function connectStream(handlers) {
  let delay = FIRST_DELAY_MS;
  /** @type {WebSocket | null} */
  let ws = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  let stopped = false;
  let reason = '';
  /** Attempts since the last snapshot. */
  let failures = 0;

  const url = () => {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    return `${scheme}://${location.host}/events/stream?token=${encodeURIComponent(currentToken())}`;
  };

  const open = () => {
    timer = null;
    reason = '';
    handlers.status('connecting', '');
    let socket;
    try {
      socket = new WebSocket(url());
    } catch (err) {
      reason = err instanceof Error ? err.message : String(err);
      retry();
      return;
    }
    ws = socket;
    socket.onmessage = (m) => {
      /** @type {StreamMessage} */
      let msg;
      try {
        msg = JSON.parse(String(m.data));
      } catch {
        return;
      }
      dispatch(msg);
    };
    socket.onclose = (e) => {
      if (ws !== socket) return;
      ws = null;
      if (reason === '' && e.code !== 1000 && e.code !== 1005 && e.code !== 1006) reason = e.reason || `code ${e.code}`;
      retry();
    };
  };

  /** @param {StreamMessage} msg */
  const dispatch = (msg) => {
    switch (msg.type) {
      case 'snapshot': {
        // Only a snapshot proves the server accepted us: the backoff resets here, not on open.
        delay = FIRST_DELAY_MS;
        failures = 0;
        const stats = msg.stats !== undefined && Array.isArray(/** @type {StatsMessage} */ (msg.stats).proxies)
          ? /** @type {StatsMessage} */ (msg.stats) : null;
        handlers.snapshot(Array.isArray(msg.proxies) ? msg.proxies : [], stats);
        handlers.status('open', '');
        break;
      }
      case 'event':
        if (msg.event !== null && typeof msg.event === 'object') handlers.event(String(msg.kind), msg.event);
        break;
      case 'stats':
        handlers.stats(msg);
        break;
      case 'lagged':
        reason = `the page fell behind the stream and missed ${msg.missed} events`;
        break;
    }
  };

  const retry = () => {
    if (stopped) return;
    handlers.status('closed', reason);
    failures++;
    // A browser does not say why an upgrade failed; if the server is back but still refuses us,
    // it may have restarted with a new token, which a fresh copy of the page holds.
    if (failures >= 2) void refreshToken().then((changed) => { if (changed) delay = FIRST_DELAY_MS; });
    // Jittered so many tabs do not reconnect in lockstep after a server restart.
    const wait = delay * (0.75 + Math.random() * 0.5);
    delay = Math.min(delay * 2, MAX_DELAY_MS);
    timer = setTimeout(open, wait);
  };

  open();
  return () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
    ws?.close(1000);
  };
}
