import type { DurationStats } from '../metrics/index.js';

/** The quantiles a summary shows, and the DurationStats field each comes from. */
const QUANTILES = [
  ['0.5', 'p50Ms'],
  ['0.95', 'p95Ms'],
  ['0.99', 'p99Ms'],
  ['1', 'maxMs'],
] as const;

/** One camera's durations, as a summary reads them at scrape time. */
export interface CameraDurations {
  camera: string;
  stats: DurationStats;
}

/** One sample, as prom-client's registry formats it (its `get()` contract). */
interface Sample {
  metricName?: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A Prometheus summary per camera (quantiles, `_sum`, `_count` in seconds) whose
 * figures come from camstream's own HDR histograms when scraped.
 *
 * Why a summary with precomputed quantiles rather than prom-client's Summary or
 * Histogram: those are fed by observe() on every frame of every viewer, which would
 * put prom-client on the hot path (a t-digest per observation, label lookups),
 * while the HDR histograms already record without allocating and give exact
 * percentiles of the last 1–2 minutes. A Prometheus histogram's buckets would let
 * several servers' latencies be aggregated, but camstream is one server per set of
 * cameras, and fixed buckets would blur the p99 an alert compares. prom-client has
 * no public way to set a summary's quantiles, so this is a metric of our own that
 * the registry calls like its own (`get()` returning name, help, type, values).
 */
export class QuantileSummary {
  readonly type = 'summary';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => Iterable<CameraDurations>,
  ) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: Sample[] } {
    const values: Sample[] = [];
    for (const { camera, stats } of this.read()) {
      for (const [quantile, field] of QUANTILES) {
        const ms = stats[field];
        // NaN is the exposition format's "no observation in the window".
        values.push({ labels: { camera, quantile }, value: ms === null ? Number.NaN : seconds(ms) });
      }
      values.push({ metricName: `${this.name}_sum`, labels: { camera }, value: seconds(stats.sumMs) });
      values.push({ metricName: `${this.name}_count`, labels: { camera }, value: stats.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Registry.resetMetrics() calls this; the figures are camstream's, not ours to reset. */
  reset(): void {}
}

/** Milliseconds (to the microsecond) to seconds, without float noise such as 0.033534999999999995. */
function seconds(ms: number): number {
  return Math.round(ms * 1000) / 1e6;
}
