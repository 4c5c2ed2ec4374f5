/**
 * A preload for any server the bench measures (camstream, the baselines, the raw
 * writer), so all are measured the same way and none has to change its code:
 *
 *   CAMSTREAM_ALLOC_PROBE_DIR=/tmp/x node --import <dist>/bench/alloc-probe.js server.js
 *
 * Node 20 has no counter of bytes allocated, so the probe integrates one from
 * v8.GCProfiler's records: between two collections the heap only grows by what
 * was allocated, so the bytes allocated are the sum over collections of (used
 * before this one − used after the previous one), plus (used now − used after the
 * last one).
 *
 * Buffers freed by a collection leave "used" only when V8's array-buffer sweeper
 * has run, by default on another thread after the collection's afterGC figure was
 * taken, which would hide every large Buffer's allocation. So the server runs with
 * `--no-concurrent-array-buffer-sweeping` (AllocProbe.nodeArgs): the sweep is
 * part of the pause and afterGC is exact. The same work is done either way, on the
 * main thread instead of a helper, and every server measured runs with it. "Used" is the V8 heap plus external memory, where the backing stores
 * of Buffers over 4 KB live (the naive server's per-viewer parts, the baselines'
 * fresh frame copies). A Buffer cut from Node's 8 KB pool is counted when the pool
 * slab is allocated, not per slice.
 *
 * Every 200 ms (an unref'd timer: it never keeps the server alive) each thread
 * that loads it writes its running totals to <dir>/<pid>-<threadId>.json; the
 * orchestrator reads them before and after its window (alloc-snapshots.ts).
 * Worker threads and forked workers inherit --import, so each writes its own file.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import { threadId } from 'node:worker_threads';
import { ALLOC_PROBE_ENV, type AllocSnapshot } from './alloc-snapshots.js';

const SNAPSHOT_MS = 200;

/** The part of GCProfiler's output the probe reads. */
interface GcRecord {
  cost: number;
  beforeGC: { heapStatistics: { usedHeapSize: number; externalMemory: number } };
  afterGC: { heapStatistics: { usedHeapSize: number; externalMemory: number } };
}

const dir = process.env[ALLOC_PROBE_ENV];
if (dir !== undefined && dir !== '') {
  const file = `${dir}/${process.pid}-${threadId}.json`;
  const usedNow = (): number => {
    const heap = getHeapStatistics();
    return heap.used_heap_size + heap.external_memory;
  };
  const used = (s: GcRecord['beforeGC']): number => s.heapStatistics.usedHeapSize + s.heapStatistics.externalMemory;
  let allocatedBytes = 0;
  let gcCount = 0;
  let gcPauseMs = 0;
  /** Used bytes after the last collection (or at start). */
  let mark = usedNow();
  let profiler = new GCProfiler();
  profiler.start();
  const snapshot = (): void => {
    const records = (profiler.stop()?.statistics ?? []) as GcRecord[];
    profiler = new GCProfiler();
    profiler.start();
    for (const gc of records) {
      allocatedBytes += used(gc.beforeGC) - mark;
      mark = used(gc.afterGC);
      gcCount++;
      gcPauseMs += gc.cost / 1000;
    }
    const taken: AllocSnapshot = { atMs: performance.timeOrigin + performance.now(), allocatedBytes: allocatedBytes + usedNow() - mark, gcCount, gcPauseMs };
    writeFileSync(`${file}.tmp`, JSON.stringify(taken));
    renameSync(`${file}.tmp`, file);
  };
  snapshot();
  setInterval(snapshot, SNAPSHOT_MS).unref();
}
