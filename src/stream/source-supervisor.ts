import type { Logger } from 'pino';
import type { Frame, FrameFactory } from '../frame/index.js';
import { SourceError, type Source, type SourceContext } from '../source/index.js';

export type SourceState = 'idle' | 'starting' | 'live' | 'stalled' | 'retrying' | 'stopped';

export interface SupervisorOptions {
  /** No frame for this long (live or starting) counts as a stall: the source is restarted. */
  stallTimeoutMs: number;
  /** First retry delay; doubles per failure up to maxRetryMs, ±20 % jitter. */
  initialRetryMs: number;
  maxRetryMs: number;
  /** Live this long and the next failure starts again from initialRetryMs. */
  stableAfterMs: number;
  /** Where time comes from; tests pass a fake one. Default: performance.now and Node's timers. */
  clock?: SupervisorClock;
}

/** A timer of a SupervisorClock: the stall watchdog refreshes it rather than allocating a new one per frame. */
export interface SupervisorTimer {
  refresh(): unknown;
  unref(): unknown;
}

/** The supervisor's time: a monotonic clock in milliseconds and one-shot timers. */
export interface SupervisorClock {
  now(): number;
  setTimeout(callback: () => void, ms: number): SupervisorTimer;
  clearTimeout(timer: SupervisorTimer): void;
}

const REAL_CLOCK: SupervisorClock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

export const DEFAULT_SUPERVISOR_OPTIONS: SupervisorOptions = {
  stallTimeoutMs: 5000,
  initialRetryMs: 1000,
  maxRetryMs: 30_000,
  stableAfterMs: 10_000,
};

/** What /api/stats says of a camera's source. */
export interface SourceStatus {
  state: SourceState;
  /** Why the source is not live (the last failure), else null. */
  reason: string | null;
  /** Seconds until the next start attempt, while retrying. */
  retryInSeconds: number | null;
  restarts: number;
  /** Milliseconds since the last frame, or null before the first. */
  lastFrameAgeMs: number | null;
}

/**
 * Keeps a source running: starts it, watches for stalls, and restarts it after a
 * failure with exponential backoff and jitter (so twenty cameras behind one flaky
 * switch do not all reconnect in the same millisecond). Every restart is counted
 * and logged with its cause.
 *
 * Each start gets its own SourceContext ("generation"): a frame or failure from a
 * source that was already restarted or stopped is ignored (its frame released),
 * so a dying process can never publish into the next one's stream.
 */
export class SourceSupervisor {
  private readonly source: Source;
  private readonly frames: FrameFactory;
  private readonly log: Logger;
  private readonly deliver: (frame: Frame) => void;
  private readonly options: SupervisorOptions;
  private readonly clock: SupervisorClock;
  private state: SourceState = 'idle';
  private reason: string | null = null;
  private generation = 0;
  /** The generation of the newest start() call made on the source. */
  private lastStartGeneration = 0;
  private restarts = 0;
  private failuresInARow = 0;
  private liveSinceMs = 0;
  private lastFrameMs = -1;
  private retryAtMs = 0;
  private retryTimer: SupervisorTimer | undefined;
  /**
   * The stall watchdog: one timer re-armed with refresh() on every frame, so
   * watching costs no allocation per frame. A cleared Node timer cannot be
   * refreshed back to life, so it is never cleared: disarming just sets
   * `stallArmed` false and lets it fire harmlessly.
   */
  private stallTimer: SupervisorTimer | undefined;
  private stallTimerPending = false;
  private stallArmed = false;
  private readonly onStallTimer = this.stallTimerFired.bind(this);
  private stopping: Promise<void> | undefined;

  /** Told of every state change (the camera starts or ends "no signal" cards). */
  onStateChange: ((state: SourceState) => void) | undefined;

  constructor(source: Source, frames: FrameFactory, log: Logger, deliver: (frame: Frame) => void, options: Partial<SupervisorOptions> = {}) {
    this.source = source;
    this.frames = frames;
    this.log = log;
    this.deliver = deliver;
    this.options = { ...DEFAULT_SUPERVISOR_OPTIONS, ...options };
    this.clock = options.clock ?? REAL_CLOCK;
  }

  get running(): boolean {
    return this.state !== 'idle' && this.state !== 'stopped';
  }

  get currentState(): SourceState {
    return this.state;
  }

  status(nowMs: number = this.clock.now()): SourceStatus {
    return {
      state: this.state,
      reason: this.state === 'live' ? null : this.reason,
      retryInSeconds: this.state === 'retrying' ? Math.max(0, Math.round((this.retryAtMs - nowMs) / 100) / 10) : null,
      restarts: this.restarts,
      lastFrameAgeMs: this.lastFrameMs < 0 ? null : Math.round(nowMs - this.lastFrameMs),
    };
  }

