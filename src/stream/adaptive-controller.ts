import type { AdaptationLevel } from './profile.js';

export interface AdaptiveOptions {
  /** Lag (capture to write completion) above this is trouble: step down. Default 250 ms. */
  lagHighMs: number;
  /** Lag below this counts as healthy. Default 80 ms. */
  lagLowMs: number;
  /** Frames replaced in the queue (since the last change) that count as trouble. Default 2. */
  dropsToStepDown: number;
  /** Least time between two steps down, so one backlog is not punished twice. Default 1 s. */
  stepDownCooldownMs: number;
  /** Healthy this long: try one step up. Default 2 s. */
  recoverAfterMs: number;
  /** A step up that fails within this long doubles recoverAfterMs, up to maxRecoverAfterMs. */
  probeWindowMs: number;
  maxRecoverAfterMs: number;
}

export const DEFAULT_ADAPTIVE_OPTIONS: AdaptiveOptions = {
  lagHighMs: 250,
  lagLowMs: 80,
  dropsToStepDown: 2,
  stepDownCooldownMs: 1000,
  recoverAfterMs: 2000,
  probeWindowMs: 3000,
  maxRecoverAfterMs: 60_000,
};

/**
 * Decides one viewer's rung on the adaptation ladder from what its writes show:
 * frames replaced in its queue (it falls behind) and lag. Steps down one rung on
 * trouble (at most once per cooldown), up one rung after a healthy period. A step
 * up that fails at once doubles the wait before the next try, so a link that fits
 * between two rungs settles instead of oscillating; a step up that holds resets it.
 *
 * Plain arithmetic on plain fields: called on every completed write.
 */
export class AdaptiveController {
  readonly levels: readonly AdaptationLevel[];
  private readonly options: AdaptiveOptions;
  private current = 0;
  private lastChangeMs = -Infinity;
  private lastStepUpMs = -Infinity;
  private healthySinceMs = -1;
  private dropsSinceChange = 0;
  private recoverAfterMs: number;
  stepsDown = 0;
  stepsUp = 0;

  constructor(levels: readonly AdaptationLevel[], options: Partial<AdaptiveOptions> = {}) {
    if (levels.length === 0) throw new RangeError('an adaptation ladder needs at least one level');
    this.levels = levels;
    this.options = { ...DEFAULT_ADAPTIVE_OPTIONS, ...options };
    this.recoverAfterMs = this.options.recoverAfterMs;
  }

  get level(): number {
    return this.current;
  }

  get currentLevel(): AdaptationLevel {
    return this.levels[this.current] as AdaptationLevel;
  }

  /** A write completed `lagMs` after its frame's capture. True when the level changed. */
  written(nowMs: number, lagMs: number): boolean {
    if (lagMs > this.options.lagHighMs) return this.trouble(nowMs);
    if (lagMs >= this.options.lagLowMs) {
      this.healthySinceMs = -1;
      return false;
    }
    if (this.healthySinceMs < 0) this.healthySinceMs = nowMs;
    if (this.lastStepUpMs > 0 && nowMs - this.lastStepUpMs > this.options.probeWindowMs) {
      this.recoverAfterMs = this.options.recoverAfterMs; // the last step up held
      this.lastStepUpMs = -Infinity;
    }
    if (this.current === 0) return false;
    if (nowMs - this.healthySinceMs < this.recoverAfterMs || nowMs - this.lastChangeMs < this.recoverAfterMs) return false;
    this.current--;
    this.stepsUp++;
    this.lastChangeMs = nowMs;
    this.lastStepUpMs = nowMs;
    this.healthySinceMs = nowMs;
    this.dropsSinceChange = 0;
    return true;
  }

  /** A frame waiting for this viewer was replaced by a newer one. True when the level changed. */
  dropped(nowMs: number): boolean {
    this.healthySinceMs = -1;
    if (++this.dropsSinceChange < this.options.dropsToStepDown) return false;
    return this.trouble(nowMs);
  }

  private trouble(nowMs: number): boolean {
    this.healthySinceMs = -1;
    if (this.current >= this.levels.length - 1) return false;
    // Right after a step up, trouble means the probe failed: go back at once. A
    // higher rung can carry several times the bytes, and every frame sent there
    // arrives late, so waiting out the cooldown would cost latency for nothing.
    const probing = nowMs - this.lastStepUpMs <= this.options.probeWindowMs;
    if (!probing && nowMs - this.lastChangeMs < this.options.stepDownCooldownMs) return false;
    if (probing) {
      // The last step up failed: wait twice as long before trying again.
      this.recoverAfterMs = Math.min(this.options.maxRecoverAfterMs, this.recoverAfterMs * 2);
      this.lastStepUpMs = -Infinity;
    }
    this.current++;
    this.stepsDown++;
    this.lastChangeMs = nowMs;
    this.dropsSinceChange = 0;
    return true;
  }
}
