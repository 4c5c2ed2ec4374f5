export { RateMeter } from './rate-meter.js';
export type { IntervalStats } from './rate-meter.js';
export { DropCounters, DROP_REASONS } from './drop-counters.js';
export type { DropReason } from './drop-counters.js';
export { ProcessMonitor } from './process-stats.js';
export type { ProcessStats } from './process-stats.js';