  /** Starts the source (if not running); failures are retried, never thrown. */
  start(): void {
    if (this.running) return;
    this.failuresInARow = 0;
    void this.attempt();
  }

  /**
   * Stops the source and any retry; resolves when the source has stopped. `idle`
   * is an on-demand camera with no viewers (it starts again on demand).
   */
  async stop(state: 'idle' | 'stopped' = 'stopped'): Promise<void> {
    if (!this.running) {
      if (state === 'stopped') this.state = 'stopped';
      return this.stopping;
    }
    this.generation++;
    this.setState(state);
    this.stallArmed = false;
    if (this.retryTimer !== undefined) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.stopping = this.source.stop().catch((error: unknown) => this.log.warn({ err: error }, 'error while stopping the source'));
    return this.stopping;
  }

  private async attempt(): Promise<void> {
    await this.stopping;
    const generation = ++this.generation;
    this.lastStartGeneration = generation;
    this.setState('starting');
    this.armStall();
    const context: SourceContext = {
      frames: this.frames,
      log: this.log,
      publish: (frame) => this.published(generation, frame),
      fail: (error) => {
        if (generation === this.generation) void this.restart(error.reason);
      },
    };
    try {
      await this.source.start(context);
      // Stopped or restarted (a stall) while it was starting: the late start has set
      // the source running again (its clock, its process), so stop it again, unless
      // a newer start has taken the source over since. The retry waits for this stop.
      if (generation !== this.generation && this.lastStartGeneration === generation) {
        this.stopping = this.source.stop().catch((error: unknown) => this.log.warn({ err: error }, 'error while stopping the source'));
        await this.stopping;
      }
    } catch (error) {
      if (generation !== this.generation) return;
      const reason = error instanceof SourceError ? error.reason : `source failed to start: ${(error as Error).message}`;
      await this.restart(reason);
    }
  }

  private published(generation: number, frame: Frame): void {
    if (generation !== this.generation) {
      frame.release();
      return;
    }
    this.lastFrameMs = frame.capture.monoMs;
    this.armStall();
    if (this.state !== 'live') {
      this.liveSinceMs = this.lastFrameMs;
      this.reason = null;
      this.setState('live');
    }
    this.deliver(frame);
  }

  private armStall(): void {
    this.stallArmed = true;
    if (this.stallTimerPending && this.stallTimer !== undefined) {
      this.stallTimer.refresh();
      return;
    }
    this.stallTimer = this.clock.setTimeout(this.onStallTimer, this.options.stallTimeoutMs);
    this.stallTimer.unref();
    this.stallTimerPending = true;
  }

  private stallTimerFired(): void {
    this.stallTimerPending = false;
    if (!this.stallArmed || (this.state !== 'live' && this.state !== 'starting')) return;
    const reason = `no frame for ${this.options.stallTimeoutMs / 1000} s (stall-timeout)`;
    // Recorded before the state changes, so the 'stalled' log line and listeners see why.
    this.reason = reason;
    this.setState('stalled');
    void this.restart(reason);
  }

  private async restart(reason: string): Promise<void> {
    if (!this.running) return;
    const nowMs = this.clock.now();
    if (this.liveSinceMs > 0 && this.state !== 'starting' && nowMs - this.liveSinceMs >= this.options.stableAfterMs) this.failuresInARow = 0;
    this.liveSinceMs = 0;
    this.generation++;
    this.stallArmed = false;
    this.reason = reason;
    this.restarts++;
    const { initialRetryMs, maxRetryMs } = this.options;
    const base = Math.min(maxRetryMs, initialRetryMs * 2 ** this.failuresInARow);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.failuresInARow++;
    this.log.warn({ cause: reason, restarts: this.restarts, retryInMs: delay }, `source down: ${reason}; retrying in ${(delay / 1000).toFixed(1)} s`);
    await this.source.stop().catch((error: unknown) => this.log.warn({ err: error }, 'error while stopping the source'));
    if (!this.running) return;
    this.retryAtMs = this.clock.now() + delay;
    this.setState('retrying');
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      if (this.state === 'retrying') void this.attempt();
    }, delay);
  }

  private setState(state: SourceState): void {
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    this.log.info({ from: previous, to: state, reason: state === 'live' ? undefined : this.reason ?? undefined }, `source ${state}`);
    this.onStateChange?.(state);
  }

  /** Milliseconds since the last frame (0 before the first). */
  sinceLastFrameMs(nowMs: number = this.clock.now()): number {
    return this.lastFrameMs < 0 ? 0 : nowMs - this.lastFrameMs;
  }
}
