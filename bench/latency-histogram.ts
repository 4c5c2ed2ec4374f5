/**
 * A latency histogram that several load generator processes can each fill and the
 * orchestrator can merge: percentiles cannot be merged, counts can. Buckets are
 * logarithmic, 1 % wide, so a percentile read from them is within 1 % of the
 * sample's value, from 1 µs to hours, in a few hundred buckets.
 */

const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);

/** [bucket index, count] pairs, as sent between processes (JSON). */
export type HistogramCounts = [number, number][];

export class LatencyHistogram {
  private readonly counts = new Map<number, number>();
  private total = 0;

  /** Adds one sample, microseconds; samples below 1 µs (clocks a hair apart) count as 1 µs. */
  record(micros: number): void {
    const index = Math.floor(Math.log(Math.max(1, micros)) / LOG_GROWTH);
    this.counts.set(index, (this.counts.get(index) ?? 0) + 1);
    this.total++;
  }

  merge(counts: HistogramCounts): void {
    for (const [index, count] of counts) {
      this.counts.set(index, (this.counts.get(index) ?? 0) + count);
      this.total += count;
    }
  }

  get samples(): number {
    return this.total;
  }

  toJSON(): HistogramCounts {
    return [...this.counts];
  }

  /** Nearest-rank percentile in milliseconds (the bucket's upper edge); NaN when empty. */
  percentileMs(p: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (const index of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(index) as number;
      if (seen >= rank) return GROWTH ** (index + 1) / 1000;
    }
    return Number.NaN;
  }

  summary(): { p50: number; p99: number; max: number; samples: number } {
    return { p50: this.percentileMs(50), p99: this.percentileMs(99), max: this.percentileMs(100), samples: this.total };
  }
}
