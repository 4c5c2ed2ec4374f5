/**
 * Reads another process's CPU time and memory from /proc, so the server is
 * measured from outside, independently of the figures it reports about itself.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (almost always 100). */
export const CLOCK_TICKS: number = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface CpuTimes {
  /** Seconds of CPU spent in user and kernel mode since the process started. */
  user: number;
  system: number;
}

/** /proc/<pid>/<file>, with an error that says what happened when the process is gone. */
function readProc(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`process ${pid} has exited (no /proc/${pid}/${file})`);
    throw error;
  }
}

export function readCpuTimes(pid: number): CpuTimes {
  const stat = readProc(pid, 'stat');
  // The command name (field 2) may contain spaces; fields are counted after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
  return { user: Number(fields[11]) / CLOCK_TICKS, system: Number(fields[12]) / CLOCK_TICKS };
}

/** Resident set size in bytes (VmRSS). */
export function readRssBytes(pid: number): number {
  const status = readProc(pid, 'status');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match === null) throw new Error(`no VmRSS in /proc/${pid}/status; is it a zombie?`);
  return Number(match[1]) * 1024;
}

/** Samples a process's RSS on an interval: `steady` is the mean, `peak` the max. */
export class RssSampler {
  private readonly samples: number[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(pid: number, intervalMs: number) {
    const sample = (): void => {
      // A throw in a timer would end the bench before its cleanup; a server that
      // exited is reported by the next /api/stats request instead.
      try {
        this.samples.push(readRssBytes(pid));
      } catch {
        clearInterval(this.timer);
      }
    };
    sample();
    this.timer = setInterval(sample, intervalMs);
  }

  stop(): { steady: number; peak: number } {
    clearInterval(this.timer);
    if (this.samples.length === 0) return { steady: Number.NaN, peak: Number.NaN };
    const sum = this.samples.reduce((a, b) => a + b, 0);
    return { steady: sum / this.samples.length, peak: Math.max(...this.samples) };
  }
}
