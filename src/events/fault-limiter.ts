// Faults that happen on every chunk (latency on a bulk transfer: tens of thousands a second)
// must not flood the log, the store or the dashboard. Every fault is counted; per-chunk events
// pass a token bucket per (proxy, toxic, action), and what the bucket folds away is reported
// as a count instead.

/** Events per second that one (proxy, toxic, action) may stream; bursts up to the same. */
export const FAULT_EVENTS_PER_SECOND = 50;

interface Bucket {
  tokens: number;
  refilledAt: number;
  folded: number;
}

export class FaultLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly rate = FAULT_EVENTS_PER_SECOND) {}

  /** True if an event for `key` may be emitted now; otherwise it is folded into a count. */
  admit(key: string, now: number): boolean {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: this.rate, refilledAt: now, folded: 0 };
      this.buckets.set(key, bucket);
    } else {
      const refill = ((now - bucket.refilledAt) / 1000) * this.rate;
      if (refill > 0) {
        bucket.tokens = Math.min(this.rate, bucket.tokens + refill);
        bucket.refilledAt = now;
      }
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return true;
    }
    bucket.folded++;
    return false;
  }

  /** Takes the folded counts accumulated since the last call, and forgets idle buckets. */
  drain(now: number): Array<{ key: string; folded: number }> {
    const out: Array<{ key: string; folded: number }> = [];
    for (const [key, bucket] of this.buckets) {
      if (bucket.folded > 0) {
        out.push({ key, folded: bucket.folded });
        bucket.folded = 0;
      } else if (now - bucket.refilledAt > 60_000) {
        this.buckets.delete(key);
      }
    }
    return out;
  }
}
