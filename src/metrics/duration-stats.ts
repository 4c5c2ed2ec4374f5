/**
 * What a DurationHistogram says when read: percentiles of the recent past (the last
 * one to two minutes; null when nothing happened there), count and sum since start.
 */
export interface DurationStats {
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  count: number;
  sumMs: number;
}

const PERCENTILES = ['p50Ms', 'p95Ms', 'p99Ms', 'maxMs'] as const;

/**
 * The figures of several event loops' histograms (viewer loops, see --workers) as
 * one. Counts and sums add up exactly. Percentiles cannot be merged from
 * percentiles, so each is the highest of the parts': an upper bound of the true
 * one (if every part has 99 % of its values at or below its p99, then 99 % of all
 * values are at or below the highest p99), which errs on the side an alert wants.
 */
export function mergeDurationStats(parts: readonly DurationStats[]): DurationStats {
  const merged: DurationStats = { p50Ms: null, p95Ms: null, p99Ms: null, maxMs: null, count: 0, sumMs: 0 };
  for (const part of parts) {
    merged.count += part.count;
    merged.sumMs += part.sumMs;
    for (const key of PERCENTILES) {
      const value = part[key];
      const here = merged[key];
      if (value !== null && (here === null || value > here)) merged[key] = value;
    }
  }
  return merged;
}
