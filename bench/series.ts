/**
 * A series: one server kind measured at several viewer counts, each count a fresh
 * set of load generators (and, with `freshServer`, a fresh server, so no count
 * inherits another's heap). camstream's rows also carry what only its /api/stats
 * knows: the camera's capture rate, its drops and the pool's hit rate.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { measureWindow, type WindowFigures } from './measure.js';
import { fetchStats, type ServerStats } from './server.js';
import { withServer, type ServerKind } from './servers.js';

/** Pause between windows, so the previous generators' closing sockets are gone. */
const SETTLE_MS = 1000;

export interface CameraFigures {
  captureFps: number;
  /** The camera's drops.total over the window (all viewers). */
  serverDrops: number;
  poolHitPercent: number;
}

export interface Row {
  /** The server kind's name, e.g. "camstream --workers 1", "naive", "raw paced". */
  server: string;
  /** The source, e.g. "1080p60" (rows of one table may differ). */
  source: string;
  figures: WindowFigures;
  camera: CameraFigures | undefined;
}

export interface SeriesContext {
  seconds: number;
  track: Set<{ kill(): void }>;
  log(message: string): void;
  /** What failed, for the report; a failed window or server does not end the run. */
  notes: string[];
}

export async function runSeries(kind: ServerKind, source: string, viewerCounts: readonly number[], context: SeriesContext, freshServer = false): Promise<Row[]> {
  const rows: Row[] = [];
  if (viewerCounts.length === 0) return rows;
  const groups = freshServer ? viewerCounts.map((n) => [n]) : [viewerCounts];
  const failed = (what: string, error: unknown): void => {
    const message = `${kind.name}, ${source}, ${what} failed: ${error instanceof Error ? error.message : String(error)}`;
    context.log(message);
    context.notes.push(message);
    process.exitCode = 1;
  };
  for (const [group, counts] of groups.entries()) {
    if (group > 0) await sleep(SETTLE_MS);
    try {
      await withServer(kind, context.track, context.log, async ({ server, url, probe }) => {
        for (const [index, viewers] of counts.entries()) {
          if (index > 0) await sleep(SETTLE_MS);
          context.log(`${kind.name}, ${source}, ${viewers} viewer(s): ${context.seconds} s measured`);
          const sample = kind.hasApiStats ? () => fetchStats(url) : async () => undefined;
          try {
            const { figures, before, after } = await measureWindow<ServerStats | undefined>({ url, viewers, seconds: context.seconds, pid: server.pid, probe, sample, track: context.track });
            rows.push({ server: kind.name, source, figures, camera: before && after ? cameraFigures(before, after, figures) : undefined });
          } catch (error) {
            failed(`${viewers} viewers`, error);
          }
        }
      });
    } catch (error) {
      failed('the server', error);
    }
  }
  return rows;
}

function cameraFigures(before: ServerStats, after: ServerStats, figures: WindowFigures): CameraFigures {
  const delta = (pick: (stats: ServerStats) => number): number => pick(after) - pick(before);
  const hits = delta((s) => s.pool.hits);
  const misses = delta((s) => s.pool.misses);
  return {
    // The stats requests bracket the CPU window by a few ms; over seconds that is noise.
    captureFps: delta((s) => s.cameras[0]?.framesCaptured ?? 0) / figures.seconds,
    serverDrops: delta((s) => s.cameras[0]?.drops.total ?? 0),
    poolHitPercent: (hits / (hits + misses)) * 100,
  };
}
