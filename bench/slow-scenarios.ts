/**
 * Runs the slow-viewer scenarios of slow-plan.ts: fast and slow viewers of one
 * camstream, each group from its own load generator, the slow ones paced by their
 * reader or behind a shaped veth link in a network namespace (root and iproute2
 * only; otherwise skipped, saying why). Every scenario gets a fresh server started
 * as plain `node` (no launcher environment or flags, no alloc probe), so its RSS is
 * what a systemd unit or a library user gets.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { LoadProcess, type LoadOptions } from './load-process.js';
import { PACED_BURST_MS, percentile, type ResultMessage } from './load-protocol.js';
import { READY_TIMEOUT_MS, RSS_INTERVAL_MS } from './measure.js';
import { createShapedLink, netnsUnavailable, type ShapedLink, type Shaping } from './netns.js';
import { readPeakRssBytes, readTreeCpuTimes, RssSampler, type CpuTimes } from './proc-stats.js';
import type { SlowRunInfo, SlowScenarioFigures } from './report-slow.js';
import { fetchStats, type DropStats, type ServerProcess, type ServerStats, type ViewerStats } from './server.js';
import { camstream, withServer } from './servers.js';
import { ladderOf, movesLine, viewerLevel } from './slow-levels.js';
import {
  BUSY_TAB,
  BUSY_TAB_PERIOD_MS,
  linkScenario,
  NONE_SLOW,
  PACED,
  PACED_RCVBUF,
  PI,
  PI_NONE_SLOW,
  PI_SLOW_RATE,
  SLOW_RATE,
  type SlowKind,
  type SlowScenario,
} from './slow-plan.js';

const LOAD_SCRIPT = fileURLToPath(new URL('./load.js', import.meta.url));
/** Warm-up before each window, so the slow viewers' adaptation has settled. */
const SLOW_WARMUP_SECONDS = 8;
const FAST_AGENT = 'camstream-bench';
const SLOW_AGENT = 'camstream-bench-slow';
const MB = 2 ** 20;

/** What the slow scenarios need from the orchestrator. */
export interface SlowContext {
  seconds: number;
  shaping: Shaping;
  running: Set<{ kill(): void }>;
  log(message: string): void;
}

const viewersOf = (stats: ServerStats, agent: string): ViewerStats[] => (stats.cameras[0]?.viewerList ?? []).filter((v) => v.userAgent === agent);

/** A camera figure's growth over the window; NaN when the server does not export it. */
function growth(before: number | undefined, after: number | undefined): number {
  return before === undefined || after === undefined ? Number.NaN : after - before;
}

/**
 * One scenario's window on a running server. Server-side figures come from the
 * viewers' own /api/stats entries, found by User-Agent; stats are read before the
 * generators stop, while every viewer is still listed.
 */
