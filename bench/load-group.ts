/**
 * One scenario's viewers, split over several load generator processes: a Node
 * generator reading 100 viewers of 1080p60 (1.5 GB/s) keeps one core well busy,
 * so at 200 and 300 viewers one process would measure itself, not the server.
 * Results are merged: viewers concatenated, latency histograms added, CPU summed.
 */
import { LatencyHistogram } from './latency-histogram.js';
import { LoadProcess, type LoadOptions } from './load-process.js';
import type { ReadyMessage, ResultMessage, ViewerResult } from './load-protocol.js';

/** Viewers per generator process at most. */
export const VIEWERS_PER_GENERATOR = 100;

export interface GroupResult {
  seconds: number;
  viewers: ViewerResult[];
  latencyMs: { p50: number; p99: number; max: number; samples: number };
  /** All generators' CPU together, % of one core; and the busiest one's. */
  cpu: { total: number; user: number; system: number; busiest: number };
  generators: number;
}

export class LoadGroup {
  readonly processes: LoadProcess[];

  constructor(script: string, url: string, viewers: number, options: LoadOptions = {}, perProcess = VIEWERS_PER_GENERATOR) {
    const count = Math.max(1, Math.ceil(viewers / perProcess));
    this.processes = Array.from({ length: count }, (_, i) => {
      // Spread evenly: 150 viewers are 75 + 75, not 100 + 50.
      const share = Math.floor(viewers / count) + (i < viewers % count ? 1 : 0);
      return new LoadProcess(script, url, share, options);
    });
  }

  async waitForReady(timeoutMs: number): Promise<ReadyMessage> {
    const readies = await Promise.all(this.processes.map((p) => p.waitForReady(timeoutMs)));
    return { event: 'ready', connected: readies.reduce((s, r) => s + r.connected, 0), failed: readies.reduce((s, r) => s + r.failed, 0) };
  }

  start(): void {
    for (const p of this.processes) p.start();
  }

  async stop(timeoutMs: number): Promise<GroupResult> {
    return mergeResults(await Promise.all(this.processes.map((p) => p.stop(timeoutMs))));
  }

  kill(): void {
    for (const p of this.processes) p.kill();
  }
}

export function mergeResults(results: readonly ResultMessage[]): GroupResult {
  const latency = new LatencyHistogram();
  for (const r of results) latency.merge(r.latencyCounts);
  const sum = (pick: (r: ResultMessage) => number): number => results.reduce((s, r) => s + pick(r), 0);
  return {
    seconds: Math.max(...results.map((r) => r.seconds)),
    viewers: results.flatMap((r) => r.viewers),
    latencyMs: latency.summary(),
    cpu: { total: sum((r) => r.cpu.total), user: sum((r) => r.cpu.user), system: sum((r) => r.cpu.system), busiest: Math.max(...results.map((r) => r.cpu.total)) },
    generators: results.length,
  };
}
