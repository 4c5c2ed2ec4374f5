/**
 * Soak (issue 5): a camstream server process under churn for minutes: viewers of
 * four kinds (bench/soak-viewers.ts: fast, slow, frozen, re-encoded) join and
 * leave at random, snapshots are taken, and one camera's source keeps failing (it
 * exits or hangs every few seconds, bench/soak-camera.ts) and is restarted by the
 * supervisor. Afterwards every viewer leaves; the pool's buffers in use must return
 * to their idle level and the server's RSS (read from /proc, outside the server)
 * must stay within a bound of its post-warm-up baseline.
 *
 *   node dist/bench/soak.js [--minutes 10] [--viewers 16] [--seed 1] [--out docs/benchmarks/soak.md]
 *
 * Prints a progress line per trend interval, then the markdown report, which it
 * also writes to --out; exits 1 if a check failed. test/soak.test.ts runs the same
 * code for one minute (runSoak + soakChecks).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { renderRingInChild } from '../src/source/render-ring.js';
import { killOnInterrupt } from './interrupt.js';
import { readRssBytes } from './proc-stats.js';
import { machineDescription } from './report.js';
import { ServerProcess } from './server.js';
import { CAMSTREAM_LAUNCH, ROOT } from './servers.js';
import { seededRandom } from './soak-random.js';
import { SoakViewer, VIEWER_KINDS, type ViewerBehaviour, type ViewerKind } from './soak-viewers.js';

const CAMERA_SCRIPT = join(ROOT, 'dist', 'bench', 'soak-camera.js');

/** The cameras' figures in the config (seconds), also what the checks expect. */
const IDLE_TIMEOUT_S = 2;
const STALL_TIMEOUT_S = 2;
const VIEWER_STALL_TIMEOUT_S = 3;
const NO_SIGNAL_AFTER_S = 1;
const FPS = 30;
const SIZE = { width: 1280, height: 720 };
/** How often the churn decides who joins and leaves. */
const TICK_MS = 200;
/** How often /api/stats and /proc are read during the churn (and 4× as often while idle). */
const SAMPLE_MS = 1000;
/** A fast viewer that watched this long without one part counts as failed. */
const NO_PART_FAILURE_MS = 8000;

export interface SoakOptions {
  /** Minutes of churn (the warm-up included). */
  minutes: number;
  /** Seconds at the start of the churn before the RSS baseline is taken (its last 5 s). */
  warmupSeconds: number;
  /** Most viewers at once; the target swings between a tenth and all of it. */
  maxViewers: number;
  /** Seconds per row of the trend table. */
  trendSeconds: number;
  /** Period of the viewer count's swing, seconds. */
  cycleSeconds: number;
  /** Seconds the flaky camera's process runs before it exits or hangs. */
  liveSeconds: number;
  seed: number;
  /** Told one line per trend interval. */
  progress?: (line: string) => void;
  /** Extra environment for the server process (e.g. MALLOC_ARENA_MAX, to see what RSS is made of). */
  serverEnv?: Readonly<Record<string, string>>;
  /** The server process is added here while it runs (bench/interrupt.ts's set). */
  running?: Set<{ kill(): void }>;
}

export const DEFAULT_SOAK_OPTIONS: SoakOptions = {
  minutes: 10,
  warmupSeconds: 60,
  maxViewers: 16,
  trendSeconds: 60,
  cycleSeconds: 90,
  liveSeconds: 11,
  seed: 1,
};

/** One reading of the server: /proc and /api/stats. `t` is seconds since the churn began (negative before). */
export interface Sample {
  t: number;
  phase: 'idle' | 'churn' | 'drain';
  rssMB: number;
  heapMB: number;
  poolInUse: number;
  poolMB: number;
  viewers: number;
  framesSent: number;
  restarts: number;
  flakyState: string;
  flakyCaptured: number;
  viewersStalled: number;
  gcCount: number;
}

interface KindTotals {
  opened: number;
  parts: number;
  /** Errors, and for fast and profile viewers a server close or no part in NO_PART_FAILURE_MS. */
  failed: number;
  closedByServer: number;
}