async function runSlowScenario(context: SlowContext, server: ServerProcess, url: string, scenario: SlowScenario, slowOptions: LoadOptions): Promise<SlowScenarioFigures> {
  const { running, log, seconds } = context;
  const ladder = ladderOf(scenario.camera.fps);
  const loads: LoadProcess[] = [];
  const spawnLoad = (viewers: number, options: LoadOptions): LoadProcess => {
    const load = new LoadProcess(LOAD_SCRIPT, url, viewers, options);
    loads.push(load);
    running.add(load);
    return load;
  };
  const spawnedMs = performance.now();
  try {
    spawnLoad(scenario.fast, { agent: FAST_AGENT });
    spawnLoad(scenario.slow, { agent: SLOW_AGENT, ...slowOptions });
    const readies = await Promise.all(loads.map((load) => load.waitForReady(READY_TIMEOUT_MS)));
    const failed = readies.reduce((sum, ready) => sum + ready.failed, 0);
    if (failed > 0) log(`${failed} of ${scenario.fast + scenario.slow} viewers failed to connect`);
    await sleep(SLOW_WARMUP_SECONDS * 1000);

    const statsBefore = await fetchStats(url);
    const cpuBefore = readTreeCpuTimes(server.pid);
    const t0 = performance.now();
    for (const load of loads) load.start();
    const rss = new RssSampler(server.pid, RSS_INTERVAL_MS);
    await sleep(seconds * 1000);
    const cpuAfter = readTreeCpuTimes(server.pid);
    const t1 = performance.now();
    const rssBytes = rss.stop();
    const highWater = readPeakRssBytes(server.pid);
    const window = (t1 - t0) / 1000;
    const statsAfter = await fetchStats(url);
    const [fastResult, slowResult] = (await Promise.all(loads.map((load) => load.stop(READY_TIMEOUT_MS)))) as [ResultMessage, ResultMessage];

    const before = new Map(viewersOf(statsBefore, FAST_AGENT).concat(viewersOf(statsBefore, SLOW_AGENT)).map((v) => [v.id, v]));
    /** Drops of one reason over the window, summed over a group's viewers; NaN for a reason this server does not count. */
    const drops = (agent: string, reason: keyof DropStats): number =>
      viewersOf(statsAfter, agent).reduce((sum, v) => sum + growth(before.get(v.id)?.drops[reason] ?? 0, v.drops[reason]), 0);
    const slowViewers = viewersOf(statsAfter, SLOW_AGENT);
    const slowLevels = slowViewers.map((v) => viewerLevel(v, before.get(v.id)?.level ?? v.level, server.adaptations, ladder, t0, t1));
    for (const v of slowViewers) log(movesLine(v.id, server.adaptations, ladder, spawnedMs, t0, t1));
    const fastFps = fastResult.viewers.map((v) => v.fps).sort((a, b) => a - b);
    const cameraBefore = statsBefore.cameras[0];
    const cameraAfter = statsAfter.cameras[0];
    return {
      name: scenario.name,
      camera: scenario.camera.label,
      cameraFps: scenario.camera.fps,
      reader: scenario.reader,
      cpu: cpuPercent(cpuBefore, cpuAfter, window),
      rssMB: { steady: rssBytes.steady / MB, windowPeak: rssBytes.peak / MB, highWater: highWater / MB },
      // Encode time over the window, per second of it.
      encodeMsPerSecond: growth(cameraBefore?.encode?.totalMs, cameraAfter?.encode?.totalMs) / window,
      serverLate: growth(cameraBefore?.serverLate, cameraAfter?.serverLate),
      captureFps: ((cameraAfter?.framesCaptured ?? 0) - (cameraBefore?.framesCaptured ?? 0)) / window,
      fast: {
        viewers: scenario.fast,
        fps: { min: fastFps[0] ?? Number.NaN, median: percentile(fastFps, 50) },
        drops: { server: drops(FAST_AGENT, 'total'), clientGaps: fastResult.viewers.reduce((sum, v) => sum + v.gaps, 0) },
        latencyMs: fastResult.latencyMs,
        failed: fastResult.viewers.filter((v) => v.error !== undefined).length,
      },
      slow: {
        viewers: scenario.slow,
        fps: slowResult.viewers.map((v) => v.fps),
        megabytesPerSecond: slowResult.viewers.map((v) => v.bytes / slowResult.seconds / 1e6),
        levels: slowLevels,
        latencyMs: slowResult.latencyMs,
        drops: {
          replaced: drops(SLOW_AGENT, 'replaced'),
          adapted: drops(SLOW_AGENT, 'adapted'),
          encoder_busy: drops(SLOW_AGENT, 'encoder_busy'),
          draining: drops(SLOW_AGENT, 'draining'),
        },
        failed: slowResult.viewers.filter((v) => v.error !== undefined).length,
      },
    };
  } finally {
    for (const load of loads) {
      load.kill();
      running.delete(load);
    }
  }
}

function cpuPercent(before: CpuTimes, after: CpuTimes, windowSeconds: number): { total: number; user: number; system: number } {
  const percent = (secondsOfCpu: number): number => (secondsOfCpu / windowSeconds) * 100;
  return {
    total: percent(after.user + after.system - before.user - before.system),
    user: percent(after.user - before.user),
    system: percent(after.system - before.system),
  };
}

/** A scenario on its own loopback server. */
async function onLoopback(context: SlowContext, scenario: SlowScenario): Promise<SlowScenarioFigures> {
  return withServer(camstream(scenario.camera.source, '127.0.0.1', [], 'plain'), context.running, context.log, async ({ server, url }) => {
    context.log(`"${scenario.name}": ${SLOW_WARMUP_SECONDS} s warm-up, ${context.seconds} s measured`);
    return runSlowScenario(context, server, url, scenario, scenario.slowOptions);
  });
}

