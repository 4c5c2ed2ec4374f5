import type SharpConstructor from 'sharp';
import { IdleTrim, limitNativeMemory } from './native-memory.js';

export type Sharp = typeof SharpConstructor;

let sharpModule: Promise<Sharp> | undefined;

/**
 * sharp (libvips) is loaded the first time a viewer needs a re-encoded profile.
 *
 * glibc's malloc settings (native-memory.ts) are made first, before libvips' threads
 * allocate anything, and only in a process that re-encodes: one that never does keeps
 * glibc's defaults. Measured (2 of 10 viewers of a 1080p60 camera re-encoded at full
 * size, plain `node`): RSS peak 146 MB without them, 98-101 MB with them. After 2 s
 * without an encode (the last slow viewer left or recovered) the free memory goes back
 * to the kernel: RSS back to ~82 MB, the figure with no slow viewer, from 99-108.
 */
export function loadSharp(): Promise<Sharp> {
  sharpModule ??= (async () => {
    const memory = limitNativeMemory();
    const sharp = (await import('sharp')).default;
    // Frames are never the same twice: libvips' operation cache would only hold memory.
    sharp.cache(false);
    // One libvips worker per encode. sharp chooses this itself on glibc, but only when
    // MALLOC_ARENA_MAX is unset; set here so the threads (and arenas) are the same
    // however node was started. A JPEG decode and encode is serial: measured, a second
    // thread changes neither the time nor the memory of a 1080p re-encode.
    sharp.concurrency(1);
    if (memory.available) {
      const idle = new IdleTrim(
        () => memory.trim(),
        () => {
          const { queue, process } = sharp.counters();
          return queue + process > 0;
        },
      );
      // sharp reports each encode queued and each one finished.
      sharp.queue.on('change', () => idle.touch());
    }
    return sharp;
  })();
  return sharpModule;
}
