/**
 * The slow-viewer part of docs/BENCHMARKS.md: its figures and tables (what the
 * viewers got, what it cost the server). Its targets are in report-slow-targets.ts,
 * its explanation in report-slow-section.ts.
 */
import { f, table } from './format.js';
import type { SlowReader } from './slow-plan.js';

/** Where one slow viewer ended the window on the adaptation ladder (from /api/stats). */
export interface SlowViewerLevel {
  level: number;
  maxFps: number | null;
  profile: string;
  /** Lowest and highest level it was at during the window, and how many times it moved. */
  minLevel: number;
  maxLevel: number;
  changes: number;
  /** The level it spent the most time at during the window, and the share of the window it spent there. */
  mainLevel: number;
  mainShare: number;
}

/** One slow-viewer scenario: fast viewers and slow ones on the same server. */
export interface SlowScenarioFigures {
  name: string;
  /** The camera, as the tables name it (1080p60), and its frame rate. */
  camera: string;
  cameraFps: number;
  /** How the slow viewers read; `none`: the camera's baseline, every viewer at full speed. */
  reader: SlowReader;
  /** Server CPU over the window, % of one core (includes re-encoding for adapted viewers). */
  cpu: { total: number; user: number; system: number };
  /** Server RSS, MiB: mean and highest sample over the window, and the kernel's high-water mark since start (VmHWM). */
  rssMB: { steady: number; windowPeak: number; highWater: number };
  /** From /api/stats when the server exports them (NaN otherwise): encoding CPU ms per second at the window's end, and frames late through the server's fault in the window. */
  encodeMsPerSecond: number;
  serverLate: number;
  captureFps: number;
  fast: {
    viewers: number;
    fps: { min: number; median: number };
    /** Server-counted drops of the fast viewers (their viewerList entries), and sequence gaps they saw. */
    drops: { server: number; clientGaps: number };
    latencyMs: { p50: number; p99: number; max: number };
    failed: number;
  };
  slow: {
    viewers: number;
    /** Per slow viewer: parts received per second, and MB (10^6 bytes) read per second. */
    fps: number[];
    megabytesPerSecond: number[];
    levels: SlowViewerLevel[];
    latencyMs: { p50: number; p99: number; max: number };
    /** Server-counted drops of the slow viewers over the window, by reason (`draining` NaN where the server does not count it). */
    drops: { replaced: number; adapted: number; encoder_busy: number; draining: number };
    failed: number;
  };
}

export interface SlowRunInfo {
  warmupSeconds: number;
  seconds: number;
  fastAgent: string;
  slowAgent: string;
  /** The paced reader's rate (bytes/s), burst (ms) and SO_RCVBUF (bytes). */
  pacedRate: number;
  pacedBurstMs: number;
  pacedRcvbuf: number;
  /** The busy-tab reader's period (ms), and the Pi scenario's slow rate (bytes/s). */
  busyTabPeriodMs: number;
  piRate: number;
  /** The link as planned, e.g. "netem delay 20ms loss 0.1% and a tbf rate 16mbit …", and its delay. */
  linkPlan: string;
  plannedDelay: string;
  /** The link scenario's tc commands, when it ran. */
  link: { shapedWith: string; netem: boolean } | undefined;
  /** Scenarios that did not run, and why. */
  skipped: { name: string; reason: string }[];
}

/** The same camera's row with no slow viewer, from the same run: what a slow mix's CPU is compared with. */
export function baselineOf(rows: readonly SlowScenarioFigures[], row: SlowScenarioFigures): SlowScenarioFigures | undefined {
  return rows.find((r) => r.camera === row.camera && r.reader === 'none');
}

/** A slow mix's server CPU over its camera's no-slow-viewer row's; NaN when that row did not run. */
export function cpuRatio(rows: readonly SlowScenarioFigures[], row: SlowScenarioFigures): number {
  const baseline = baselineOf(rows, row);
  return baseline === undefined ? Number.NaN : row.cpu.total / baseline.cpu.total;
}

const levelName = (level: { level: number; maxFps: number | null; profile: string }): string =>
  `L${level.level} ${level.profile} ${level.maxFps === null ? 'full rate' : `≤${level.maxFps} fps`}`;

const name = (r: SlowScenarioFigures): string => {
  const failed = r.fast.failed + r.slow.failed;
  return failed > 0 ? `${r.name} (${failed} viewers failed)` : r.name;
};

/** What the fast and the slow viewers got. */
export function slowViewersTable(rows: readonly SlowScenarioFigures[]): string {
  return table(
    [
      'Scenario',
      'Capture fps',
      'Fast fps min / median',
      'Fast drops server / client gaps',
      'Fast latency ms p50 / p99',
      'Slow fps, each',
      'Slow MB/s, each',
      'Slow level at end (range and moves in window)',
      'Slow latency ms p50 / p99',
      'Slow drops replaced / adapted / encoder busy / draining',
    ],
    rows.map((r) => [
      name(r),
      f(r.captureFps),
      `${f(r.fast.fps.min)} / ${f(r.fast.fps.median)}`,
      `${f(r.fast.drops.server, 0)} / ${r.fast.drops.clientGaps}`,
      `${f(r.fast.latencyMs.p50, 2)} / ${f(r.fast.latencyMs.p99, 2)}`,
      r.slow.fps.map((v) => f(v)).join(', '),
      r.slow.megabytesPerSecond.map((v) => f(v, 2)).join(', '),
      r.slow.levels
        .map((l) => `${levelName(l)}${l.changes === 0 ? '' : ` (L${l.minLevel}–${l.maxLevel}, ${l.changes} ${l.changes === 1 ? 'move' : 'moves'}; L${l.mainLevel} ${f(l.mainShare * 100, 0)} % of the time)`}`)
        .join('; '),
      `${f(r.slow.latencyMs.p50, 0)} / ${f(r.slow.latencyMs.p99, 0)}`,
      [r.slow.drops.replaced, r.slow.drops.adapted, r.slow.drops.encoder_busy, r.slow.drops.draining].map((n) => f(n, 0)).join(' / '),
    ]),
  );
}

/** What each scenario cost the server, beside its camera's no-slow-viewer row. */
export function slowCostTable(rows: readonly SlowScenarioFigures[]): string {
  return table(
    ['Scenario', 'Server CPU % (user / sys)', 'CPU × none slow', 'RSS MB steady / peak / high-water', 'Encode ms/s', 'Server late'],
    rows.map((r) => [
      name(r),
      `${f(r.cpu.total)} (${f(r.cpu.user)} / ${f(r.cpu.system)})`,
      r.reader === 'none' ? '1 (baseline)' : `${f(cpuRatio(rows, r), 2)}×`,
      `${f(r.rssMB.steady)} / ${f(r.rssMB.windowPeak)} / ${f(r.rssMB.highWater)}`,
      f(r.encodeMsPerSecond),
      f(r.serverLate, 0),
    ]),
  );
}
