/**
 * The orchestrator's side of alloc-probe.ts: reads the probe's per-thread totals
 * before and after a window and turns them into the window's allocations and GC.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The environment variable naming the folder the probe writes to. */
export const ALLOC_PROBE_ENV = 'CAMSTREAM_ALLOC_PROBE_DIR';
/** `node --import` argument that loads the probe. */
export const ALLOC_PROBE_IMPORT = new URL('./alloc-probe.js', import.meta.url).href;

/** One thread's running totals, as the probe wrote them. */
export interface AllocSnapshot {
  /** Wall clock of the snapshot, ms since the epoch. */
  atMs: number;
  allocatedBytes: number;
  gcCount: number;
  gcPauseMs: number;
}

/** What a window cost, over all of the server's threads. */
export interface AllocFigures {
  allocatedBytes: number;
  gcCount: number;
  gcPauseMs: number;
  threads: number;
}

export class AllocProbe {
  readonly dir = mkdtempSync(join(tmpdir(), 'camstream-alloc-'));

  /** Node arguments and environment that load the probe into a server (see alloc-probe.ts for the flag). */
  get nodeArgs(): string[] {
    return ['--no-concurrent-array-buffer-sweeping', '--import', ALLOC_PROBE_IMPORT];
  }

  get env(): Record<string, string> {
    return { [ALLOC_PROBE_ENV]: this.dir };
  }

  read(): Map<string, AllocSnapshot> {
    const snapshots = new Map<string, AllocSnapshot>();
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        snapshots.set(name, JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as AllocSnapshot);
      } catch {
        // Renamed into place atomically; a thread that just exited may have left nothing.
      }
    }
    return snapshots;
  }

  /**
   * Scales each thread's totals between its two snapshots to the window's length
   * (snapshots are up to 200 ms off the window's edges; rates are what is compared).
   */
  static between(before: Map<string, AllocSnapshot>, after: Map<string, AllocSnapshot>, windowSeconds: number): AllocFigures {
    const figures: AllocFigures = { allocatedBytes: 0, gcCount: 0, gcPauseMs: 0, threads: 0 };
    for (const [name, end] of after) {
      const start = before.get(name);
      if (start === undefined || end.atMs <= start.atMs) continue;
      const scale = (windowSeconds * 1000) / (end.atMs - start.atMs);
      figures.allocatedBytes += (end.allocatedBytes - start.allocatedBytes) * scale;
      figures.gcCount += (end.gcCount - start.gcCount) * scale;
      figures.gcPauseMs += (end.gcPauseMs - start.gcPauseMs) * scale;
      figures.threads++;
    }
    return figures;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

