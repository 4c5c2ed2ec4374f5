/**
 * Issue #5 (first part): camstream side by side with two baselines serving the
 * same synthetic 1080p ring at 60 fps, under the same load generator:
 *
 * - camstream: `node dist/src/cli/main.js --source synthetic:1920x1080@60`;
 * - naive: bench/baselines/naive-server.ts, the original design's problems
 *   (clone on read, fixed 33 ms polling, a new buffer per viewer per frame,
 *   unbounded per-viewer queues);
 * - mjpeg-server: the npm package mjpeg-server@0.3.1 (bench/baselines/mjpeg-server-runner.ts).
 *
 * Each (server, viewer count) gets a fresh server process, a warm-up, then a
 * measured window: server CPU (user/sys, /proc), RSS (mean and max of 250 ms
 * samples, /proc), delivered fps per viewer, latency from X-Timestamp where the
 * server sends one, and the server's GC count per 1000 delivered frames
 * (camstream: /api/stats; baselines: their /bench-stats, from a `gc`
 * PerformanceObserver). camstream and naive are read by bench/load.js;
 * mjpeg-server's stream (its own boundary, chunked) by bench/baselines/counting-load.js.
 *
 *   node dist/bench/compare.js [--viewers 10,50] [--seconds 8]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LISTENING_MSG, STATS_PATH, type BaselineStats } from './baselines/common.js';
import { LoadProcess } from './load-process.js';
import { percentile } from './load-protocol.js';
import { readCpuTimes, RssSampler } from './proc-stats.js';
import { killOnInterrupt } from './interrupt.js';

const WARMUP_SECONDS = 2;
const SETTLE_MS = 1000;
const RSS_INTERVAL_MS = 250;
const READY_TIMEOUT_MS = 15_000;
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 3_000;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOAD_SCRIPT = fileURLToPath(new URL('./load.js', import.meta.url));
const COUNTING_LOAD_SCRIPT = fileURLToPath(new URL('./baselines/counting-load.js', import.meta.url));
const NAIVE_SCRIPT = fileURLToPath(new URL('./baselines/naive-server.js', import.meta.url));
const MJPEG_SERVER_SCRIPT = fileURLToPath(new URL('./baselines/mjpeg-server-runner.js', import.meta.url));
const CAMSTREAM_SCRIPT = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

const { values } = parseArgs({
  options: {
    viewers: { type: 'string', default: '10,50' },
    seconds: { type: 'string', default: '8' },
    servers: { type: 'string', default: 'camstream,naive,mjpeg-server' },
  },
});
const viewerCounts = values.viewers.split(',').map(Number);
const seconds = Number(values.seconds);
if (viewerCounts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--viewers: expected counts such as 10,50, got '${values.viewers}'`);
if (!(seconds > 0)) throw new Error(`--seconds: expected a positive number, got '${values.seconds}'`);

type ServerName = 'camstream' | 'naive' | 'mjpeg-server';
interface ServerKind {
  name: ServerName;
  script: string;
  args: readonly string[];
  /** The URL from one stdout line, if it is the listening line. */
  urlFrom(entry: Record<string, unknown>): string | undefined;
  /** The server's GC count so far (from inside the server). */
  gcCount(url: string): Promise<number>;
  loadScript: string;
  /** Has the server start its camera before the load connects. */
  warmUp(url: string): Promise<void>;
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  return (await response.json()) as T;
}

const baselineGc = async (url: string): Promise<number> => (await getJson<BaselineStats>(`${url}${STATS_PATH}`)).gcCount;
const baselineUrl = (entry: Record<string, unknown>): string | undefined => (entry.msg === LISTENING_MSG && typeof entry.url === 'string' ? entry.url : undefined);

const KINDS: Record<ServerName, ServerKind> = {
  camstream: {
    name: 'camstream',
    script: CAMSTREAM_SCRIPT,
    args: ['--source', 'synthetic:1920x1080@60', '--host', '127.0.0.1', '--port', '0', '--log-level', 'info'],
    urlFrom: (entry) => (entry.msg === 'camstream listening' && typeof entry.url === 'string' ? entry.url : undefined),
    gcCount: async (url) => (await getJson<{ process: { gcCount: number } }>(`${url}/api/stats`)).process.gcCount,
    loadScript: LOAD_SCRIPT,
    // Cameras start on demand: a snapshot starts this one (and its frame rendering).
    warmUp: async (url) => {
      const first = await fetch(`${url}/snapshot`);
      if (first.status !== 200) throw new Error(`camstream delivered no frame: ${first.status} ${await first.text()}`);
      await first.arrayBuffer();
    },
  },
  naive: { name: 'naive', script: NAIVE_SCRIPT, args: [], urlFrom: baselineUrl, gcCount: baselineGc, loadScript: LOAD_SCRIPT, warmUp: async () => undefined },
  'mjpeg-server': { name: 'mjpeg-server', script: MJPEG_SERVER_SCRIPT, args: [], urlFrom: baselineUrl, gcCount: baselineGc, loadScript: COUNTING_LOAD_SCRIPT, warmUp: async () => undefined },
};
const serverNames = values.servers.split(',') as ServerName[];
for (const name of serverNames) if (!(name in KINDS)) throw new Error(`--servers: unknown server '${name}'`);

