/**
 * The slow-viewer scenarios (issue #4): 8 fast viewers and 2 slow ones on one
 * camstream, the slow ones either paced to 2 MB/s by their reader, or behind a
 * shaped veth link in a network namespace (root and iproute2 only; otherwise
 * skipped, saying why).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DEFAULT_LADDER, ladderFor } from '../src/stream/profile.js';
import { LoadProcess, type LoadOptions } from './load-process.js';
import { PACED_BURST_MS, percentile, type ResultMessage } from './load-protocol.js';
import { READY_TIMEOUT_MS } from './measure.js';
import { createShapedLink, netnsUnavailable, type ShapedLink, type Shaping } from './netns.js';
import { readCpuTimes, type CpuTimes } from './proc-stats.js';
import type { SlowRunInfo, SlowScenarioFigures, SlowViewerLevel } from './report-slow.js';
import { fetchStats, type ServerProcess, type ServerStats, type ViewerStats } from './server.js';
import { camstream, withServer } from './servers.js';

const SOURCE = 'synthetic:1920x1080@60';
const LOAD_SCRIPT = fileURLToPath(new URL('./load.js', import.meta.url));

/** Slow-viewer scenarios: 8 + 2 viewers, warmed up until the slow ones' adaptation has settled. */
const FAST_VIEWERS = 8;
const SLOW_VIEWERS = 2;
const SLOW_WARMUP_SECONDS = 8;
const FAST_AGENT = 'camstream-bench';
const SLOW_AGENT = 'camstream-bench-slow';
/** 2 MB/s, as in issue #4. */
const SLOW_RATE = 2_000_000;
/** The paced reader's SO_RCVBUF: about what a 2 MB/s link holds in flight. */
const PACED_RCVBUF = 64 * 1024;
/** The adaptation ladder of SOURCE's camera (the default one, at 60 fps). */
const SOURCE_LADDER = ladderFor(60, DEFAULT_LADDER);
/**
 * The link: netem delay and loss, tbf at 16 mbit (2 MB/s) with the tc-tbf man page's
 * bucket; its queue (tbf `latency`, the longest a packet may wait) is --link-queue.
 */
export const SHAPING: Omit<Shaping, 'latency'> = { delay: '20ms', lossPercent: 0.1, rate: '16mbit', burst: '32kbit' };
const PACED_NAME = `${SLOW_VIEWERS} of ${FAST_VIEWERS + SLOW_VIEWERS} at 2 MB/s (paced reader)`;
const LINK_NAME = `${SLOW_VIEWERS} of ${FAST_VIEWERS + SLOW_VIEWERS} over a netem link (20 ms, 0.1 % loss, tbf 16 mbit)`;
const LINK_NAME_NO_NETEM = `${SLOW_VIEWERS} of ${FAST_VIEWERS + SLOW_VIEWERS} over a tbf link (16 mbit, 0.1 % loss; no netem, so no delay)`;
export const SLOW_KINDS = ['paced', 'link'] as const;

/** What the slow scenarios need from the orchestrator. */
export interface SlowContext {
  seconds: number;
  shaping: Shaping;
  running: Set<{ kill(): void }>;
  log(message: string): void;
}

const viewersOf = (stats: ServerStats, agent: string): ViewerStats[] => (stats.cameras[0]?.viewerList ?? []).filter((v) => v.userAgent === agent);

/**
 * 8 fast viewers and 2 slow ones, each group from its own generator: `slowOptions`
 * makes the slow ones slow (a paced reader, or a generator run inside the link's
 * namespace). Server-side figures come from the viewers' own /api/stats entries,
 * found by User-Agent; stats are read before the generators stop, while every
 * viewer is still listed.
 */
