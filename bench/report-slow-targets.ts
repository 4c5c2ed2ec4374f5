/**
 * Issue #14's targets for the slow-viewer scenarios (1080p60, 10 viewers of which 2
 * are slow), each beside what this run measured: met or not, from the figures. A
 * target whose scenario did not run says so.
 */
import { f, table } from './format.js';
import { cpuRatio, type SlowScenarioFigures } from './report-slow.js';
import { HD1080, type SlowReader } from './slow-plan.js';

/** Delivered fps counts as the camera's full rate from this share of it up (a 10 s window can end a frame short). */
const FULL_RATE_SHARE = 59.5 / 60;
const SLOW_FPS_MIN = 10;
const BUSY_TAB_P99_MS = 500;
const BOUNDED_P99_MS = 300;
const CPU_RATIO_MAX = 2.5;
const RSS_PEAK_MB = 110;

const READER_NAMES: Record<Exclude<SlowReader, 'none'>, string> = { paced: 'paced', 'busy-tab': 'busy tab', link: 'link' };

interface Target {
  what: string;
  /** The rows it is judged on: the slow mixes, or only those of one reader. */
  readers: readonly SlowReader[];
  measured(row: SlowScenarioFigures, rows: readonly SlowScenarioFigures[]): string;
  met(row: SlowScenarioFigures, rows: readonly SlowScenarioFigures[]): boolean;
}

const MIXES: readonly SlowReader[] = ['paced', 'busy-tab', 'link'];

const TARGETS: readonly Target[] = [
  {
    what: 'Fast viewers: full rate (60 fps), no drops',
    readers: MIXES,
    measured: (r) => `min ${f(r.fast.fps.min)} fps, ${f(r.fast.drops.server, 0)} server / ${r.fast.drops.clientGaps} client`,
    met: (r) => r.fast.fps.min >= r.cameraFps * FULL_RATE_SHARE && r.fast.drops.server === 0 && r.fast.drops.clientGaps === 0,
  },
  {
    what: `Slow viewers: ≥ ${SLOW_FPS_MIN} fps`,
    readers: MIXES,
    measured: (r) => `${r.slow.fps.map((v) => f(v)).join(', ')} fps`,
    met: (r) => r.slow.fps.length > 0 && Math.min(...r.slow.fps) >= SLOW_FPS_MIN,
  },
  {
    what: `Slow latency p99 ≤ ${BUSY_TAB_P99_MS} ms, OS default receive buffer (busy tab)`,
    readers: ['busy-tab'],
    measured: (r) => `${f(r.slow.latencyMs.p99, 0)} ms`,
    met: (r) => r.slow.latencyMs.p99 <= BUSY_TAB_P99_MS,
  },
  {
    what: `Slow latency p99 ≤ ${BOUNDED_P99_MS} ms, 128 KiB receive buffer (paced reader)`,
    readers: ['paced'],
    measured: (r) => `${f(r.slow.latencyMs.p99, 0)} ms`,
    met: (r) => r.slow.latencyMs.p99 <= BOUNDED_P99_MS,
  },
  {
    what: `Slow latency p99 ≤ ${BOUNDED_P99_MS} ms, over the shaped link`,
    readers: ['link'],
    measured: (r) => `${f(r.slow.latencyMs.p99, 0)} ms`,
    met: (r) => r.slow.latencyMs.p99 <= BOUNDED_P99_MS,
  },
  {
    what: `Server CPU ≤ ${CPU_RATIO_MAX}× the same viewers none slow (same run)`,
    readers: MIXES,
    measured: (r, rows) => `${f(cpuRatio(rows, r), 2)}× (${f(r.cpu.total)} %)`,
    met: (r, rows) => cpuRatio(rows, r) <= CPU_RATIO_MAX,
  },
  {
    what: `RSS peak ≤ ${RSS_PEAK_MB} MB, started as plain \`node\` (high-water mark since start)`,
    readers: MIXES,
    measured: (r) => `${f(r.rssMB.highWater)} MB`,
    met: (r) => r.rssMB.highWater <= RSS_PEAK_MB,
  },
];

export function slowTargetsTable(rows: readonly SlowScenarioFigures[]): string {
  const mixes = rows.filter((r) => r.camera === HD1080.label && r.reader !== 'none');
  return table(
    ['Target (issue #14)', 'Measured', 'Met'],
    TARGETS.map((target) => {
      const judged = mixes.filter((r) => target.readers.includes(r.reader));
      if (judged.length === 0) return [target.what, 'not run', '–'];
      // Several rows: each named by its reader; the target is met only if every one meets it.
      const label = (r: SlowScenarioFigures): string => (judged.length === 1 ? '' : `${READER_NAMES[r.reader as Exclude<SlowReader, 'none'>]}: `);
      const measured = judged.map((r) => `${label(r)}${target.measured(r, rows)}`).join('; ');
      return [target.what, measured, judged.every((r) => target.met(r, rows)) ? 'met' : '**not met**'];
    }),
  );
}
