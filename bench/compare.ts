/**
 * Issue #5's side by side: camstream, the naive baseline (bench/baselines/naive-server.ts:
 * clone on read, 33 ms polling, a new buffer per viewer per frame, unbounded queues)
 * and npm mjpeg-server@0.3.1 (bench/baselines/mjpeg-server-runner.ts), serving the
 * same synthetic 1080p ring at 60 fps to the same load generator, each measured with
 * the same alloc probe. Each (server, viewer count) gets a fresh server process.
 * `npm run bench -- --parts compare` runs it alone.
 */
import type { Row, SeriesContext } from './series.js';
import { runSeries } from './series.js';
import { camstream, MJPEG_SERVER, NAIVE } from './servers.js';

export const COMPARE_SOURCE = 'synthetic:1920x1080@60';

export async function runComparison(viewerCounts: readonly number[], context: SeriesContext): Promise<Row[]> {
  const rows: Row[] = [];
  for (const kind of [camstream(COMPARE_SOURCE), NAIVE, MJPEG_SERVER]) rows.push(...(await runSeries(kind, '1080p60', viewerCounts, context, true)));
  return rows;
}
