import { spawn, type ChildProcess } from 'node:child_process';
import { JpegFramer, type Frame } from '../frame/index.js';
import { SourceError } from './errors.js';
import type { Source, SourceContext } from './source.js';
import { reasonFromStderr, StderrTail } from './stderr-reason.js';
import { maskPassword } from './source-url.js';
import { ThrottledWarning } from './throttled-warning.js';

export interface ProcessSourceOptions {
  /** The source as the user wrote it (passwords masked). */
  url: string;
  command: string;
  args: readonly string[];
  nominalFps?: number | undefined;
  /** What to tell the user when `command` is not installed. */
  missingCommandHint: string;
  /** Largest JPEG accepted from the process. */
  maxFrameBytes?: number;
}

/** How long a stopped process gets to exit after SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 2000;

/**
 * A source that runs a program printing MJPEG (concatenated JPEGs) on stdout:
 * ffmpeg for webcams, RTSP and files, or any command (`exec:`). stdout goes
 * through the JpegFramer into pooled frames; stderr is kept so that when the
 * process ends, the reason is one line a user can act on.
 *
 * The process runs in its own process group, so stop() also ends whatever a shell
 * command started (rpicam-vid under `sh -c`).
 */
export class ProcessSource implements Source {
  readonly url: string;
  readonly nominalFps: number | undefined;
  private readonly options: ProcessSourceOptions;
  private child: ChildProcess | undefined;
  private framer: JpegFramer | undefined;
  private stopping = false;

  constructor(options: ProcessSourceOptions) {
    this.options = options;
    this.url = options.url;
    this.nominalFps = options.nominalFps;
  }

  /** The running process's PID, for tests and logs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(context: SourceContext): Promise<void> {
    this.stopping = false;
    const stderr = new StderrTail();
    const discards = new ThrottledWarning(context.log);
    const framer = new JpegFramer(
      context.frames,
      (frame: Frame) => context.publish(frame),
      { maxFrameBytes: this.options.maxFrameBytes },
      (reason, bytes) => discards.warn({ reason, bytes }, `discarded a ${reason} JPEG of ${bytes} bytes from ${this.options.command}`),
    );
    this.framer = framer;
    const child = spawn(this.options.command, [...this.options.args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child = child;
    child.stdout?.on('data', (chunk: Buffer) => framer.push(chunk));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => stderr.push(text));

    return new Promise((resolve, reject) => {
      let started = false;
      child.once('spawn', () => {
        started = true;
        context.log.info({ pid: child.pid, command: this.options.command, args: this.options.args.map(maskPassword) }, 'source process started');
        resolve();
      });
      child.once('error', (error: NodeJS.ErrnoException) => {
        const reason = error.code === 'ENOENT' ? this.options.missingCommandHint : `cannot run ${this.options.command}: ${error.message}`;
        if (!started) reject(new SourceError(reason, { cause: error }));
        else if (!this.stopping) context.fail(new SourceError(reason, { cause: error }));
      });
      // 'exit' comes when the process itself ends; 'close' only once every holder of
      // its stdout has gone. A shell killed from outside can leave its children
      // (ffmpeg under `sh -c`) writing: end the whole group so 'close' follows.
      child.once('exit', () => killGroup(child, 'SIGKILL'));
      child.once('close', (code, signal) => {
        framer.reset();
        if (this.child === child) this.child = undefined;
        if (!started || this.stopping) return;
        const how = signal !== null ? `killed by ${signal}` : code === 0 ? 'ended' : `exited with code ${code}`;
        const { frames, bytesSkipped } = framer.stats;
        const fallback =
          frames === 0 && bytesSkipped > 0
            ? `${this.options.command} ${how} without printing a JPEG (${bytesSkipped} bytes of something else): does it write MJPEG to stdout?`
            : `${this.options.command} ${how}`;
        context.fail(new SourceError(reasonFromStderr(stderr.text, fallback)));
      });
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
      this.framer?.reset();
      return;
    }
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), KILL_GRACE_MS);
    await closed;
    clearTimeout(timer);
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}
