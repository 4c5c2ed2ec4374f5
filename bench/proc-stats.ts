/**
 * Reads another process's CPU time and memory from /proc, so the server is
 * measured from outside, independently of the figures it reports about itself.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

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

/** /proc/<pid>/stat's fields after the command name (which may contain spaces): [0] is field 3 (state). */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

export function readCpuTimes(pid: number): CpuTimes {
  const fields = statFields(readProc(pid, 'stat'));
  // utime (14) and stime (15) are at 11 and 12.
  return { user: Number(fields[11]) / CLOCK_TICKS, system: Number(fields[12]) / CLOCK_TICKS };
}

/**
 * `pid` and its live descendants: a server that serves from worker processes
 * (camstream --workers, if it forks) is all of them. Threads are already in their
 * process's figures. Found by scanning /proc for parent PIDs.
 */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let parent: number;
    try {
      parent = Number(statFields(readFileSync(`/proc/${name}/stat`, 'utf8'))[1]);
    } catch {
      continue; // exited while we looked
    }
    children.set(parent, [...(children.get(parent) ?? []), Number(name)]);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i] as number) ?? []));
  return tree;
}

/** CPU time of a process and its live descendants together. */
export function readTreeCpuTimes(pid: number): CpuTimes {
  const total: CpuTimes = { user: 0, system: 0 };
  for (const member of processTree(pid)) {
    try {
      const times = readCpuTimes(member);
      total.user += times.user;
      total.system += times.system;
    } catch (error) {
      if (member === pid) throw error;
    }
  }
  return total;
}

/** Resident set size of a process and its live descendants together. */
function readTreeRssBytes(pid: number): number {
  return processTree(pid).reduce((sum, member) => {
    try {
      return sum + readRssBytes(member);
    } catch (error) {
      if (member === pid) throw error;
      return sum;
    }
  }, 0);
}

/** Resident set size in bytes (VmRSS). */
export function readRssBytes(pid: number): number {
  const status = readProc(pid, 'status');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match === null) throw new Error(`no VmRSS in /proc/${pid}/status; is it a zombie?`);
  return Number(match[1]) * 1024;
}

/**
 * The process's own RSS high-water mark in bytes (VmHWM): the kernel's peak since the
 * process started, which no sampling interval can miss. Not its descendants'.
 */
export function readPeakRssBytes(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readProc(pid, 'status'));
  if (match === null) throw new Error(`no VmHWM in /proc/${pid}/status; is it a zombie?`);
  return Number(match[1]) * 1024;
}

/** Samples the RSS of a process (and its descendants) on an interval: `steady` is the mean, `peak` the max. */
export class RssSampler {
  private readonly samples: number[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(pid: number, intervalMs: number) {
    const sample = (): void => {
      // A throw in a timer would end the bench before its cleanup; a server that
      // exited is reported by the next /api/stats request instead.
      try {
        this.samples.push(readTreeRssBytes(pid));
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
