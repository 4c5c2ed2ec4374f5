// The Int32 histogram alone: the package's index also loads its WebAssembly and
// every other variant, ~17 MB of RSS against ~3 MB for this one file.
import int32Histogram from 'hdr-histogram-js/dist/Int32Histogram.js';

const Int32Histogram = int32Histogram.default;
type Histogram = InstanceType<typeof Int32Histogram>;

/** Frame-interval percentiles, in milliseconds. */
export interface IntervalStats {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  count: number;
}

/**
 * Frame rate measured from arrivals, never assumed: an exponentially weighted
 * moving average of the interval between marks, and an HDR histogram of the
 * intervals (recording costs no allocation; percentiles are read when asked for).
 * Reading the rate after a pause reports the pause: a stalled camera's rate falls
 * towards 0 instead of freezing at its last value.
 */
export class RateMeter {
  private lastMs = -1;
  private averageIntervalMs = 0;
  private marks = 0;
  private readonly weight: number;
  private readonly intervals: Histogram | undefined;

  /**
   * `weight` is the share of each new interval in the average (0.1 ≈ the last ~10
   * frames). Without `histogram` (per viewer) only the average is kept.
   */
  constructor(weight = 0.1, histogram = true) {
    this.weight = weight;
    this.intervals = histogram ? new Int32Histogram(1, 3_600_000_000, 2) : undefined;
  }

  mark(nowMs: number): void {
    if (this.lastMs >= 0) {
      const interval = nowMs - this.lastMs;
      this.averageIntervalMs = this.marks === 1 ? interval : this.averageIntervalMs + (interval - this.averageIntervalMs) * this.weight;
      // Microseconds, at least 1: the histogram's lowest value.
      this.intervals?.recordValue(Math.min(3_600_000_000, Math.max(1, Math.round(interval * 1000))));
    }
    this.lastMs = nowMs;
    this.marks++;
  }

  /** Events per second, as of `nowMs`. */
  rate(nowMs: number = performance.now()): number {
    if (this.marks < 2) return 0;
    const interval = Math.max(this.averageIntervalMs, nowMs - this.lastMs);
    return interval > 0 ? 1000 / interval : 0;
  }

  /** Percentiles of the intervals between marks since the meter was made. */
  intervalStats(): IntervalStats {
    const h = this.intervals;
    if (h === undefined) return { p50Ms: 0, p99Ms: 0, maxMs: 0, count: 0 };
    const ms = (micros: number): number => Math.round(micros) / 1000;
    return { p50Ms: ms(h.getValueAtPercentile(50)), p99Ms: ms(h.getValueAtPercentile(99)), maxMs: ms(h.maxValue), count: h.totalCount };
  }

  get count(): number {
    return this.marks;
  }
}
