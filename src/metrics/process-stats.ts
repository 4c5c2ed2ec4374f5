import { PerformanceObserver } from 'node:perf_hooks';

export interface ProcessStats {
  rssBytes: number;
  heapUsedBytes: number;
  /** CPU time since start, user and system, in seconds. */
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  /** Garbage collections since the monitor started, and their summed pause. */
  gcCount: number;
  gcPauseSeconds: number;
  uptimeSeconds: number;
}

/** Watches garbage collection (a `gc` PerformanceObserver) and reads process figures on demand. */
export class ProcessMonitor {
  private gcCount = 0;
  private gcPauseMs = 0;
  private readonly observer: PerformanceObserver;

  constructor() {
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        this.gcCount++;
        this.gcPauseMs += entry.duration;
      }
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  stats(): ProcessStats {
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    return {
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      cpuUserSeconds: cpu.user / 1e6,
      cpuSystemSeconds: cpu.system / 1e6,
      gcCount: this.gcCount,
      gcPauseSeconds: this.gcPauseMs / 1000,
      uptimeSeconds: process.uptime(),
    };
  }

  close(): void {
    this.observer.disconnect();
  }
}
