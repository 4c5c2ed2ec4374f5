/**
 * The server under test: a child `node dist/src/cli/main.js` process, found by its
 * "camstream listening" log line, and its /api/stats figures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

/** The synthetic camera renders its JPEG ring before listening (a few seconds at 1080p). */
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 3_000;

/** Frames not sent to a viewer, by reason (src/metrics/drop-counters.ts). */
export interface DropStats {
  replaced: number;
  adapted: number;
  encoder_busy: number;
  total: number;
}

/** One viewer's entry in /api/stats (cameras[].viewerList[]). */
export interface ViewerStats {
  id: number;
  userAgent: string | undefined;
  framesSent: number;
  bytesSent: number;
  fps: number;
  drops: DropStats;
  /** Rung on the adaptation ladder (0 = the source's frames at full rate), its cap and profile. */
  level: number;
  maxFps: number | null;
  profile: string;
  lastLatencyMs: number;
}

/** The parts of /api/stats the bench reads. */
export interface ServerStats {
  cameras: {
    framesSent: number;
    framesCaptured: number;
    bytesSent: number;
    drops: DropStats;
    viewerList: ViewerStats[];
  }[];
  pool: { hits: number; misses: number; inUse: number; highWaterMark: number };
  process: { gcCount: number; gcPauseSeconds: number };
}

/**
 * A "viewer adapted" log line: the viewer's new frame-rate cap and profile, and when
 * the bench read it (performance.now()). The line's level number is not taken: it
 * shares the key `level` with pino's own log level.
 */
export interface Adaptation {
  atMs: number;
  viewer: number;
  maxFps: number | null;
  profile: string;
}

export class ServerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Log lines at warn level or above, kept for the report. */
  readonly problems: string[] = [];
  /** Every change of a viewer's adaptation level, as the server logged it (pino writes synchronously, so they arrive as they happen). */
  readonly adaptations: Adaptation[] = [];
  private stderr = '';

  private constructor(child: ChildProcess, pid: number) {
    this.child = child;
    this.pid = pid;
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
  }

  /** Spawns the server; call waitForUrl() next and stop() in a finally. */
  static spawn(root: string, args: readonly string[]): ServerProcess {
    const child = spawn(process.execPath, ['dist/src/cli/main.js', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid === undefined) throw new Error('could not start the server process');
    return new ServerProcess(child, child.pid);
  }

  /**
   * Resolves with the URL from the "camstream listening" line. Keeps reading stdout
   * afterwards: pino writes synchronously, so an unread pipe would stall the server.
   */
  waitForUrl(): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server did not log "camstream listening" within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      this.child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the server exited (code ${code}) before listening: ${this.stderr.trim()}`));
      });
      const stdout = this.child.stdout;
      if (stdout === null) throw new Error('the server was spawned without a stdout pipe');
      const lines = createInterface({ input: stdout });
      lines.on('line', (line) => {
        let entry: { msg?: unknown; url?: unknown; level?: unknown; viewer?: unknown; maxFps?: unknown; profile?: unknown };
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          return;
        }
        if (entry.msg === 'viewer adapted' && typeof entry.viewer === 'number' && typeof entry.profile === 'string') {
          const maxFps = typeof entry.maxFps === 'number' ? entry.maxFps : null;
          this.adaptations.push({ atMs: performance.now(), viewer: entry.viewer, maxFps, profile: entry.profile });
          return;
        }
        if (typeof entry.level === 'number' && entry.level >= 40) this.problems.push(line);
        if (entry.msg === 'camstream listening' && typeof entry.url === 'string') {
          clearTimeout(timer);
          resolve(entry.url);
        }
      });
    });
  }

  /** SIGTERM by PID, SIGKILL if it has not exited in time. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    process.kill(this.pid, 'SIGTERM');
    const timer = setTimeout(() => process.kill(this.pid, 'SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}

export async function fetchStats(url: string): Promise<ServerStats> {
  const response = await fetch(`${url}/api/stats`);
  if (!response.ok) throw new Error(`GET ${url}/api/stats answered ${response.status}`);
  return (await response.json()) as ServerStats;
}
