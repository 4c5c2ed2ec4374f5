import { DurationHistogram } from './duration-histogram.js';
import type { DurationStats } from './duration-stats.js';

/** Frame-interval figures, in milliseconds (see DurationStats). */
export type IntervalStats = DurationStats;

const NO_INTERVALS: IntervalStats = { p50Ms: null, p95Ms: null, p99Ms: null, maxMs: null, count: 0, sumMs: 0 };

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
  private readonly intervals: DurationHistogram | undefined;

  /**
   * `weight` is the share of each new interval in the average (0.1 ≈ the last ~10
   * frames). Without `histogram` (per viewer) only the average is kept.
   */
  constructor(weight = 0.1, histogram = true) {
    this.weight = weight;
    this.intervals = histogram ? new DurationHistogram() : undefined;
  }

  mark(nowMs: number): void {
    if (this.lastMs >= 0) {
      const interval = nowMs - this.lastMs;
      this.averageIntervalMs = this.marks === 1 ? interval : this.averageIntervalMs + (interval - this.averageIntervalMs) * this.weight;
      this.intervals?.record(interval, nowMs);
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

  /** Percentiles of the recent intervals between marks; count and sum since the meter was made. */
  intervalStats(nowMs: number = performance.now()): IntervalStats {
    return this.intervals?.stats(nowMs) ?? { ...NO_INTERVALS };
  }

  get count(): number {
    return this.marks;
  }
}
