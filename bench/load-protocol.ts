/**
 * What the orchestrator (run.ts) and the load generator (load.ts) say to each other.
 * The orchestrator writes `start` and `stop` lines on the generator's stdin, so the
 * client's measured window and the server samples cover the same seconds; the
 * generator answers with one JSON line per event on stdout.
 */
import type { HistogramCounts } from './latency-histogram.js';

export const START = 'start';
export const STOP = 'stop';

/**
 * Credit a paced viewer (load.ts --rate) may save up while the server sends less
 * than its rate, in milliseconds of its rate: a real link cannot send faster later
 * for having idled, beyond a few packets.
 */
export const PACED_BURST_MS = 10;

/** Every viewer has received at least one whole part (or failed). */
export interface ReadyMessage {
  event: 'ready';
  connected: number;
  failed: number;
}

export interface ViewerResult {
  /** Parts received in the window. */
  frames: number;
  /** Sequence numbers skipped in the window: frames this viewer never saw. */
  gaps: number;
  jpegBytes: number;
  /** Every byte read in the window (parts, headers and boundaries): the viewer's throughput. */
  bytes: number;
  fps: number;
  /** Why the viewer's stream ended early, if it did. */
  error: string | undefined;
}

/** The measured window, sent once on `stop`. */
export interface ResultMessage {
  event: 'result';
  seconds: number;
  viewers: ViewerResult[];
  /** Latency percentiles over every part of every viewer, milliseconds. */
  latencyMs: { p50: number; p99: number; max: number; samples: number };
  /** The same latencies as a histogram, to merge with other generators'. */
  latencyCounts: HistogramCounts;
  /** The generator's own CPU use over the window, % of one core. */
  cpu: { total: number; user: number; system: number };
}

export type LoadMessage = ReadyMessage | ResultMessage;

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}
