/**
 * The loopback tables of docs/BENCHMARKS.md: what each scenario delivered, and
 * what it cost the server. The same two tables serve camstream's scenarios, the
 * raw writer and the side-by-side comparison, so every server is read alike.
 */
import { f, table } from './format.js';
import type { Row } from './series.js';

/** The columns that say which window a row is. */
const HEAD = ['Server', 'Source', 'Viewers'];
const head = (row: Row): string[] => [
  row.figures.failedViewers > 0 ? `${row.server} (${row.figures.failedViewers} viewers failed)` : row.server,
  row.source,
  String(row.figures.viewers),
];

export function deliveryTable(rows: readonly Row[]): string {
  return table(
    [...HEAD, 'fps per viewer min / median', 'Capture fps', 'Drops server / client gaps', 'Latency ms p50 / p99 / max', 'Load gen CPU % (processes; busiest)'],
    rows.map((row) => {
      const r = row.figures;
      return [
        ...head(row),
        `${f(r.fps.min)} / ${f(r.fps.median)}`,
        f(row.camera?.captureFps ?? Number.NaN),
        `${row.camera === undefined ? '–' : row.camera.serverDrops} / ${f(r.clientGaps, 0)}`,
        `${f(r.latencyMs.p50, 2)} / ${f(r.latencyMs.p99, 2)} / ${f(r.latencyMs.max, 2)}`,
        `${f(r.load.cpu)} (${r.load.generators}; ${f(r.load.busiest)})`,
      ];
    }),
  );
}

export function costTable(rows: readonly Row[]): string {
  return table(
    [...HEAD, 'CPU % (user / sys)', 'CPU % per viewer', 'User share %', 'CPU-s per GB', 'RSS MB steady / peak', 'GC per 1000 frames: count / pause ms', 'GC % of a core', 'Allocated bytes per frame', 'Pool hits %'],
    rows.map((row) => {
      const r = row.figures;
      return [
        ...head(row),
        `${f(r.cpu.total)} (${f(r.cpu.user)} / ${f(r.cpu.system)})`,
        f(r.cpu.total / r.viewers, 3),
        f(r.userShare),
        f(r.cpuSecondsPerGB, 3),
        `${f(r.rssMB.steady)} / ${f(r.rssMB.peak)}`,
        `${f(r.perFrame.gcCount * 1000, 2)} / ${f(r.perFrame.gcPauseMs * 1000, 2)}`,
        f(r.gcPercent, 2),
        f(r.perFrame.allocBytes, 0),
        f(row.camera?.poolHitPercent ?? Number.NaN),
      ];
    }),
  );
}
