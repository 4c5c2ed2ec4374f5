/**
 * What the baseline servers (naive-server.ts, mjpeg-server-runner.ts; raw-writer.ts
 * for the ring and the listening line) share, so that they serve camstream's
 * synthetic frames the same way camstream's own synthetic camera does: the same ring (rendered in
 * a child process), published at 60 fps by a drift-free timer, each frame copied
 * into a fresh Buffer (no pool: that is what a capture without a buffer pool does).
 *
 * The bench measures them from outside (/proc) and with its alloc probe
 * (bench/alloc-probe.ts), so they carry no instrumentation of their own. Each logs
 * one JSON line when it listens:
 *
 *   {"msg":"baseline listening","url":"http://127.0.0.1:PORT"}
 */
import type { Server } from 'node:net';
import { renderRingInChild } from '../../src/source/render-ring.js';

export const LISTENING_MSG = 'baseline listening';

/** The same ring as `--source synthetic:1920x1080@60`. */
export const RING_OPTIONS = { width: 1920, height: 1080, quality: 85, count: 30 } as const;
export const SOURCE_FPS = 60;

/** One published frame: a fresh copy of a ring entry, stamped when it was "captured". */
export interface PublishedFrame {
  data: Buffer;
  wallMicros: number;
  sequence: number;
}

export function wallMicrosNow(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/**
 * Renders the ring, then publishes a fresh copy of the next ring frame every
 * 1/60 s, scheduled against the start time (not the previous tick), so the rate
 * does not drift.
 */
export async function startSyntheticSource(onFrame: (frame: PublishedFrame) => void): Promise<{ stop(): void }> {
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
  return { stop: () => clearTimeout(timer) };
}

/**
 * Listens on 127.0.0.1 (port from --port, default 0), logs the listening line, and
 * exits cleanly on SIGTERM/SIGINT (`onStop` ends the streams: an HTTP server's
 * connections are closed here, a raw one's by `onStop`).
 */
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
      if ('closeAllConnections' in server && typeof server.closeAllConnections === 'function') server.closeAllConnections();
      server.close();
      process.exit(0);
    });
  }
}
