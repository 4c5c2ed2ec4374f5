/**
 * `npm run bench`: every part of issue #5's benchmark in one run, written to
 * docs/BENCHMARKS.md (and docs/benchmarks/chart.svg):
 *
 * - scenarios: camstream serving 1080p60 to 1, 10, 50, 100, 200 and 300 viewers on one
 *   event loop, 200 and 300 again with `--workers 1` (when this build has the flag),
 *   and 720p30 to 10 viewers;
 * - raw: the raw loopback writer (bench/baselines/raw-writer.ts), paced and saturated;
 * - compare: camstream beside the naive baseline and npm mjpeg-server (compare.ts);
 * - slow: the slow-viewer mixes (slow-plan.ts, run by slow-scenarios.ts): 1080p60 with 2 of 10 viewers
 *   paced at 2 MB/s, reading like a busy tab, or behind a shaped link, beside the same viewers none slow
 *   (the CPU ratio's denominator), and a 720p30 camera with one busy-tab viewer at 1 MB/s (a Raspberry
 *   Pi's setting); camstream started as plain `node`;
 * - dashboard: headless Chromium opening the dashboard of twelve cameras, time to every card's first picture (dashboard.ts).
 *
 * Flags: USAGE below (`--help`). An empty list ('') skips that series. The pool micro-benchmarks and the soak run
 * have their own scripts; their reports (docs/benchmarks/pool.md, soak.md) are
 * included here when present.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chartSvg, type ChartSeries } from './chart.js';
import { runComparison } from './compare.js';
import { DASHBOARD_SETS, runDashboard, type DashboardRow } from './dashboard.js';
import { killOnInterrupt } from './interrupt.js';
import { benchmarksDoc, type DocInput } from './report.js';
import { costTable, deliveryTable } from './report-tables.js';
import { runSeries, type Row, type SeriesContext } from './series.js';
import { camstream, camstreamHasWorkers, rawWriter } from './servers.js';
import { slowCostTable, slowViewersTable } from './report-slow.js';
import { slowTargetsTable } from './report-slow-targets.js';
import { dashboardTable } from './report-dashboard.js';
import { SHAPING, SLOW_KINDS, type SlowKind } from './slow-plan.js';
import { runSlowScenarios } from './slow-scenarios.js';

const PARTS = ['scenarios', 'raw', 'compare', 'slow', 'dashboard'] as const;
const USAGE = `node dist/bench/run.js (npm run bench -- ...)
  --parts scenarios,raw,compare,slow,dashboard   which parts to run (default all)
  --seconds 10                          measured window per scenario
  --viewers 1,10,50,100,200,300         camstream 1080p60, one event loop
  --workers-viewers 200,300             camstream 1080p60 with --workers 1
  --hd720-viewers 10                    camstream 720p30
  --raw-paced 10,100,300                raw writer, 60 parts/s
  --raw-saturated 10,100                raw writer, as fast as it can
  --compare 10,50,100                   camstream, naive and mjpeg-server side by side
  --slow paced,busy-tab,link,pi         the slow-viewer mixes (camstream as plain node; each brings
                                        its camera's no-slow-viewer row): 1080p60, 2 of 10 at 2 MB/s
                                        paced (128 KiB rcvbuf), as a busy tab (OS rcvbuf), over a
                                        shaped link (root, iproute2); pi: 720p30, 1 of 4 at 1 MB/s
  --link-queue 400ms                    the slow link's tbf queue
  --dashboard-runs 5                    cold starts per camera set in the dashboard part
  --no-write                            print the tables, leave docs/ alone
`;
/** A generator busier than this (% of one core) may be what limits a row, not the server. */
const GENERATOR_BUSY = 80;
const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));