/** The link scenario, on its own server listening on the veth's host address; undefined (and a reason) when it cannot run here. */
async function runLinkScenario(context: SlowContext, skipped: SlowRunInfo['skipped']): Promise<{ figures: SlowScenarioFigures; link: SlowRunInfo['link'] } | undefined> {
  const { running, log, seconds, shaping } = context;
  const planned = linkScenario(true);
  const unavailable = netnsUnavailable();
  if (unavailable !== undefined) {
    skipped.push({ name: planned.name, reason: unavailable });
    log(`skipped "${planned.name}": ${unavailable}`);
    return undefined;
  }
  let link: ShapedLink;
  try {
    link = createShapedLink(shaping);
  } catch (error) {
    const reason = `could not set up the namespace and link: ${(error as Error).message}`;
    skipped.push({ name: planned.name, reason });
    log(`skipped "${planned.name}": ${reason}`);
    return undefined;
  }
  const linkHandle = { kill: () => link.destroy() };
  running.add(linkHandle);
  try {
    const scenario = linkScenario(link.netem);
    log(`link: namespace ${link.namespace}, ${link.hostAddress} ↔ ${link.peerAddress}: ${link.shapedWith}`);
    if (!link.netem) log('this kernel has no sch_netem: the link has the rate and the loss, not the delay');
    const figures = await withServer(camstream(scenario.camera.source, link.hostAddress, [], 'plain'), running, log, async ({ server, url }) => {
      log(`"${scenario.name}": ${SLOW_WARMUP_SECONDS} s warm-up, ${seconds} s measured`);
      return runSlowScenario(context, server, url, scenario, { ...scenario.slowOptions, wrapper: link.wrapper });
    });
    log(`link qdiscs after the scenario:\n${link.qdiscStats()}`);
    return { figures, link: { shapedWith: link.shapedWith, netem: link.netem } };
  } finally {
    link.destroy();
    running.delete(linkHandle);
  }
}

/**
 * Runs the slow mixes asked for, each camera's no-slow-viewer row first (the CPU
 * ratio's denominator, from the same run), each on a fresh server.
 */
export async function runSlowScenarios(context: SlowContext, kinds: readonly SlowKind[]): Promise<{ rows: SlowScenarioFigures[]; run: SlowRunInfo }> {
  const { shaping, log, seconds } = context;
  const rows: SlowScenarioFigures[] = [];
  const run: SlowRunInfo = {
    warmupSeconds: SLOW_WARMUP_SECONDS,
    seconds,
    fastAgent: FAST_AGENT,
    slowAgent: SLOW_AGENT,
    pacedRate: SLOW_RATE,
    pacedBurstMs: PACED_BURST_MS,
    pacedRcvbuf: PACED_RCVBUF,
    busyTabPeriodMs: BUSY_TAB_PERIOD_MS,
    piRate: PI_SLOW_RATE,
    linkPlan: `\`netem delay ${shaping.delay} loss ${shaping.lossPercent}%\` and, as its child, \`tbf rate ${shaping.rate} burst ${shaping.burst} latency ${shaping.latency}\``,
    plannedDelay: shaping.delay,
    link: undefined,
    skipped: [],
  };
  if (kinds.some((kind) => kind !== 'pi')) rows.push(await onLoopback(context, NONE_SLOW));
  if (kinds.includes('paced')) rows.push(await onLoopback(context, PACED));
  if (kinds.includes('busy-tab')) rows.push(await onLoopback(context, BUSY_TAB));
  if (kinds.includes('link')) {
    const ran = await runLinkScenario(context, run.skipped);
    if (ran !== undefined) {
      rows.push(ran.figures);
      run.link = ran.link;
    }
  }
  if (kinds.includes('pi')) rows.push(await onLoopback(context, PI_NONE_SLOW), await onLoopback(context, PI));
  for (const row of rows) {
    if (row.fast.drops.server > 0) log(`"${row.name}": the fast viewers lost ${row.fast.drops.server} frames on the server; they should lose none`);
  }
  return { rows, run };
}
