// The Int32 histogram alone: the package's index also loads its WebAssembly and
// every other variant, ~17 MB of RSS against ~3 MB for this one file.
import int32Histogram from 'hdr-histogram-js/dist/Int32Histogram.js';
import type { DurationStats } from './duration-stats.js';

const Int32Histogram = int32Histogram.default;
type Histogram = InstanceType<typeof Int32Histogram>;

/** Recorded in microseconds, 1 µs to an hour, to 2 significant digits (~1 %): ~13 KB per histogram. */
const LOWEST_MICROS = 1;
const HIGHEST_MICROS = 3_600_000_000;
const SIGNIFICANT_DIGITS = 2;

/** How long each of the two windows the percentiles cover lasts. */
export const DEFAULT_WINDOW_MS = 60_000;

function newHistogram(): Histogram {
  return new Int32Histogram(LOWEST_MICROS, HIGHEST_MICROS, SIGNIFICANT_DIGITS);
}

/**
 * Durations (frame acquisition, capture-to-socket latency, frame intervals) in HDR
 * histograms: recording is a few typed-array writes, no allocation, so it runs on
 * the hot path; percentiles are computed only when read.
 *
 * Percentiles cover the recent past, not the whole uptime: after a day of good
 * latency, a bad minute would hardly move a since-start p99, and an alert on it
 * would never fire. Two histograms take turns: the current window and the one
 * before it, so a read covers the last one to two windows (1–2 minutes by
 * default). Count and sum are kept since start, as a Prometheus summary's are.
 */
export class DurationHistogram {
  private current = newHistogram();
  private previous = newHistogram();
  /** Where the two windows are added up when read (kept, so a read allocates no histogram). */
  private readonly combined = newHistogram();
  private windowStartMs = -1;
  private readonly windowMs: number;
  private total = 0;
  private sumMs = 0;

  constructor(windowMs = DEFAULT_WINDOW_MS) {
    this.windowMs = windowMs;
  }

  /** One duration of `durationMs`, observed at `nowMs` (performance.now()). */
  record(durationMs: number, nowMs: number): void {
    this.rotate(nowMs);
    // Clocks of two threads (viewer loops) may put a capture a hair in the future.
    const duration = durationMs > 0 ? durationMs : 0;
    this.total++;
    this.sumMs += duration;
    // Clamped into the histogram's range: a value outside it would throw.
    this.current.recordValue(Math.min(HIGHEST_MICROS, Math.max(LOWEST_MICROS, Math.round(duration * 1000))));
  }

  /** Durations recorded since start. */
  get count(): number {
    return this.total;
  }

  /** Percentiles of the last one to two windows (null when nothing was recorded there); count and sum since start. */
  stats(nowMs: number = performance.now()): DurationStats {
    this.rotate(nowMs);
    const h = this.combined;
    h.reset();
    h.add(this.previous);
    h.add(this.current);
    const empty = h.totalCount === 0;
    // A percentile is its bucket's upper edge (~1 % high); the maximum is exact, and no percentile exceeds it.
    const at = (percentile: number): number | null => (empty ? null : ms(Math.min(h.getValueAtPercentile(percentile), h.maxValue)));
    return { p50Ms: at(50), p95Ms: at(95), p99Ms: at(99), maxMs: empty ? null : ms(h.maxValue), count: this.total, sumMs: Math.round(this.sumMs * 1000) / 1000 };
  }

  /** Starts a new window when the current one is over; clears both after a silence of two. */
  private rotate(nowMs: number): void {
    if (this.windowStartMs < 0) this.windowStartMs = nowMs;
    const elapsed = nowMs - this.windowStartMs;
    if (elapsed < this.windowMs) return;
    const spare = this.previous;
    this.previous = this.current;
    this.current = spare;
    this.current.reset();
    if (elapsed >= 2 * this.windowMs) this.previous.reset();
    this.windowStartMs = nowMs;
  }
}

/** Microseconds to milliseconds, to the microsecond. */
function ms(micros: number): number {
  return Math.round(micros) / 1000;
}
