/**
 * Frame rate measured from arrivals, never assumed: an exponentially weighted
 * moving average of the interval between marks. Reading it after a pause reports
 * the pause (a stalled camera's rate falls towards 0 instead of freezing at its
 * last value).
 */
export class RateMeter {
  private lastMs = -1;
  private averageIntervalMs = 0;
  private marks = 0;
  private readonly weight: number;

  /** `weight` is the share of each new interval in the average (0.1 ≈ the last ~10 frames). */
  constructor(weight = 0.1) {
    this.weight = weight;
  }

  mark(nowMs: number): void {
    if (this.lastMs >= 0) {
      const interval = nowMs - this.lastMs;
      this.averageIntervalMs = this.marks === 1 ? interval : this.averageIntervalMs + (interval - this.averageIntervalMs) * this.weight;
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

  get count(): number {
    return this.marks;
  }
}
