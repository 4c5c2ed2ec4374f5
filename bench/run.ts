/**
 * `npm run bench`: starts one camstream server with a 1080p60 synthetic camera,
 * then for each viewer count runs a separate load generator process against it and
 * measures the server from outside (/proc) and inside (/api/stats).
 *
 *   node dist/bench/run.js [--viewers 1,10,50] [--seconds 10] [--no-write]
 */
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LoadProcess } from './load-process.js';
import { percentile } from './load-protocol.js';
import { readCpuTimes, RssSampler } from './proc-stats.js';
import { benchmarksDoc, markdownTable, type ScenarioFigures } from './report.js';
import { fetchStats, ServerProcess, type ServerStats } from './server.js';

const SOURCE = 'synthetic:1920x1080@60';
/** Lets TCP windows, the pool and the JIT settle before measuring. */
const WARMUP_SECONDS = 2;
/** Pause between scenarios, so the previous generator's closing sockets are gone. */
const SETTLE_MS = 1000;
const RSS_INTERVAL_MS = 250;
const READY_TIMEOUT_MS = 15_000;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOAD_SCRIPT = fileURLToPath(new URL('./load.js', import.meta.url));
const DOC = fileURLToPath(new URL('../../docs/BENCHMARKS.md', import.meta.url));

const { values } = parseArgs({
  options: {
    viewers: { type: 'string', default: '1,10,50' },
    seconds: { type: 'string', default: '10' },
    'no-write': { type: 'boolean', default: false },
  },
});
const viewerCounts = values.viewers.split(',').map(Number);
const seconds = Number(values.seconds);
if (viewerCounts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--viewers: expected counts such as 1,10,50, got '${values.viewers}'`);
if (!(seconds > 0)) throw new Error(`--seconds: expected a positive number, got '${values.seconds}'`);

/** Children to kill if the bench itself is interrupted (a finally would not run). */
const running = new Set<{ kill(): void }>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of running) child.kill();
    process.exit(130);
  });
}

const log = (message: string): void => void process.stderr.write(`bench: ${message}\n`);

async function runScenario(server: ServerProcess, url: string, viewers: number): Promise<ScenarioFigures> {
  const load = new LoadProcess(LOAD_SCRIPT, url, viewers);
  running.add(load);
  try {
    const ready = await load.waitForReady(READY_TIMEOUT_MS);
    if (ready.failed > 0) log(`${ready.failed} of ${viewers} viewers failed to connect`);
    await sleep(WARMUP_SECONDS * 1000);

    const statsBefore = await fetchStats(url);
    const cpuBefore = readCpuTimes(server.pid);
    const t0 = performance.now();
    load.start();
    const rss = new RssSampler(server.pid, RSS_INTERVAL_MS);
    await sleep(seconds * 1000);
    const cpuAfter = readCpuTimes(server.pid);
    const window = (performance.now() - t0) / 1000;
    const resultPromise = load.stop(READY_TIMEOUT_MS);
    const statsAfter = await fetchStats(url);
    const rssBytes = rss.stop();
    const result = await resultPromise;

    const delta = (pick: (stats: ServerStats) => number): number => pick(statsAfter) - pick(statsBefore);
    const framesSent = delta((s) => s.cameras[0]?.framesSent ?? 0);
    const hits = delta((s) => s.pool.hits);
    const misses = delta((s) => s.pool.misses);
    const fps = result.viewers.map((v) => v.fps).sort((a, b) => a - b);
    const frames = result.viewers.reduce((sum, v) => sum + v.frames, 0);
    const percent = (secondsOfCpu: number): number => (secondsOfCpu / window) * 100;
    return {
      viewers,
      cpu: {
        total: percent(cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system),
        user: percent(cpuAfter.user - cpuBefore.user),
        system: percent(cpuAfter.system - cpuBefore.system),
      },
      rssMB: { steady: rssBytes.steady / 2 ** 20, peak: rssBytes.peak / 2 ** 20 },
      fps: { min: fps[0] ?? Number.NaN, median: percentile(fps, 50) },
      // The stats requests bracket the CPU window by a few ms; over seconds that is noise.
      captureFps: delta((s) => s.cameras[0]?.framesCaptured ?? 0) / window,
      drops: { server: delta((s) => s.cameras[0]?.drops.total ?? 0), clientGaps: result.viewers.reduce((sum, v) => sum + v.gaps, 0) },
      latencyMs: result.latencyMs,
      gcPer1000Frames: (delta((s) => s.process.gcCount) / framesSent) * 1000,
      poolHitPercent: (hits / (hits + misses)) * 100,
      loadCpuPercent: result.cpu.total,
      meanJpegKB: result.viewers.reduce((sum, v) => sum + v.jpegBytes, 0) / frames / 1000,
      failedViewers: result.viewers.filter((v) => v.error !== undefined).length,
    };
  } finally {
    load.kill();
    running.delete(load);
  }
}

async function main(): Promise<void> {
  const date = new Date().toISOString();
  const server = ServerProcess.spawn(ROOT, ['--source', SOURCE, '--port', '0', '--log-level', 'info']);
  running.add({ kill: () => process.kill(server.pid, 'SIGKILL') });
  const rows: ScenarioFigures[] = [];
  try {
    const url = await server.waitForUrl();
    log(`server ${server.pid} listening at ${url}`);
    // Cameras start on demand: a snapshot starts this one (and its frame rendering)
    // before anything is measured.
    const first = await fetch(`${url}/snapshot`);
    if (first.status !== 200) throw new Error(`the camera delivered no frame: ${first.status} ${await first.text()}`);
    for (const [index, viewers] of viewerCounts.entries()) {
      if (index > 0) await sleep(SETTLE_MS);
      log(`${viewers} viewer(s): ${WARMUP_SECONDS} s warm-up, ${seconds} s measured`);
      rows.push(await runScenario(server, url, viewers));
    }
  } finally {
    await server.stop();
    running.clear();
  }
  for (const problem of server.problems) log(`server logged: ${problem}`);

  process.stdout.write(`${markdownTable(rows)}\n`);
  if (!values['no-write']) {
    writeFileSync(DOC, benchmarksDoc(rows, { source: SOURCE, seconds, warmupSeconds: WARMUP_SECONDS, rssIntervalMs: RSS_INTERVAL_MS, date }));
    log(`wrote ${DOC}`);
  }
}

try {
  await main();
} catch (error) {
  log(`failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
