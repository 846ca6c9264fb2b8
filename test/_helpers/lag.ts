// How late this process's timers run while a test measures: the part of any measured delay
// that the machine's load adds. A timing bound of "X ms" becomes "X ms beyond the worst timer
// lateness seen in the same window", which an idle machine makes ~X and a loaded one relaxes
// by exactly what the load cost everything else in the process, no more.

import { performance } from 'node:perf_hooks';

export class LagSampler {
  private readonly samples: Array<[at: number, late: number]> = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly everyMs = 5) {}

  start(): this {
    const arm = () => {
      const due = performance.now() + this.everyMs;
      this.timer = setTimeout(() => {
        const now = performance.now();
        this.samples.push([now, Math.max(0, now - due)]);
        arm();
      }, this.everyMs);
      this.timer.unref();
    };
    if (this.timer === null) arm();
    return this;
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** The worst lateness of a sample taken between `from` and `to` (performance.now() ms),
   *  and of the first one after it, which covers a stall that straddles the end. */
  worst(from = 0, to = Infinity): number {
    let worst = 0;
    let pastEnd = false;
    for (const [at, late] of this.samples) {
      if (at < from) continue;
      if (at > to) {
        if (pastEnd) break;
        pastEnd = true;
      }
      worst = Math.max(worst, late);
    }
    return Math.round(worst * 10) / 10;
  }
}

/** One sampler for a whole test file, running from its first import: `bound + lag.worst()`. */
export const lag = new LagSampler().start();
