// File descriptors are one pool for the whole process: proxied sockets, the API's own sockets,
// the SQLite files, the event stream. A flood through one proxy must not take the last of them,
// or the operator cannot even reach the API to disable that proxy. So proxied sockets may use
// the soft limit minus a reserve; past that, proxied accepts are shed first.

import { readFileSync } from 'node:fs';

/** Kept for the API, the store and the stream: a tenth of the limit, at least 64, at most 1024. */
export function reserveFor(limit: number): number {
  return Math.min(1024, Math.max(64, Math.floor(limit / 10)));
}

/** The soft RLIMIT_NOFILE, from /proc on Linux; Infinity where it cannot be read. */
export function openFileLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    const n = Number(soft);
    return Number.isInteger(n) && n > 0 ? n : Infinity;
  } catch {
    return Infinity;
  }
}

export class FdBudget {
  private used = 0;

  constructor(readonly capacity: number) {}

  /** Takes `n` descriptors if they fit in the budget. */
  take(n: number): boolean {
    if (this.used + n > this.capacity) return false;
    this.used += n;
    return true;
  }

  release(n: number): void {
    this.used = Math.max(0, this.used - n);
  }

  get inUse(): number {
    return this.used;
  }
}

const limit = openFileLimit();
/** The budget every proxy in this process shares. */
export const proxiedFds = new FdBudget(limit === Infinity ? Infinity : Math.max(0, limit - reserveFor(limit)));
