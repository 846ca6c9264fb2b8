// Timers that remove toxics when their ttl runs out, so a test or game-day that dies mid-run
// leaves no fault behind. Timers are unref'd: a pending expiry never keeps the process alive.

export class Expiries {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  /** Arms (or re-arms) the expiry of one toxic; null clears it. */
  set(proxy: string, toxic: string, expiresAt: number | null, expire: () => void): void {
    this.clear(proxy, toxic);
    if (expiresAt === null) return;
    const key = keyOf(proxy, toxic);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      expire();
    }, Math.max(0, expiresAt - Date.now()));
    timer.unref();
    this.timers.set(key, timer);
  }

  clear(proxy: string, toxic: string): void {
    const key = keyOf(proxy, toxic);
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
  }

  clearAll(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}

const keyOf = (proxy: string, toxic: string) => `${proxy}\0${toxic}`;
