/**
 * What the two baseline servers (naive-server.ts, mjpeg-server-runner.ts) share,
 * so that they serve camstream's synthetic frames the same way camstream's own
 * synthetic camera does: the same ring (rendered in a child process), published
 * at 60 fps by a drift-free timer, each frame copied into a fresh Buffer (no pool:
 * that is what a capture without a buffer pool does).
 *
 * Each baseline also answers GET /bench-stats with its GC count (a `gc`
 * PerformanceObserver, as camstream's own /api/stats does) and the parts it has
 * handed to its viewers, and logs one JSON line when it listens:
 *
 *   {"msg":"baseline listening","url":"http://127.0.0.1:PORT"}
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { PerformanceObserver } from 'node:perf_hooks';
import { renderRingInChild } from '../../src/source/render-ring.js';

export const LISTENING_MSG = 'baseline listening';
export const STATS_PATH = '/bench-stats';

/** The same ring as `--source synthetic:1920x1080@60`. */
export const RING_OPTIONS = { width: 1920, height: 1080, quality: 85, count: 30 } as const;
export const SOURCE_FPS = 60;

/** GET /bench-stats: the counters the compare bench reads before and after its window. */
export interface BaselineStats {
  gcCount: number;
  gcPauseMs: number;
  /** Parts handed to viewers (written or queued), summed over viewers. */
  partsWritten: number;
  framesPublished: number;
  viewers: number;
}

/** One published frame: a fresh copy of a ring entry, stamped when it was "captured". */
export interface PublishedFrame {
  data: Buffer;
  wallMicros: number;
  sequence: number;
}

export function wallMicrosNow(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

let gcCount = 0;
let gcPauseMs = 0;
export function watchGc(): void {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcCount++;
      gcPauseMs += entry.duration;
    }
  }).observe({ entryTypes: ['gc'] });
}

/**
 * Renders the ring, then publishes a fresh copy of the next ring frame every
 * 1/60 s, scheduled against the start time (not the previous tick), so the rate
 * does not drift.
 */
export async function startSyntheticSource(onFrame: (frame: PublishedFrame) => void): Promise<{ stop(): void; published(): number }> {
  const ring = await renderRingInChild({ ...RING_OPTIONS });
  const periodMs = 1000 / SOURCE_FPS;
  const startMs = performance.now();
  let sequence = 0;
  let timer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    const jpeg = ring[sequence % ring.length] as Buffer;
    // A fresh buffer for every frame, as a capture without a pool allocates.
    const data = Buffer.allocUnsafeSlow(jpeg.length);
    jpeg.copy(data);
    onFrame({ data, wallMicros: wallMicrosNow(), sequence });
    sequence++;
    timer = setTimeout(tick, Math.max(0, startMs + sequence * periodMs - performance.now()));
  };
  tick();
  return {
    stop: () => clearTimeout(timer),
    published: () => sequence,
  };
}

/** Answers /bench-stats; returns false for any other path. */
export function serveStats(req: IncomingMessage, res: ServerResponse, counters: { partsWritten: number; framesPublished: number; viewers: number }): boolean {
  if (req.url !== STATS_PATH) return false;
  const stats: BaselineStats = { gcCount, gcPauseMs, ...counters };
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(stats));
  return true;
}

/** Listens on 127.0.0.1 (port from --port, default 0), logs the listening line, and exits cleanly on SIGTERM/SIGINT. */
export function listen(server: Server, onStop: () => void): void {
  const portArg = process.argv.indexOf('--port');
  const port = portArg >= 0 ? Number(process.argv[portArg + 1]) : 0;
  server.listen(port, '127.0.0.1', () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('unexpected listening address');
    process.stdout.write(`${JSON.stringify({ msg: LISTENING_MSG, url: `http://127.0.0.1:${address.port}` })}\n`);
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      onStop();
      server.closeAllConnections();
      server.close();
      process.exit(0);
    });
  }
}
