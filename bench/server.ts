/**
 * A server under test as a child process: camstream (`node dist/src/cli/main.js`),
 * a baseline or the raw writer, found by its listening log line; and camstream's
 * /api/stats figures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { LISTENING_MSG } from './baselines/common.js';

/** What to run: a script under node, with node's own arguments (the alloc probe) and extra environment. */
export interface ServerSpec {
  script: string;
  args?: readonly string[];
  nodeArgs?: readonly string[];
  env?: Readonly<Record<string, string>>;
  /** Variables of the bench's own environment the server must not inherit. */
  unsetEnv?: readonly string[];
}

/** camstream's listening line, and the baselines' and raw writer's. */
const LISTENING_MESSAGES: readonly unknown[] = ['camstream listening', LISTENING_MSG];

/** camstream and the baselines render their JPEG ring before listening (a few seconds at 1080p, longer on a busy machine). */
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 3_000;

/** Frames not sent to a viewer, by reason (src/metrics/drop-counters.ts). */
export interface DropStats {
  replaced: number;
  adapted: number;
  encoder_busy: number;
  /** Frames not sent while the viewer's reader held a backlog of unread frames (issue 14); absent from servers that do not count it. */
  draining?: number;
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
    /** Re-encoding against the camera's budget (issue 14): totalMs is the encode time since start; absent from servers that do not export it. */
    encode?: { budgetMsPerSecond: number; msPerSecond: number; totalMs: number; framesOverBudget: number };
    /** Times a viewer's frame was late while its socket said its reader had everything: the server, not the viewer, was slow (issue 14); absent likewise. */
    serverLate?: number;
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
  static spawn(root: string, spec: ServerSpec): ServerProcess {
    const env: NodeJS.ProcessEnv = { ...process.env, ...spec.env };
    for (const name of spec.unsetEnv ?? []) delete env[name];
    const child = spawn(process.execPath, [...(spec.nodeArgs ?? []), spec.script, ...(spec.args ?? [])], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid === undefined) throw new Error('could not start the server process');
    return new ServerProcess(child, child.pid);
  }

  /**
   * Resolves with the URL from the listening line. Keeps reading stdout
   * afterwards: pino writes synchronously, so an unread pipe would stall the server.
   */
  waitForUrl(): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server did not log that it listens within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
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
        if (LISTENING_MESSAGES.includes(entry.msg) && typeof entry.url === 'string') {
          clearTimeout(timer);
          resolve(entry.url);
        }
      });
    });
  }

  /** SIGKILL by PID if it is still running (when the bench is interrupted). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.pid, 'SIGKILL');
  }

  /** SIGTERM by PID, SIGKILL if it has not exited in time. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    process.kill(this.pid, 'SIGTERM');
    const timer = setTimeout(() => this.kill(), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}

export async function fetchStats(url: string): Promise<ServerStats> {
  const response = await fetch(`${url}/api/stats`);
  if (!response.ok) throw new Error(`GET ${url}/api/stats answered ${response.status}`);
  return (await response.json()) as ServerStats;
}
