/**
 * The side-by-side part of docs/BENCHMARKS.md: one table per viewer count (a row
 * per metric, a column per server, then camstream's ratios), and the ratios issue
 * #5 asks for, each against its target.
 */
import { f, table } from './format.js';
import type { WindowFigures } from './measure.js';
import type { Row } from './series.js';

const SERVERS = ['camstream', 'naive', 'mjpeg-server'] as const;

const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : '–');
/** How much lower a is than b, %. */
const reduction = (a: number, b: number): number => (1 - a / b) * 100;
/** A reduction in words: "12.3 % less", or "4.5 % more" when it is negative. */
const less = (percent: number): string => (percent >= 0 ? `${f(percent)} % less` : `${f(-percent)} % more`);
const verdict = (ok: boolean): string => (ok ? '**met**' : '**not met**');

const METRICS: readonly [string, (w: WindowFigures) => number, number, boolean][] = [
  ['server CPU, % of one core', (w) => w.cpu.total, 1, true],
  ['— user %', (w) => w.cpu.user, 1, true],
  ['— system %', (w) => w.cpu.system, 1, true],
  ['user share of CPU, %', (w) => w.userShare, 1, false],
  ['CPU-seconds per GB delivered', (w) => w.cpuSecondsPerGB, 3, true],
  ['allocated bytes per delivered frame', (w) => w.perFrame.allocBytes, 0, true],
  ['GC per 1000 delivered frames', (w) => w.perFrame.gcCount * 1000, 2, true],
  ['GC pause ms per 1000 delivered frames', (w) => w.perFrame.gcPauseMs * 1000, 2, true],
  ['RSS steady, MB', (w) => w.rssMB.steady, 1, true],
  ['RSS peak, MB', (w) => w.rssMB.peak, 1, true],
  ['delivered fps per viewer (median)', (w) => w.fps.median, 1, false],
  ['delivered fps per viewer (min)', (w) => w.fps.min, 1, false],
  ['latency p50, ms', (w) => w.latencyMs.p50, 2, false],
  ['latency p99, ms', (w) => w.latencyMs.p99, 2, false],
  ['mean JPEG, KB', (w) => w.meanJpegKB, 0, false],
  ['failed viewers', (w) => w.failedViewers, 0, false],
  ['load generator CPU %', (w) => w.load.cpu, 1, false],
];

function countTable(rows: readonly Row[]): string {
  const by = new Map(rows.map((row) => [row.server, row.figures]));
  const present = SERVERS.filter((name) => by.has(name));
  const cam = by.get('camstream');
  const others = present.filter((name) => name !== 'camstream' && cam !== undefined);
  return table(
    ['metric', ...present, ...others.map((name) => `camstream / ${name}`)],
    METRICS.map(([label, pick, digits, withRatio]) => [
      label,
      ...present.map((name) => f(pick(by.get(name) as WindowFigures), digits)),
      ...others.map((name) => (withRatio ? ratio(pick(cam as WindowFigures), pick(by.get(name) as WindowFigures)) : '')),
    ]),
  );
}

/** The ratios the issue asks for, at each viewer count where the servers ran. */
function ratioLines(viewers: number, rows: readonly Row[]): string[] {
  const by = new Map(rows.map((row) => [row.server, row.figures]));
  const cam = by.get('camstream');
  if (cam === undefined) return [];
  const lines: string[] = [];
  const naive = by.get('naive');
  if (naive !== undefined) {
    const alloc = reduction(cam.perFrame.allocBytes, naive.perFrame.allocBytes);
    const cpu = reduction(cam.cpu.total, naive.cpu.total);
    const cpuPerGB = reduction(cam.cpuSecondsPerGB, naive.cpuSecondsPerGB);
    lines.push(
      `- ${viewers} viewers, against naive: allocations per delivered frame ${f(cam.perFrame.allocBytes, 0)} B vs ${f(naive.perFrame.allocBytes, 0)} B, **${less(alloc)}** (target ≥ 90 %: ${verdict(alloc >= 90)}); ` +
        `server CPU ${f(cam.cpu.total)} % vs ${f(naive.cpu.total)} %, **${less(cpu)}** (target ≥ 50 %: ${verdict(cpu >= 50)}), ` +
        `while delivering ${f(cam.fps.median)} fps per viewer to naive's ${f(naive.fps.median)}; per GB delivered ${less(cpuPerGB)}.`,
    );
  }
  const mjpeg = by.get('mjpeg-server');
  if (mjpeg !== undefined) {
    const at = cam.cpu.total / mjpeg.cpu.total;
    lines.push(
      `- ${viewers} viewers, against mjpeg-server: server CPU ${f(cam.cpu.total)} % vs ${f(mjpeg.cpu.total)} % (${ratio(cam.cpu.total, mjpeg.cpu.total)}${viewers === 100 ? `; target at or below: ${verdict(at <= 1)}` : ''}), ` +
        `CPU-seconds per GB ${f(cam.cpuSecondsPerGB, 3)} vs ${f(mjpeg.cpuSecondsPerGB, 3)}, user time ${f(cam.cpu.user)} % vs ${f(mjpeg.cpu.user)} %.`,
    );
  }
  if (viewers === 100) lines.push(`- ${viewers} viewers: camstream's user-space share of its CPU ${f(cam.userShare)} % (target ≤ 20 %: ${verdict(cam.userShare <= 20)}).`);
  return lines;
}

export function compareSection(rows: readonly Row[], seconds: number): string {
  const counts = [...new Set(rows.map((row) => row.figures.viewers))].sort((a, b) => a - b);
  const tables = counts.map((viewers) => `### ${viewers} viewers\n\n${countTable(rows.filter((row) => row.figures.viewers === viewers))}`);
  const ratios = counts.flatMap((viewers) => ratioLines(viewers, rows.filter((row) => row.figures.viewers === viewers)));
  return `## Side by side: camstream, a naive server, npm mjpeg-server

The same synthetic 1080p ring (30 JPEGs, quality 85) at 60 fps, served by:

- **camstream**: \`--source synthetic:1920x1080@60\`;
- **naive** (\`bench/baselines/naive-server.ts\`): the original design's problems — the
  latest frame cloned when read, a fixed 33 ms polling interval (so a 60 fps source
  reaches viewers at ~30 fps), a new buffer per viewer per frame (header + JPEG +
  trailer concatenated), unbounded per-viewer queues (no backpressure);
- **mjpeg-server**: the npm package \`mjpeg-server@0.3.1\` on node:http (six writes per
  part, chunked), every frame written to every viewer at once.

Each server and viewer count ran in a fresh process with the alloc probe, ${seconds} s measured
after the warm-up, read by the same load generator. mjpeg-server sends no
\`X-Timestamp\`, so it has no latency figures.

${ratios.join('\n')}

${tables.join('\n\n')}
`;
}
