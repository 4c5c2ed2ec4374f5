/**
 * One measured window, the same for every server the bench runs (camstream, the
 * baselines, the raw writer): viewers connect from load generator processes, warm
 * up, then the server is measured from outside (/proc CPU and RSS of its process
 * tree), from its alloc probe, and by what the viewers received.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AllocProbe, type AllocFigures } from './alloc-snapshots.js';
import { LoadGroup } from './load-group.js';
import type { LoadOptions } from './load-process.js';
import { percentile } from './load-protocol.js';
import { readTreeCpuTimes, RssSampler } from './proc-stats.js';

/** Lets TCP windows, pools and the JIT settle before measuring. */
export const WARMUP_SECONDS = 2;
export const RSS_INTERVAL_MS = 250;
export const READY_TIMEOUT_MS = 15_000;
const LOAD_SCRIPT = new URL('./load.js', import.meta.url).pathname;

export interface WindowFigures {
  viewers: number;
  /** The window's length as measured, seconds. */
  seconds: number;
  /** Server CPU over the window, % of one core (200 % would be both of 2 cores). */
  cpu: { total: number; user: number; system: number };
  rssMB: { steady: number; peak: number };
  /** Delivered parts per second per viewer. */
  fps: { min: number; median: number };
  latencyMs: { p50: number; p99: number; max: number; samples: number };
  /** Sequence numbers the viewers never received (NaN when the stream has none). */
  clientGaps: number;
  failedViewers: number;
  meanJpegKB: number;
  /** The load generators' CPU, all together and the busiest one, % of one core. */
  load: { cpu: number; busiest: number; generators: number };
  /** Per delivered frame (one part to one viewer) and per byte delivered. */
  perFrame: {
    allocBytes: number;
    gcCount: number;
    gcPauseMs: number;
  };
  cpuSecondsPerGB: number;
  /** User time's share of the server's CPU, %. */
  userShare: number;
  /** GC pause over the window, % of one core. */
  gcPercent: number;
}

export interface WindowOptions<S> {
  url: string;
  viewers: number;
  seconds: number;
  /** The server's PID (its process tree is measured) and its alloc probe, if it has one. */
  pid: number;
  probe: AllocProbe | undefined;
  load?: LoadOptions;
  /** Read before and after the window (camstream's /api/stats), returned as they are. */
  sample?: () => Promise<S>;
  /** Registers the generators for cleanup on interrupt, and unregisters them. */
  track?: { add(handle: { kill(): void }): void; delete(handle: { kill(): void }): void };
}

export async function measureWindow<S = undefined>(options: WindowOptions<S>): Promise<{ figures: WindowFigures; before: S; after: S }> {
  const { viewers, seconds, pid, probe } = options;
  const sample = options.sample ?? (async () => undefined as S);
  const load = new LoadGroup(LOAD_SCRIPT, options.url, viewers, options.load);
  options.track?.add(load);
  try {
    const ready = await load.waitForReady(READY_TIMEOUT_MS);
    if (ready.failed > 0) process.stderr.write(`bench: ${ready.failed} of ${viewers} viewers failed to connect\n`);
    await sleep(WARMUP_SECONDS * 1000);

    const before = await sample();
    const allocBefore = probe?.read();
    const cpuBefore = readTreeCpuTimes(pid);
    const t0 = performance.now();
    load.start();
    const rss = new RssSampler(pid, RSS_INTERVAL_MS);
    await sleep(seconds * 1000);
    const cpuAfter = readTreeCpuTimes(pid);
    const window = (performance.now() - t0) / 1000;
    const allocAfter = probe?.read();
    const resultPromise = load.stop(READY_TIMEOUT_MS);
    const after = await sample();
    const rssBytes = rss.stop();
    const result = await resultPromise;

    const user = cpuAfter.user - cpuBefore.user;
    const system = cpuAfter.system - cpuBefore.system;
    const percent = (cpuSeconds: number): number => (cpuSeconds / window) * 100;
    const fps = result.viewers.map((v) => v.fps).sort((a, b) => a - b);
    const frames = result.viewers.reduce((sum, v) => sum + v.frames, 0);
    const bytes = result.viewers.reduce((sum, v) => sum + v.bytes, 0);
    const alloc: AllocFigures | undefined = allocBefore && allocAfter ? AllocProbe.between(allocBefore, allocAfter, window) : undefined;
    const hasSequence = result.latencyMs.samples > 0;
    const figures: WindowFigures = {
      viewers,
      seconds: window,
      cpu: { total: percent(user + system), user: percent(user), system: percent(system) },
      rssMB: { steady: rssBytes.steady / 2 ** 20, peak: rssBytes.peak / 2 ** 20 },
      fps: { min: fps[0] ?? Number.NaN, median: percentile(fps, 50) },
      latencyMs: result.latencyMs,
      clientGaps: hasSequence ? result.viewers.reduce((sum, v) => sum + v.gaps, 0) : Number.NaN,
      failedViewers: result.viewers.filter((v) => v.error !== undefined).length,
      meanJpegKB: result.viewers.reduce((sum, v) => sum + v.jpegBytes, 0) / frames / 1000,
      load: { cpu: result.cpu.total, busiest: result.cpu.busiest, generators: result.generators },
      perFrame: {
        allocBytes: alloc === undefined ? Number.NaN : alloc.allocatedBytes / frames,
        gcCount: alloc === undefined ? Number.NaN : alloc.gcCount / frames,
        gcPauseMs: alloc === undefined ? Number.NaN : alloc.gcPauseMs / frames,
      },
      cpuSecondsPerGB: (user + system) / (bytes / 1e9),
      userShare: (user / (user + system)) * 100,
      gcPercent: alloc === undefined ? Number.NaN : (alloc.gcPauseMs / 1000 / window) * 100,
    };
    return { figures, before, after };
  } finally {
    load.kill();
    options.track?.delete(load);
  }
}