/** Children to kill if the bench itself is interrupted (a finally would not run). */
const running = killOnInterrupt();
const log = (message: string): void => void process.stderr.write(`compare: ${message}\n`);

/** One server child process, found by its listening line; stdout is read to the end (pino writes synchronously). */
class Child {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly problems: string[] = [];
  private stderr = '';

  constructor(readonly kind: ServerKind) {
    this.child = spawn(process.execPath, [kind.script, ...kind.args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    if (this.child.pid === undefined) throw new Error(`could not start ${kind.name}`);
    this.pid = this.child.pid;
    this.child.stderr?.on('data', (chunk: Buffer) => void (this.stderr += chunk.toString()));
  }

  waitForUrl(): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.kind.name} did not log its URL within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      this.child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${this.kind.name} exited (code ${code}) before listening: ${this.stderr.trim()}`));
      });
      createInterface({ input: this.child.stdout! }).on('line', (line) => {
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return;
        }
        if (typeof entry.level === 'number' && entry.level >= 40) this.problems.push(line);
        const url = this.kind.urlFrom(entry);
        if (url !== undefined) {
          clearTimeout(timer);
          resolve(url);
        }
      });
    });
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.pid, 'SIGKILL');
  }

  /** SIGTERM by PID, SIGKILL if it has not exited in time. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    process.kill(this.pid, 'SIGTERM');
    const timer = setTimeout(() => this.kill(), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}

interface Figures {
  server: ServerName;
  viewers: number;
  cpu: { total: number; user: number; system: number };
  rssMB: { steady: number; peak: number };
  fps: { min: number; median: number };
  /** Frames delivered in the window, all viewers. */
  frames: number;
  /** Server CPU milliseconds per delivered frame. */
  cpuMsPerFrame: number;
  /** Source frames a viewer never saw (sequence gaps) per viewer per second; NaN without X-Frame-Sequence. */
  gapsPerViewerSecond: number;
  latencyMs: { p50: number; p99: number; samples: number };
  gcPer1000Frames: number;
  meanJpegKB: number;
  failedViewers: number;
  loadCpuPercent: number;
}

async function runOne(kind: ServerKind, viewers: number): Promise<Figures> {
  const server = new Child(kind);
  running.add(server);
  let load: LoadProcess | undefined;
  try {
    const url = await server.waitForUrl();
    log(`${kind.name} (pid ${server.pid}) at ${url}: ${viewers} viewer(s), ${WARMUP_SECONDS} s warm-up, ${seconds} s measured`);
    await kind.warmUp(url);
    load = new LoadProcess(kind.loadScript, url, viewers);
    running.add(load);
    const ready = await load.waitForReady(READY_TIMEOUT_MS);
    if (ready.failed > 0) log(`${ready.failed} of ${viewers} viewers failed to connect`);
    await sleep(WARMUP_SECONDS * 1000);

    const gcBefore = await kind.gcCount(url);
    const cpuBefore = readCpuTimes(server.pid);
    const t0 = performance.now();
    load.start();
    const rss = new RssSampler(server.pid, RSS_INTERVAL_MS);
    await sleep(seconds * 1000);
    const cpuAfter = readCpuTimes(server.pid);
    const window = (performance.now() - t0) / 1000;
    const rssBytes = rss.stop();
    const resultPromise = load.stop(READY_TIMEOUT_MS);
    const gcAfter = await kind.gcCount(url);
    const result = await resultPromise;

    const percent = (cpuSeconds: number): number => (cpuSeconds / window) * 100;
    const user = cpuAfter.user - cpuBefore.user;
    const system = cpuAfter.system - cpuBefore.system;
    const fps = result.viewers.map((v) => v.fps).sort((a, b) => a - b);
    const frames = result.viewers.reduce((sum, v) => sum + v.frames, 0);
    const gaps = result.viewers.reduce((sum, v) => sum + v.gaps, 0);
    const hasLatency = result.latencyMs.samples > 0;
    return {
      server: kind.name,
      viewers,
      cpu: { total: percent(user + system), user: percent(user), system: percent(system) },
      rssMB: { steady: rssBytes.steady / 2 ** 20, peak: rssBytes.peak / 2 ** 20 },
      fps: { min: fps[0] ?? Number.NaN, median: percentile(fps, 50) },
      frames,
      cpuMsPerFrame: ((user + system) * 1000) / frames,
      // Without X-Frame-Sequence (mjpeg-server) the client cannot see skipped frames.
      gapsPerViewerSecond: hasLatency ? gaps / viewers / result.seconds : Number.NaN,
      latencyMs: hasLatency ? { p50: result.latencyMs.p50, p99: result.latencyMs.p99, samples: result.latencyMs.samples } : { p50: Number.NaN, p99: Number.NaN, samples: 0 },
      gcPer1000Frames: ((gcAfter - gcBefore) / frames) * 1000,
      meanJpegKB: result.viewers.reduce((sum, v) => sum + v.jpegBytes, 0) / frames / 1000,
      failedViewers: result.viewers.filter((v) => v.error !== undefined).length,
      loadCpuPercent: result.cpu.total,
    };
  } finally {
    if (load !== undefined) {
      load.kill();
      running.delete(load);
    }
    await server.stop();
    running.delete(server);
    for (const problem of server.problems) log(`${kind.name} logged: ${problem}`);
  }
}

const fmt = (value: number, digits = 1): string => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : 'n/a');

/** One table per viewer count: a row per metric, a column per server, then camstream's ratios for CPU and RSS. */
function table(viewers: number, rows: Figures[]): string {
  const by = new Map(rows.map((row) => [row.server, row]));
  const present = serverNames.filter((name) => by.has(name));
  const camstream = by.get('camstream');
  const others = (['naive', 'mjpeg-server'] as const).filter((name) => by.has(name) && camstream !== undefined);
  const header = ['metric', ...present, ...others.map((name) => `camstream/${name}`)];
  const lines = [`### ${viewers} viewers`, '', `| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  const metric = (label: string, pick: (f: Figures) => number, digits: number, withRatio: boolean): void => {
    const cells = present.map((name) => fmt(pick(by.get(name) as Figures), digits));
    const ratios = others.map((name) => (withRatio ? ratio(pick(camstream as Figures), pick(by.get(name) as Figures)) : ''));
    lines.push(`| ${[label, ...cells, ...ratios].join(' | ')} |`);
  };
  metric('server CPU, % of one core', (f) => f.cpu.total, 1, true);
  metric('— user %', (f) => f.cpu.user, 1, true);
  metric('— system %', (f) => f.cpu.system, 1, true);
  metric('server CPU ms per delivered frame', (f) => f.cpuMsPerFrame, 3, true);
  metric('RSS steady, MB', (f) => f.rssMB.steady, 1, true);
  metric('RSS peak, MB', (f) => f.rssMB.peak, 1, true);
  metric('delivered fps per viewer (median)', (f) => f.fps.median, 1, false);
  metric('delivered fps per viewer (min)', (f) => f.fps.min, 1, false);
  metric('source frames skipped per viewer per s', (f) => f.gapsPerViewerSecond, 1, false);
  metric('latency p50, ms', (f) => f.latencyMs.p50, 1, false);
  metric('latency p99, ms', (f) => f.latencyMs.p99, 1, false);
  metric('GC per 1000 delivered frames', (f) => f.gcPer1000Frames, 2, false);
  metric('mean JPEG, KB', (f) => f.meanJpegKB, 0, false);
  metric('failed viewers', (f) => f.failedViewers, 0, false);
  metric('load generator CPU %', (f) => f.loadCpuPercent, 1, false);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const results: Figures[] = [];
  let first = true;
  for (const viewers of viewerCounts) {
    for (const name of serverNames) {
      if (!first) await sleep(SETTLE_MS);
      first = false;
      try {
        results.push(await runOne(KINDS[name], viewers));
      } catch (error) {
        log(`${name} with ${viewers} viewers failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exitCode = 1;
      }
    }
  }
  process.stdout.write(`Source: synthetic 1920x1080 ring of 30 JPEGs (quality 85) at 60 fps; ${WARMUP_SECONDS} s warm-up, ${seconds} s measured; RSS sampled every ${RSS_INTERVAL_MS} ms.\n\n`);
  for (const viewers of viewerCounts) {
    process.stdout.write(`${table(viewers, results.filter((r) => r.viewers === viewers))}\n\n`);
  }
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

try {
  await main();
} catch (error) {
  log(`failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
