// The one seedable random source. Every random decision in faultline (toxicity rolls, jitter,
// slicer sizes, loss) comes from a stream forked off this root.
//
// A single shared stream would make decisions depend on how connections interleave in time,
// so a seed would reproduce nothing under concurrency. Instead each consumer forks a stream
// named after what it serves (proxy, connection sequence number, direction, toxic): the same
// seed and the same traffic give the same decisions, whatever the timing.

import { createHash, randomInt } from 'node:crypto';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';

type Generator = ReturnType<typeof xoroshiro128plus>;

export class Random {
  readonly seed: number;
  private readonly gen: Generator;

  constructor(seed: number) {
    this.seed = seed;
    this.gen = xoroshiro128plus(seed | 0);
  }

  /** A random seed for runs started without `--seed`; it is logged so the run can be replayed. */
  static freshSeed(): number {
    return randomInt(0, 2 ** 31 - 1);
  }

  /** An independent stream whose values depend only on this seed and `label`. */
  fork(label: string): Random {
    const digest = createHash('sha256').update(`${this.seed}\0${label}`).digest();
    return new Random(digest.readInt32LE(0));
  }

  /** Uniform in [0, 1). */
  next(): number {
    return uniformFloat64(this.gen);
  }

  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return uniformInt(this.gen, min, max);
  }

  /** True with probability `p`; p <= 0 is never, p >= 1 is always. */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.next() < p;
  }
}
