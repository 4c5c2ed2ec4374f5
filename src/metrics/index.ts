export { RateMeter } from './rate-meter.js';
export type { IntervalStats } from './rate-meter.js';
export { DurationHistogram, DEFAULT_WINDOW_MS } from './duration-histogram.js';
export { mergeDurationStats } from './duration-stats.js';
export type { DurationStats } from './duration-stats.js';
export { DropCounters, DROP_REASONS } from './drop-counters.js';
export type { DropReason } from './drop-counters.js';
export { ProcessMonitor } from './process-stats.js';
export type { ProcessStats } from './process-stats.js';