export interface SoakResult {
  options: Omit<SoakOptions, 'progress' | 'running' | 'serverEnv'>;
  date: string;
  samples: Sample[];
  /** Pool buffers in use with no viewers, before the churn and after it. */
  idleInUse: { min: number; max: number };
  finalInUse: { min: number; max: number };
  rssIdleMB: number;
  rssBaselineMB: number;
  rssEndMB: number;
  /** Least-squares slope of RSS over the churn after the warm-up, MB per minute. */
  rssSlopeMBPerMinute: number;
  viewers: Record<ViewerKind, KindTotals>;
  /** The first few failures, for the report. */
  failures: string[];
  snapshots: { ok: number; unavailable: number; failed: number };
  restarts: number;
  /** Restarts after which frames flowed again (the source reached `live` with new frames). */
  recoveries: number;
  viewersStalled: number;
  healthz: boolean;
  /** Server log lines at error level or above. */
  serverErrors: string[];
  serverWarnings: number;
  pool: { hits: number; misses: number; highWaterMark: number };
}

interface StatsBody {
  cameras: { id: string; state: string; restarts: number; framesCaptured: number; framesSent: number; viewers: number; viewersStalled: number }[];
  pool: { hits: number; misses: number; inUse: number; highWaterMark: number; bytesPooled: number };
  process: { heapUsedBytes: number; gcCount: number };
}

async function getStats(url: string): Promise<StatsBody> {
  const response = await fetch(`${url}/api/stats`);
  if (!response.ok) throw new Error(`GET /api/stats answered ${response.status}`);
  return (await response.json()) as StatsBody;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const MB = 1024 * 1024;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : (sorted[Math.floor((sorted.length - 1) / 2)] as number);
}