const { values } = parseArgs({
  options: {
    parts: { type: 'string', default: PARTS.join(',') },
    seconds: { type: 'string', default: '10' },
    viewers: { type: 'string', default: '1,10,50,100,200,300' },
    'workers-viewers': { type: 'string', default: '200,300' },
    'hd720-viewers': { type: 'string', default: '10' },
    'raw-paced': { type: 'string', default: '10,100,300' },
    'raw-saturated': { type: 'string', default: '10,100' },
    compare: { type: 'string', default: '10,50,100' },
    slow: { type: 'string', default: SLOW_KINDS.join(',') },
    'link-queue': { type: 'string', default: '400ms' },
    'dashboard-runs': { type: 'string', default: '5' },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

function counts(flag: string, value: string): number[] {
  const list = value === '' ? [] : value.split(',').map(Number);
  if (list.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--${flag}: expected viewer counts such as 10,50 (or ''), got '${value}'`);
  return list;
}
const parts = values.parts === '' ? [] : values.parts.split(',');
if (parts.some((part) => !(PARTS as readonly string[]).includes(part))) throw new Error(`--parts: expected some of ${PARTS.join(',')}, got '${values.parts}'`);
const seconds = Number(values.seconds);
if (!(seconds > 0)) throw new Error(`--seconds: expected a positive number, got '${values.seconds}'`);
if (!/^\d+(?:\.\d+)?(?:ms|s|us)$/.test(values['link-queue'])) throw new Error(`--link-queue: expected a time such as 400ms, got '${values['link-queue']}'`);
const dashboardRuns = Number(values['dashboard-runs']);
if (!Number.isInteger(dashboardRuns) || dashboardRuns < 1) throw new Error(`--dashboard-runs: expected a positive whole number, got '${values['dashboard-runs']}'`);
const isSlowKind = (kind: string): kind is SlowKind => (SLOW_KINDS as readonly string[]).includes(kind);
const slowList = values.slow === '' ? [] : values.slow.split(',');
const slowKinds: SlowKind[] = slowList.filter(isSlowKind);
if (slowKinds.length !== slowList.length) throw new Error(`--slow: expected some of ${SLOW_KINDS.join(',')} (or ''), got '${values.slow}'`);

/** Children (and the link) to clean up if the bench itself is interrupted, when finally blocks would not run. */
const running = killOnInterrupt();
const log = (message: string): void => void process.stderr.write(`bench: ${message}\n`);
const notes: string[] = [];
const context: SeriesContext = { seconds, track: running, log, notes };

async function scenarios(): Promise<Row[]> {
  const rows = await runSeries(camstream('synthetic:1920x1080@60'), '1080p60', counts('viewers', values.viewers), context);
  const workersViewers = counts('workers-viewers', values['workers-viewers']);
  if (workersViewers.length > 0) {
    if (camstreamHasWorkers()) rows.push(...(await runSeries(camstream('synthetic:1920x1080@60', '127.0.0.1', ['--workers', '1']), '1080p60', workersViewers, context)));
    else notes.push(`Not run: ${workersViewers.join(', ')} viewers with \`--workers 1\`: this build's \`camstream --help\` has no \`--workers\`, so every row above is one event loop.`);
  }
  rows.push(...(await runSeries(camstream('synthetic:1280x720@30'), '720p30', counts('hd720-viewers', values['hd720-viewers']), context)));
  return rows;
}

async function raw(): Promise<Row[]> {
  return [
    ...(await runSeries(rawWriter('paced'), '1080p60', counts('raw-paced', values['raw-paced']), context)),
    ...(await runSeries(rawWriter('saturated'), '1080p, saturated', counts('raw-saturated', values['raw-saturated']), context)),
  ];
}

async function slow(): Promise<Awaited<ReturnType<typeof runSlowScenarios>> | undefined> {
  try {
    return await runSlowScenarios({ seconds, shaping: { ...SHAPING, latency: values['link-queue'] }, running, log }, slowKinds);
  } catch (error) {
    notes.push(`The slow-viewer scenarios failed: ${error instanceof Error ? error.message : String(error)}`);
    log(notes.at(-1) as string);
    process.exitCode = 1;
    return undefined;
  }
}

async function dashboard(): Promise<DashboardRow[]> {
  try {
    return await runDashboard(DASHBOARD_SETS, { runs: dashboardRuns, track: running, log });
  } catch (error) {
    notes.push(`The dashboard part failed: ${error instanceof Error ? error.message : String(error)}`);
    log(notes.at(-1) as string);
    process.exitCode = 1;
    return [];
  }
}

/** One line per server: camstream's own scenarios (one loop, and with workers), the baselines, the paced raw writer. */
function chartSeries(input: DocInput): ChartSeries[] {
  const all = [...input.scenarios.filter((row) => row.source === '1080p60'), ...input.compare.filter((row) => row.server !== 'camstream'), ...input.raw.filter((row) => row.server === 'raw paced')];
  const names = [...new Set(all.map((row) => row.server))];
  return names.map((name) => ({
    name,
    points: all.filter((row) => row.server === name).map((row) => ({ viewers: row.figures.viewers, cpuPerViewer: row.figures.cpu.total / row.figures.viewers, p99Ms: row.figures.latencyMs.p99 })),
  }));
}

async function main(): Promise<void> {
  const input: DocInput = {
    date: new Date().toISOString(),
    command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    seconds,
    scenarios: parts.includes('scenarios') ? await scenarios() : [],
    raw: parts.includes('raw') ? await raw() : [],
    compare: parts.includes('compare') ? await runComparison(counts('compare', values.compare), context) : [],
    slow: parts.includes('slow') && slowKinds.length > 0 ? await slow() : undefined,
    dashboard: parts.includes('dashboard') ? await dashboard() : [],
    notes,
    chart: undefined,
    included: [
      { title: 'Where the CPU and memory go', path: `${DOCS}benchmarks/profile.md` },
      { title: 'Buffer pool micro-benchmarks', path: `${DOCS}benchmarks/pool.md` },
      { title: 'Soak', path: `${DOCS}benchmarks/soak.md` },
    ],
  };
  const loopback = [...input.scenarios, ...input.raw, ...input.compare];
  for (const row of loopback.filter((r) => r.figures.load.busiest > GENERATOR_BUSY)) {
    notes.push(`${row.server}, ${row.source}, ${row.figures.viewers} viewers: a load generator used ${row.figures.load.busiest.toFixed(0)} % of a core, so it may have limited that row.`);
  }
  if (loopback.length > 0) process.stdout.write(`${deliveryTable(loopback)}\n\n${costTable(loopback)}\n\n`);
  if (input.slow !== undefined && input.slow.rows.length > 0) {
    const rows = input.slow.rows;
    process.stdout.write(`${slowTargetsTable(rows)}\n\n${slowViewersTable(rows)}\n\n${slowCostTable(rows)}\n\n`);
  }
  if (input.dashboard.length > 0) process.stdout.write(`${dashboardTable(input.dashboard)}\n\n`);
  if (values['no-write']) return;
  const series = chartSeries(input);
  if (series.length > 0) {
    mkdirSync(`${DOCS}benchmarks`, { recursive: true });
    writeFileSync(`${DOCS}benchmarks/chart.svg`, chartSvg(series));
    input.chart = 'benchmarks/chart.svg';
  }
  writeFileSync(`${DOCS}BENCHMARKS.md`, benchmarksDoc(input));
  log(`wrote ${DOCS}BENCHMARKS.md`);
}

try {
  await main();
} catch (error) {
  log(`failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
