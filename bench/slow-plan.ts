/**
 * The slow-viewer scenarios (issues #4 and #14), as data: which camera, how many
 * fast and slow viewers, and how the slow ones read. Each slow mix has a row with
 * the same camera and viewers none of which is slow, so the server's CPU is read as
 * a ratio within one run. slow-scenarios.ts runs them.
 */
import type { LoadOptions } from './load-process.js';
import type { Shaping } from './netns.js';

/** How the slow viewers of a scenario read; `none` is the baseline, every viewer reading at full speed. */
export type SlowReader = 'none' | 'paced' | 'busy-tab' | 'link';

export interface BenchCamera {
  source: string;
  /** As the tables name it, e.g. 1080p60. */
  label: string;
  fps: number;
}

export interface SlowScenario {
  name: string;
  camera: BenchCamera;
  reader: SlowReader;
  fast: number;
  slow: number;
  /** The slow generator's options (the link scenario adds its namespace's wrapper). */
  slowOptions: LoadOptions;
}

export const HD1080: BenchCamera = { source: 'synthetic:1920x1080@60', label: '1080p60', fps: 60 };
/** The common Raspberry Pi setting (issue #14): a 720p30 camera, ~100 KB frames, so ~3 MB/s. */
export const PI_CAMERA: BenchCamera = { source: 'synthetic:1280x720@30', label: '720p30', fps: 30 };

const FAST_VIEWERS = 8;
const SLOW_VIEWERS = 2;
const ALL = FAST_VIEWERS + SLOW_VIEWERS;
/** 2 MB/s, as in issue #4: an eighth of what the 1080p60 stream needs. */
export const SLOW_RATE = 2_000_000;
/**
 * The paced reader's SO_RCVBUF: about what a 2 MB/s link holds in flight, and what
 * issue #14's "≤ 300 ms with a 128 KiB receive buffer" target is stated for.
 */
export const PACED_RCVBUF = 128 * 1024;
/** A busy tab's period: it gets to its socket four times a second and reads a burst. */
export const BUSY_TAB_PERIOD_MS = 250;
/** The Pi scenario: one viewer at 1 MB/s, a third of what 720p30 needs, beside a few fast ones. */
export const PI_FAST_VIEWERS = 3;
export const PI_SLOW_VIEWERS = 1;
export const PI_SLOW_RATE = 1_000_000;

/**
 * The link: netem delay and loss, tbf at 16 mbit (2 MB/s) with the tc-tbf man page's
 * bucket; its queue (tbf `latency`, the longest a packet may wait) is --link-queue.
 */
export const SHAPING: Omit<Shaping, 'latency'> = { delay: '20ms', lossPercent: 0.1, rate: '16mbit', burst: '32kbit' };

/** --slow's values: the slow mixes. Each brings its camera's no-slow-viewer row along. */
export const SLOW_KINDS = ['paced', 'busy-tab', 'link', 'pi'] as const;
export type SlowKind = (typeof SLOW_KINDS)[number];

export const NONE_SLOW: SlowScenario = {
  name: `none of ${ALL} slow (the same viewers, all reading at full speed)`,
  camera: HD1080,
  reader: 'none',
  fast: FAST_VIEWERS,
  slow: SLOW_VIEWERS,
  slowOptions: {},
};
export const PACED: SlowScenario = {
  name: `${SLOW_VIEWERS} of ${ALL} at 2 MB/s, paced reader (${PACED_RCVBUF / 1024} KiB receive buffer)`,
  camera: HD1080,
  reader: 'paced',
  fast: FAST_VIEWERS,
  slow: SLOW_VIEWERS,
  slowOptions: { rate: SLOW_RATE, rcvbuf: PACED_RCVBUF },
};
export const BUSY_TAB: SlowScenario = {
  name: `${SLOW_VIEWERS} of ${ALL} at 2 MB/s, busy-tab reader (OS default receive buffer)`,
  camera: HD1080,
  reader: 'busy-tab',
  fast: FAST_VIEWERS,
  slow: SLOW_VIEWERS,
  slowOptions: { rate: SLOW_RATE, readPeriodMs: BUSY_TAB_PERIOD_MS },
};
export function linkScenario(netem: boolean): SlowScenario {
  return {
    name: netem
      ? `${SLOW_VIEWERS} of ${ALL} over a netem link (20 ms, 0.1 % loss, tbf 16 mbit)`
      : `${SLOW_VIEWERS} of ${ALL} over a tbf link (16 mbit, 0.1 % loss; no netem, so no delay)`,
    camera: HD1080,
    reader: 'link',
    fast: FAST_VIEWERS,
    slow: SLOW_VIEWERS,
    slowOptions: {},
  };
}
export const PI_NONE_SLOW: SlowScenario = {
  name: `${PI_CAMERA.label}: none of ${PI_FAST_VIEWERS + PI_SLOW_VIEWERS} slow`,
  camera: PI_CAMERA,
  reader: 'none',
  fast: PI_FAST_VIEWERS,
  slow: PI_SLOW_VIEWERS,
  slowOptions: {},
};
export const PI: SlowScenario = {
  name: `${PI_CAMERA.label} (Raspberry Pi setting): ${PI_SLOW_VIEWERS} of ${PI_FAST_VIEWERS + PI_SLOW_VIEWERS} at 1 MB/s, busy-tab reader (OS default receive buffer)`,
  camera: PI_CAMERA,
  reader: 'busy-tab',
  fast: PI_FAST_VIEWERS,
  slow: PI_SLOW_VIEWERS,
  slowOptions: { rate: PI_SLOW_RATE, readPeriodMs: BUSY_TAB_PERIOD_MS },
};