function slopePerMinute(points: readonly { t: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mt = points.reduce((s, p) => s + p.t, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const num = points.reduce((s, p) => s + (p.t - mt) * (p.y - my), 0);
  const den = points.reduce((s, p) => s + (p.t - mt) ** 2, 0);
  return den === 0 ? 0 : (num / den) * 60;
}

/** Writes the ring of JPEGs the flaky camera prints, in soak-camera.ts's format. */
async function writeRing(file: string): Promise<void> {
  const frames = await renderRingInChild({ ...SIZE, quality: 85, count: 30 });
  const parts: Buffer[] = [];
  for (const jpeg of frames) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(jpeg.length);
    parts.push(length, jpeg);
  }
  await writeFile(file, Buffer.concat(parts));
}

function configYaml(dir: string, options: SoakOptions): string {
  const quote = (path: string): string => `'${path.replaceAll("'", "'\\''")}'`;
  const command = [process.execPath, CAMERA_SCRIPT, '--ring', join(dir, 'ring.bin'), '--state', join(dir, 'runs'), '--fps', String(FPS), '--live', String(options.liveSeconds)].map(quote).join(' ');
  // JSON strings are YAML strings, so no path needs YAML escaping.
  return `cameras:
  - id: steady
    source: ${JSON.stringify(`synthetic:${SIZE.width}x${SIZE.height}@${FPS}`)}
    idle-timeout: ${IDLE_TIMEOUT_S}
    viewer-stall-timeout: ${VIEWER_STALL_TIMEOUT_S}
    no-signal-after: ${NO_SIGNAL_AFTER_S}
  - id: flaky
    source: ${JSON.stringify(`exec:${command}`)}
    always-on: true
    stall-timeout: ${STALL_TIMEOUT_S}
    viewer-stall-timeout: ${VIEWER_STALL_TIMEOUT_S}
    no-signal-after: ${NO_SIGNAL_AFTER_S}
`;
}

/** Runs the soak against a fresh server process; stops the server (by PID) whatever happens. */
export async function runSoak(overrides: Partial<SoakOptions> = {}): Promise<SoakResult> {
  const options: SoakOptions = { ...DEFAULT_SOAK_OPTIONS, ...overrides };
  const dir = await mkdtemp(join(tmpdir(), 'camstream-soak-'));
  let server: ServerProcess | undefined;
  try {
    await writeRing(join(dir, 'ring.bin'));
    await writeFile(join(dir, 'soak.yaml'), configYaml(dir, options));
    // Launched as the `camstream` executable launches it (its memory settings included).
    server = ServerProcess.spawn(ROOT, {
      script: 'dist/src/cli/main.js',
      nodeArgs: CAMSTREAM_LAUNCH.nodeArgs,
      args: ['--config', join(dir, 'soak.yaml'), '--host', '127.0.0.1', '--port', '0', '--log-level', 'info'],
      env: { ...CAMSTREAM_LAUNCH.env, ...options.serverEnv },
    });
    const pid = server.pid;
    const handle = { kill: () => process.kill(pid, 'SIGTERM') };
    options.running?.add(handle);
    try {
      const url = await server.waitForUrl();
      return await drive(server, url, options);
    } finally {
      options.running?.delete(handle);
    }
  } finally {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function drive(server: ServerProcess, url: string, options: SoakOptions): Promise<SoakResult> {
  const rand = seededRandom(options.seed);
  const samples: Sample[] = [];
  let churnStartMs = performance.now();
  let phase: Sample['phase'] = 'idle';
  let lastStats: StatsBody | undefined;

  const sample = async (): Promise<Sample> => {
    const stats = await getStats(url);
    lastStats = stats;
    const flaky = stats.cameras.find((camera) => camera.id === 'flaky');
    const sum = (key: 'framesSent' | 'viewers' | 'viewersStalled'): number => stats.cameras.reduce((total, camera) => total + camera[key], 0);
    const entry: Sample = {
      t: Math.round((performance.now() - churnStartMs) / 100) / 10,
      phase,
      rssMB: readRssBytes(server.pid) / MB,
      heapMB: stats.process.heapUsedBytes / MB,
      poolInUse: stats.pool.inUse,
      poolMB: stats.pool.bytesPooled / MB,
      viewers: sum('viewers'),
      framesSent: sum('framesSent'),
      restarts: flaky?.restarts ?? 0,
      flakyState: flaky?.state ?? 'missing',
      flakyCaptured: flaky?.framesCaptured ?? 0,
      viewersStalled: sum('viewersStalled'),
      gcCount: stats.process.gcCount,
    };
    samples.push(entry);
    return entry;
  };
  const sampleFor = async (ms: number, everyMs: number): Promise<Sample[]> => {
    const taken: Sample[] = [];
    const end = performance.now() + ms;
    while (performance.now() < end) {
      taken.push(await sample());
      await sleep(everyMs);
    }
    return taken;
  };

  // Idle: the always-on flaky camera live, nobody watching.
  const liveBy = performance.now() + 30_000;
  while ((await sample()).flakyState !== 'live' || samples.at(-1)?.flakyCaptured === 0) {
    if (performance.now() > liveBy) throw new Error('soak: the flaky camera did not go live within 30 s');
    await sleep(250);
  }
  const idle = await sampleFor(3000, 250);

  // Churn.
  phase = 'churn';
  churnStartMs = performance.now();
  const churnMs = options.minutes * 60_000;
  const viewers = new Set<SoakViewer>();
  const finished: SoakViewer[] = [];
  const snapshots = { ok: 0, unavailable: 0, failed: 0 };
  const failures: string[] = [];
  const pending = new Set<Promise<void>>();
  const cameraIds = ['steady', 'flaky'];

  const open = (behaviour: ViewerBehaviour): void => {
    viewers.add(new SoakViewer(url, behaviour));
  };
  const behaviourFor = (kind: ViewerKind, camera: string): ViewerBehaviour => {
    const exp = (meanMs: number, minMs: number, maxMs: number): number => Math.min(maxMs, Math.max(minMs, -Math.log(1 - rand()) * meanMs));
    switch (kind) {
      case 'fast':
      case 'profile':
        return { kind, camera, lifetimeMs: exp(10_000, 1000, 60_000) };
      case 'slow':
        return { kind, camera, lifetimeMs: 8000 + rand() * 20_000, rateBytesPerSecond: 100_000 + rand() * 500_000 };
      case 'frozen':
        return { kind, camera, lifetimeMs: 10_000 + rand() * 5000, freezeAfterMs: 500 + rand() * 2000 };
    }
  };
  const snapshot = (camera: string): void => {
    const request = fetch(`${url}/cam/${camera}/snapshot`)
      .then(async (response) => {
        await response.arrayBuffer();
        if (response.status === 200) snapshots.ok++;
        else if (response.status === 503) snapshots.unavailable++;
        else {
          snapshots.failed++;
          failures.push(`snapshot of ${camera}: HTTP ${response.status}`);
        }
      })
      .catch((error: unknown) => {
        snapshots.failed++;
        failures.push(`snapshot of ${camera}: ${(error as Error).message}`);
      })
      .finally(() => pending.delete(request));
    pending.add(request);
  };
  const collect = (): void => {
    for (const viewer of viewers) {
      if (viewer.open) continue;
      viewers.delete(viewer);
      finished.push(viewer);
    }
  };

  try {
    // Warm-up starts with one viewer of each kind on each camera, so every code path
    // (and libvips, for the re-encoded ones) is loaded before the RSS baseline.
    for (const camera of cameraIds) for (const kind of VIEWER_KINDS) open(behaviourFor(kind, camera));

    let nextSampleMs = churnStartMs;
    let nextTrendMs = churnStartMs + options.trendSeconds * 1000;
    while (performance.now() - churnStartMs < churnMs) {
      const now = performance.now();
      collect();
      const t = (now - churnStartMs) / 1000;
      const swing = 0.55 + 0.45 * Math.sin((2 * Math.PI * t) / options.cycleSeconds);
      const target = Math.round(options.maxViewers * Math.max(0.1, swing));
      if (viewers.size < target && rand() < 0.5) {
        const roll = rand();
        const kind: ViewerKind = roll < 0.5 ? 'fast' : roll < 0.7 ? 'slow' : roll < 0.8 ? 'frozen' : 'profile';
        open(behaviourFor(kind, cameraIds[Math.floor(rand() * cameraIds.length)] as string));
      } else if (viewers.size > target + 2) {
        // The swing went down faster than lifetimes end: someone leaves early.
        void [...viewers][Math.floor(rand() * viewers.size)]?.leave();
      }
      if (rand() < 0.05) snapshot(cameraIds[Math.floor(rand() * cameraIds.length)] as string);
      if (now >= nextSampleMs) {
        nextSampleMs += SAMPLE_MS;
        await sample();
      }
      if (now >= nextTrendMs) {
        nextTrendMs += options.trendSeconds * 1000;
        const last = samples.at(-1) as Sample;
        options.progress?.(`soak: ${Math.round(t)} s, RSS ${last.rssMB.toFixed(1)} MB, pool in use ${last.poolInUse}, viewers ${last.viewers}, restarts ${last.restarts}`);
      }
      await sleep(TICK_MS);
    }
  } finally {
    // On an error too: no viewer may keep the process alive.
    await Promise.all([...viewers].map((viewer) => viewer.leave()));
  }

  // Drain: everyone leaves; the on-demand camera idles out; then the idle level again.
  phase = 'drain';
  collect();
  await Promise.all([...pending]);
  await sleep(IDLE_TIMEOUT_S * 1000 + 3000);
  const drained = await sampleFor(5000, 250);
  const healthz = await fetch(`${url}/healthz`)
    .then(async (response) => response.ok && ((await response.json()) as { status?: string }).status === 'ok')
    .catch(() => false);

  return summarise(options, samples, idle, drained, finished, snapshots, failures, healthz, server, lastStats);
}

function summarise(
  options: SoakOptions,
  samples: Sample[],
  idle: Sample[],
  drained: Sample[],
  finished: SoakViewer[],
  snapshots: SoakResult['snapshots'],
  failures: string[],
  healthz: boolean,
  server: ServerProcess,
  lastStats: StatsBody | undefined,
): SoakResult {
  const kinds = Object.fromEntries(VIEWER_KINDS.map((kind) => [kind, { opened: 0, parts: 0, failed: 0, closedByServer: 0 }])) as Record<ViewerKind, KindTotals>;
  for (const viewer of finished) {
    const { kind, camera } = viewer.behaviour;
    const totals = kinds[kind];
    totals.opened++;
    totals.parts += viewer.parts;
    if (viewer.closedByServer) totals.closedByServer++;
    const watchedMs = (viewer.closedMs ?? performance.now()) - viewer.openedMs;
    const mustFlow = kind === 'fast' || kind === 'profile';
    let failure = viewer.error;
    if (failure === undefined && mustFlow && viewer.closedByServer) failure = 'closed by the server';
    if (failure === undefined && mustFlow && viewer.parts === 0 && watchedMs >= NO_PART_FAILURE_MS) failure = `no part in ${Math.round(watchedMs / 1000)} s`;
    if (failure !== undefined && (mustFlow || viewer.error !== undefined)) {
      totals.failed++;
      if (failures.length < 10) failures.push(`${kind} viewer of ${camera}: ${failure}`);
    }
  }

  // Recoveries: a rise of the restart count followed by new frames with the source live.
  let recoveries = 0;
  for (let i = 1; i < samples.length; i++) {
    const before = samples[i - 1] as Sample;
    const at = samples[i] as Sample;
    if (at.restarts === before.restarts) continue;
    const next = samples.slice(i + 1).find((later) => later.restarts !== at.restarts || (later.flakyState === 'live' && later.flakyCaptured > at.flakyCaptured));
    if (next !== undefined && next.restarts === at.restarts) recoveries++;
  }

  const warmEnd = options.warmupSeconds;
  const baseline = samples.filter((s) => s.phase === 'churn' && s.t > warmEnd - 5 && s.t <= warmEnd).map((s) => s.rssMB);
  const afterWarmup = samples.filter((s) => s.phase === 'churn' && s.t > warmEnd).map((s) => ({ t: s.t, y: s.rssMB }));
  const inUse = (list: Sample[]): { min: number; max: number } => ({ min: Math.min(...list.map((s) => s.poolInUse)), max: Math.max(...list.map((s) => s.poolInUse)) });
  const last = samples.at(-1) as Sample;
  const { progress: _progress, running: _running, serverEnv: _serverEnv, ...shown } = options;
  return {
    options: shown,
    date: new Date().toISOString(),
    samples,
    idleInUse: inUse(idle),
    finalInUse: inUse(drained),
    rssIdleMB: median(idle.map((s) => s.rssMB)),
    rssBaselineMB: median(baseline),
    rssEndMB: median(drained.map((s) => s.rssMB)),
    rssSlopeMBPerMinute: slopePerMinute(afterWarmup),
    viewers: kinds,
    failures,
    snapshots,
    restarts: last.restarts,
    recoveries,
    viewersStalled: last.viewersStalled,
    healthz,
    serverErrors: server.problems.filter((line) => ((JSON.parse(line) as { level?: number }).level ?? 0) >= 50),
    serverWarnings: server.problems.length,
    pool: { hits: lastStats?.pool.hits ?? 0, misses: lastStats?.pool.misses ?? 0, highWaterMark: lastStats?.pool.highWaterMark ?? 0 },
  };
}

/** What a soak must show; the test asserts these with its own RSS bound. */
export interface SoakBounds {
  /** RSS after the drain may exceed the post-warm-up baseline by at most this. */
  rssGrowthMB: number;
  /** Fewest source restarts the run must have seen. */
  minRestarts: number;
}

/** The bench's bounds for a run of `minutes`: the flaky camera fails every ~13 s, so 2 a minute is far below normal. */
export function benchBounds(minutes: number): SoakBounds {
  return { rssGrowthMB: 40, minRestarts: Math.max(2, Math.floor(minutes * 2)) };
}

export interface SoakCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export function soakChecks(result: SoakResult, bounds: SoakBounds): SoakCheck[] {
  const fastFailed = result.viewers.fast.failed + result.viewers.profile.failed;
  const growth = result.rssEndMB - result.rssBaselineMB;
  return [
    {
      name: 'pool in use back to its idle level',
      ok: result.finalInUse.min <= result.idleInUse.max,
      detail: `after the drain ${result.finalInUse.min}–${result.finalInUse.max} buffers, idle before the churn ${result.idleInUse.min}–${result.idleInUse.max}`,
    },
    {
      name: `RSS within ${bounds.rssGrowthMB} MB of the post-warm-up baseline`,
      ok: growth <= bounds.rssGrowthMB,
      detail: `${result.rssBaselineMB.toFixed(1)} MB after the warm-up, ${result.rssEndMB.toFixed(1)} MB after the drain (${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MB)`,
    },
    { name: 'no failed fast or re-encoded viewer', ok: fastFailed === 0, detail: `${fastFailed} failed of ${result.viewers.fast.opened + result.viewers.profile.opened}` },
    {
      name: `at least ${bounds.minRestarts} source restarts, frames flowing after each`,
      ok: result.restarts >= bounds.minRestarts && result.recoveries >= result.restarts - 1,
      detail: `${result.restarts} restarts, frames flowed again after ${result.recoveries}`,
    },
    { name: 'no failed snapshot', ok: result.snapshots.failed === 0, detail: `${result.snapshots.ok} answered, ${result.snapshots.unavailable} 503 (source starting), ${result.snapshots.failed} failed` },
    { name: 'no error in the server log', ok: result.serverErrors.length === 0, detail: result.serverErrors.slice(0, 3).join(' | ') || 'none' },
    { name: '/healthz answers after the soak', ok: result.healthz, detail: result.healthz ? '{"status":"ok"}' : 'no answer' },
  ];
}

/** The trend table: one row per `trendSeconds` of the churn, then the drain. */
function trendRows(result: SoakResult): string[] {
  const width = result.options.trendSeconds;
  const rows: string[] = [];
  const row = (label: string, list: Sample[], before: Sample | undefined): void => {
    if (list.length === 0) return;
    const rss = list.map((s) => s.rssMB);
    const last = list.at(-1) as Sample;
    const first = before ?? (list[0] as Sample);
    rows.push(
      `| ${label} | ${Math.min(...rss).toFixed(1)} / ${median(rss).toFixed(1)} / ${Math.max(...rss).toFixed(1)} | ${median(list.map((s) => s.heapMB)).toFixed(1)} | ${Math.min(...list.map((s) => s.poolInUse))}–${Math.max(...list.map((s) => s.poolInUse))} | ${last.poolMB.toFixed(1)} | ${Math.max(...list.map((s) => s.viewers))} | ${(last.framesSent - first.framesSent).toLocaleString('en')} | ${last.restarts - first.restarts} | ${last.gcCount - first.gcCount} |`,
    );
  };
  const churn = result.samples.filter((s) => s.phase === 'churn');
  const idle = result.samples.filter((s) => s.phase === 'idle');
  row('idle, before', idle, undefined);
  let before = idle.at(-1);
  const buckets = Math.ceil(result.options.minutes * 60 / width);
  for (let b = 0; b < buckets; b++) {
    const list = churn.filter((s) => s.t >= b * width && s.t < (b + 1) * width);
    row(`${b * width}–${(b + 1) * width} s${(b + 1) * width <= result.options.warmupSeconds ? ' (warm-up)' : ''}`, list, before);
    before = list.at(-1) ?? before;
  }
  row('drain, after', result.samples.filter((s) => s.phase === 'drain'), before);
  return rows;
}

export function soakReport(result: SoakResult, bounds: SoakBounds, command: string): string {
  const o = result.options;
  const checks = soakChecks(result, bounds);
  const kindRows = VIEWER_KINDS.map((kind) => {
    const k = result.viewers[kind];
    return `| ${kind} | ${k.opened} | ${k.parts.toLocaleString('en')} | ${k.closedByServer} | ${k.failed} |`;
  });
  return `# Soak

Generated by \`${command}\` (bench/soak.ts); rerun it rather than editing.
${checks.every((c) => c.ok) ? 'Every check passed.' : '**Some checks failed.**'}

## Machine

${machineDescription()}

## Run

- Command: \`${command}\`
- Date: ${result.date}
- ${o.minutes} min of churn (the first ${o.warmupSeconds} s are warm-up), then every viewer leaves and the server idles for ${IDLE_TIMEOUT_S + 3} s before the last samples.
- Server: \`node dist/src/cli/main.js --config soak.yaml\`, its own process; RSS read from \`/proc/<pid>/status\` every ${SAMPLE_MS / 1000} s, the rest from \`/api/stats\`.
- Cameras: \`steady\`, \`synthetic:${SIZE.width}x${SIZE.height}@${FPS}\` on demand (idle-timeout ${IDLE_TIMEOUT_S} s);
  \`flaky\`, always on, an \`exec:\` source (bench/soak-camera.ts) printing ${SIZE.width}x${SIZE.height} JPEGs at ${FPS} fps that
  after ${o.liveSeconds} s either exits (odd runs) or hangs silently (even runs, caught by stall-timeout ${STALL_TIMEOUT_S} s);
  viewer-stall-timeout ${VIEWER_STALL_TIMEOUT_S} s, no-signal cards after ${NO_SIGNAL_AFTER_S} s.
- Viewers (up to ${o.maxViewers} at once, the target swinging over ${o.cycleSeconds} s; seed ${o.seed}): 50 % fast, 20 % slow
  (100–600 KB/s, paused socket), 10 % frozen (stop reading after 0.5–2.5 s, until the server drops them),
  20 % re-encoded (\`?width=320&quality=50\`); a snapshot every ~4 s.

## Checks

| Check | Result | Detail |
|---|---|---|
${checks.map((c) => `| ${c.name} | ${c.ok ? 'pass' : '**FAIL**'} | ${c.detail} |`).join('\n')}

## Trend

RSS min / median / max; heap (median) and pool figures from the server; frames sent,
restarts and GCs in the interval.

| Interval | RSS MB | Heap MB | Pool in use | Pool MB | Viewers (max) | Frames sent | Restarts | GCs |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
${trendRows(result).join('\n')}

RSS idle before the churn ${result.rssIdleMB.toFixed(1)} MB; after the warm-up ${result.rssBaselineMB.toFixed(1)} MB; after the drain
${result.rssEndMB.toFixed(1)} MB. Slope after the warm-up: ${result.rssSlopeMBPerMinute >= 0 ? '+' : ''}${result.rssSlopeMBPerMinute.toFixed(2)} MB/min (least squares).
Pool: ${result.pool.hits.toLocaleString('en')} hits, ${result.pool.misses} misses, at most ${result.pool.highWaterMark} buffers in use at once.

## Viewers

| Kind | Connections | Parts received | Closed by the server (as the client saw it) | Failed |
|---|---:|---:|---:|---:|
${kindRows.join('\n')}

Viewers disconnected by the server for making no progress (viewer-stall-timeout, counted by the server; a frozen
client does not read, so it does not see the close): ${result.viewersStalled}.
Snapshots: ${result.snapshots.ok} answered, ${result.snapshots.unavailable} answered 503, ${result.snapshots.failed} failed.
Server log: ${result.serverWarnings} lines at warn or above (the flaky camera's restarts), ${result.serverErrors.length} at error.
${result.failures.length > 0 ? `\nFirst failures:\n\n${result.failures.map((f) => `- ${f}`).join('\n')}\n` : ''}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: String(DEFAULT_SOAK_OPTIONS.minutes) },
      viewers: { type: 'string', default: String(DEFAULT_SOAK_OPTIONS.maxViewers) },
      seed: { type: 'string', default: String(DEFAULT_SOAK_OPTIONS.seed) },
      out: { type: 'string', default: 'docs/benchmarks/soak.md' },
    },
  });
  const minutes = Number(values.minutes);
  const maxViewers = Number(values.viewers);
  if (!(minutes >= 1)) throw new Error(`soak: --minutes takes a number >= 1, got '${values.minutes}'`);
  if (!(Number.isInteger(maxViewers) && maxViewers >= 1)) throw new Error(`soak: --viewers takes a whole number >= 1, got '${values.viewers}'`);
  // Short runs warm up for a quarter of the time, long ones for a minute.
  const warmupSeconds = Math.min(60, minutes * 15);
  const trendSeconds = minutes >= 5 ? 60 : 30;
  const running = killOnInterrupt();
  const result = await runSoak({ minutes, maxViewers, seed: Number(values.seed), warmupSeconds, trendSeconds, running, progress: (line) => process.stderr.write(`${line}\n`) });
  const args = process.argv.slice(2).join(' ');
  const bounds = benchBounds(minutes);
  const markdown = soakReport(result, bounds, `node dist/bench/soak.js${args === '' ? '' : ` ${args}`}`);
  await mkdir(dirname(values.out), { recursive: true });
  await writeFile(values.out, markdown);
  process.stdout.write(markdown);
  if (!soakChecks(result, bounds).every((check) => check.ok)) process.exitCode = 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