async function runSlowScenario(context: SlowContext, server: ServerProcess, url: string, name: string, slowOptions: LoadOptions): Promise<SlowScenarioFigures> {
  const { running, log, seconds } = context;
  const loads: LoadProcess[] = [];
  const spawnLoad = (viewers: number, options: LoadOptions): LoadProcess => {
    const load = new LoadProcess(LOAD_SCRIPT, url, viewers, options);
    loads.push(load);
    running.add(load);
    return load;
  };
  const spawnedMs = performance.now();
  try {
    spawnLoad(FAST_VIEWERS, { agent: FAST_AGENT });
    spawnLoad(SLOW_VIEWERS, { agent: SLOW_AGENT, ...slowOptions });
    const readies = await Promise.all(loads.map((load) => load.waitForReady(READY_TIMEOUT_MS)));
    const failed = readies.reduce((sum, ready) => sum + ready.failed, 0);
    if (failed > 0) log(`${failed} of ${FAST_VIEWERS + SLOW_VIEWERS} viewers failed to connect`);
    await sleep(SLOW_WARMUP_SECONDS * 1000);

    const statsBefore = await fetchStats(url);
    const cpuBefore = readCpuTimes(server.pid);
    const t0 = performance.now();
    for (const load of loads) load.start();
    await sleep(seconds * 1000);
    const cpuAfter = readCpuTimes(server.pid);
    const t1 = performance.now();
    const window = (t1 - t0) / 1000;
    const statsAfter = await fetchStats(url);
    const [fastResult, slowResult] = (await Promise.all(loads.map((load) => load.stop(READY_TIMEOUT_MS)))) as [ResultMessage, ResultMessage];

    const before = new Map(viewersOf(statsBefore, FAST_AGENT).concat(viewersOf(statsBefore, SLOW_AGENT)).map((v) => [v.id, v]));
    /** Drops of one reason over the window, summed over a group's viewers. */
    const drops = (agent: string, reason: 'replaced' | 'adapted' | 'encoder_busy' | 'total'): number =>
      viewersOf(statsAfter, agent).reduce((sum, v) => sum + v.drops[reason] - (before.get(v.id)?.drops[reason] ?? 0), 0);
    const slowLevels: SlowViewerLevel[] = viewersOf(statsAfter, SLOW_AGENT).map((v) => {
      // The level it started the window at, and every level the server logged it moving to during the window.
      const moves = server.adaptations.filter((a) => a.viewer === v.id && a.atMs >= t0 && a.atMs <= t1);
      const startLevel = before.get(v.id)?.level ?? v.level;
      const levels = [startLevel, v.level, ...moves.map((a) => ladderIndex(a.maxFps, a.profile)).filter((level) => level >= 0)];
      // Time at each level over the window, from the logged moves.
      const timeAt = new Map<number, number>();
      let level = startLevel;
      let since = t0;
      for (const move of [...moves, undefined]) {
        const until = move?.atMs ?? t1;
        timeAt.set(level, (timeAt.get(level) ?? 0) + until - since);
        if (move !== undefined) {
          level = ladderIndex(move.maxFps, move.profile);
          since = move.atMs;
        }
      }
      const [mainLevel, mainMs] = [...timeAt].reduce((best, entry) => (entry[1] > best[1] ? entry : best));
      return {
        level: v.level,
        maxFps: v.maxFps,
        profile: v.profile,
        minLevel: Math.min(...levels),
        maxLevel: Math.max(...levels),
        changes: moves.length,
        mainLevel,
        mainShare: mainMs / (t1 - t0),
      };
    });
    for (const v of viewersOf(statsAfter, SLOW_AGENT)) {
      const at = (ms: number): string => `${((ms - spawnedMs) / 1000).toFixed(1)} s`;
      const moves = server.adaptations.filter((a) => a.viewer === v.id).map((a) => `${at(a.atMs)} L${ladderIndex(a.maxFps, a.profile)}`);
      log(`slow viewer ${v.id} moved at ${moves.join(', ') || 'no time'} (window ${at(t0)}–${at(t1)})`);
    }
    const fastFps = fastResult.viewers.map((v) => v.fps).sort((a, b) => a - b);
    return {
      name,
      cpu: cpuPercent(cpuBefore, cpuAfter, window),
      captureFps: ((statsAfter.cameras[0]?.framesCaptured ?? 0) - (statsBefore.cameras[0]?.framesCaptured ?? 0)) / window,
      fast: {
        viewers: FAST_VIEWERS,
        fps: { min: fastFps[0] ?? Number.NaN, median: percentile(fastFps, 50) },
        drops: { server: drops(FAST_AGENT, 'total'), clientGaps: fastResult.viewers.reduce((sum, v) => sum + v.gaps, 0) },
        latencyMs: fastResult.latencyMs,
        failed: fastResult.viewers.filter((v) => v.error !== undefined).length,
      },
      slow: {
        viewers: SLOW_VIEWERS,
        fps: slowResult.viewers.map((v) => v.fps),
        megabytesPerSecond: slowResult.viewers.map((v) => v.bytes / slowResult.seconds / 1e6),
        levels: slowLevels,
        latencyMs: slowResult.latencyMs,
        drops: { replaced: drops(SLOW_AGENT, 'replaced'), adapted: drops(SLOW_AGENT, 'adapted'), encoder_busy: drops(SLOW_AGENT, 'encoder_busy') },
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

/** The default ladder's level with this cap and profile (-1 if none: the camera's ladder is configured otherwise). */
function ladderIndex(maxFps: number | null, profile: string): number {
  return SOURCE_LADDER.findIndex((level) => (level.maxFps ?? null) === maxFps && level.profile === profile);
}

function cpuPercent(before: CpuTimes, after: CpuTimes, windowSeconds: number): { total: number; user: number; system: number } {
  const percent = (secondsOfCpu: number): number => (secondsOfCpu / windowSeconds) * 100;
  return {
    total: percent(after.user + after.system - before.user - before.system),
    user: percent(after.user - before.user),
    system: percent(after.system - before.system),
  };
}

/** The link scenario, on its own server listening on the veth's host address; undefined (and a reason) when it cannot run here. */
async function runLinkScenario(context: SlowContext, skipped: SlowRunInfo['skipped']): Promise<{ figures: SlowScenarioFigures; link: SlowRunInfo['link'] } | undefined> {
  const { running, log, seconds, shaping } = context;
  const unavailable = netnsUnavailable();
  if (unavailable !== undefined) {
    skipped.push({ name: LINK_NAME, reason: unavailable });
    log(`skipped "${LINK_NAME}": ${unavailable}`);
    return undefined;
  }
  let link: ShapedLink;
  try {
    link = createShapedLink(shaping);
  } catch (error) {
    const reason = `could not set up the namespace and link: ${(error as Error).message}`;
    skipped.push({ name: LINK_NAME, reason });
    log(`skipped "${LINK_NAME}": ${reason}`);
    return undefined;
  }
  const linkHandle = { kill: () => link.destroy() };
  running.add(linkHandle);
  try {
    const name = link.netem ? LINK_NAME : LINK_NAME_NO_NETEM;
    log(`link: namespace ${link.namespace}, ${link.hostAddress} ↔ ${link.peerAddress}: ${link.shapedWith}`);
    if (!link.netem) log('this kernel has no sch_netem: the link has the rate and the loss, not the delay');
    const figures = await withServer(camstream(SOURCE, link.hostAddress), running, log, async ({ server, url }) => {
      log(`"${name}": ${SLOW_WARMUP_SECONDS} s warm-up, ${seconds} s measured`);
      return runSlowScenario(context, server, url, name, { wrapper: link.wrapper });
    });
    log(`link qdiscs after the scenario:\n${link.qdiscStats()}`);
    return { figures, link: { shapedWith: link.shapedWith, netem: link.netem } };
  } finally {
    link.destroy();
    running.delete(linkHandle);
  }
}

/** Runs the slow scenarios asked for; the paced one on its own loopback server. */
export async function runSlowScenarios(context: SlowContext, kinds: readonly string[]): Promise<{ rows: SlowScenarioFigures[]; run: SlowRunInfo }> {
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
    linkPlan: `\`netem delay ${shaping.delay} loss ${shaping.lossPercent}%\` and, as its child, \`tbf rate ${shaping.rate} burst ${shaping.burst} latency ${shaping.latency}\``,
    plannedDelay: shaping.delay,
    link: undefined,
    skipped: [],
  };
  if (kinds.includes('paced')) {
    rows.push(
      await withServer(camstream(SOURCE), context.running, log, async ({ server, url }) => {
        log(`"${PACED_NAME}": ${SLOW_WARMUP_SECONDS} s warm-up, ${seconds} s measured`);
        return runSlowScenario(context, server, url, PACED_NAME, { rate: SLOW_RATE, rcvbuf: PACED_RCVBUF });
      }),
    );
  }
  if (kinds.includes('link')) {
    const ran = await runLinkScenario(context, run.skipped);
    if (ran !== undefined) {
      rows.push(ran.figures);
      run.link = ran.link;
    }
  }
  for (const row of rows) {
    if (row.fast.drops.server > 0) log(`"${row.name}": the fast viewers lost ${row.fast.drops.server} frames on the server; they should lose none`);
  }
  return { rows, run };
}
