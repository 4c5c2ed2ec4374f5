import type { AdaptationLevel } from './profile.js';

/** What a rung costs a viewer's link: bytes per second, or undefined while unknown. */
export type RungCost = (level: AdaptationLevel) => number | undefined;

/** What a viewer's socket says (see LinkMonitor): its read rate (bytes per second while it was behind, and when), and its backlog's recent peak. */
export interface MeasuredCapacity {
  readonly capacity: number;
  readonly capacityAtMs: number;
  readonly peakMs: number;
}

/** What one observation of a linked viewer meant. */
export type Observation = 'steady' | 'changed' | 'server-late';

/** A rung fits a link when it needs at most this share of the link's measured rate (headroom for jitter). */
const FIT_SHARE = 0.8;
/** A measured rate older than this is no reason to skip probing a rung above it: the link may have changed. */
const CAPACITY_FRESH_MS = 4000;

export interface AdaptiveOptions {
  /** Lag (capture to write completion) above this is trouble: step down. Default 250 ms. */
  lagHighMs: number;
  /** Lag below this counts as healthy. Default 80 ms. */
  lagLowMs: number;
  /** Frames replaced in the queue (since the last change) that count as trouble. Default 2. */
  dropsToStepDown: number;
  /** Least time between two steps down, so one backlog is not punished twice. Default 1 s. */
  stepDownCooldownMs: number;
  /** Healthy this long: try one step up. Default 1 s. */
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
  recoverAfterMs: 1000,
  probeWindowMs: 3000,
  maxRecoverAfterMs: 60_000,
};

/**
 * Decides one viewer's rung on the adaptation ladder from what its writes show:
 * frames replaced in its queue (it falls behind) and lag. Steps down on trouble (at
 * most once per cooldown), up one rung after a healthy period. A step up that fails
 * at once doubles the wait before the next try, so a link that fits between two
 * rungs settles instead of oscillating; a step up that holds resets it.
 *
 * With the viewer's socket readable (`observe`, see LinkMonitor) it also knows *whose*
 * delay it sees: a backlog of unread frames is the viewer's, a late frame with nothing
 * waiting for the viewer is the server's (counted, never a reason to step down). And,
 * as a video player's adaptive bitrate does, it steps down straight to the best rung
 * whose cost fits the rate the viewer was measured reading at, and does not probe a
 * rung above that rate while the measure is fresh.
 *
 * Plain arithmetic on plain fields: called on every completed write.
 */
export class AdaptiveController {
  readonly levels: readonly AdaptationLevel[];
  private readonly options: AdaptiveOptions;
  private current = 0;
  private lastChangeMs = -Infinity;
  private lastStepUpMs = -Infinity;
  /** The backlog that fails the step up on trial (see probeCeilingMs). */
  private probeCeiling = Infinity;
  private healthySinceMs = -1;
  private dropsSinceChange = 0;
  private recoverAfterMs: number;
  stepsDown = 0;
  stepsUp = 0;
  /** The viewer's measured read rate, when its socket can tell (set by its Viewer). */
  link: MeasuredCapacity | undefined;
  /**
   * Whether (nearly) every viewer of the camera is late right now (set by its Camera):
   * then the server or the machine is slow, not this viewer's link, and it is not
   * stepped down. Asked only when a step down is about to happen.
   */
  everyoneLate: (() => boolean) | undefined;
  /** Step downs not taken because every viewer was late at once. */
  serverLate = 0;

  constructor(
    levels: readonly AdaptationLevel[],
    options: Partial<AdaptiveOptions> = {},
    private readonly cost: RungCost = () => undefined,
  ) {
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
    return this.healthy(nowMs);
  }

  /**
   * A linked viewer's write completed `lagMs` after capture, and its socket says its
   * reader has not caught up on `backlogMs` of frames: its standing backlog (the least
   * over the last 0.5–1 s, beyond the path's round trip; see LinkMonitor), or a
   * backlog so deep its Viewer drains it. Above lagLowMs it never caught up: trouble.
   * Below half of that, with little lag, healthy. A late write with nothing unread
   * is the server's lateness.
   */
  observe(nowMs: number, lagMs: number, backlogMs: number): Observation {
    const { lagHighMs, lagLowMs } = this.options;
    if (backlogMs > lagLowMs || this.probeOutran(nowMs)) return this.trouble(nowMs) ? 'changed' : 'steady';
    if (lagMs > lagHighMs) {
      // Late, yet nothing waits for the viewer: the server was slow, not its link.
      this.healthySinceMs = -1;
      return 'server-late';
    }
    if (backlogMs >= lagLowMs / 2 || lagMs >= lagLowMs) {
      this.healthySinceMs = -1;
      return 'steady';
    }
    return this.healthy(nowMs) ? 'changed' : 'steady';
  }

  private healthy(nowMs: number): boolean {
    if (this.healthySinceMs < 0) this.healthySinceMs = nowMs;
    if (this.lastStepUpMs > 0 && !this.onTrial(nowMs)) {
      this.recoverAfterMs = this.options.recoverAfterMs; // the last step up held
      this.lastStepUpMs = -Infinity;
    }
    if (this.current === 0) return false;
    if (nowMs - this.healthySinceMs < this.recoverAfterMs || nowMs - this.lastChangeMs < this.recoverAfterMs) return false;
    // Not onto a rung the fresh measured rate leaves no headroom for (the share a step down
    // aims at): a probe that fails costs the viewer a backlog it then has to read out.
    if (!this.fits(this.levels[this.current - 1] as AdaptationLevel, nowMs)) return false;
    // The step up is on trial: a backlog beyond the most it had lately (its reader's own
    // swing) by more than lagLowMs says the new rung outruns it.
    this.probeCeiling = this.link === undefined ? Infinity : this.link.peakMs + this.options.lagLowMs;
    this.current--;
    this.stepsUp++;
    this.lastChangeMs = nowMs;
    this.lastStepUpMs = nowMs;
    this.healthySinceMs = nowMs;
    this.dropsSinceChange = 0;
    return true;
  }

  /**
   * A frame waiting for this viewer was replaced by a newer one. True when the level
   * changed. `viewerBehind` false (its socket says its reader has everything): the
   * server was late, which is no reason to step the viewer down.
   */
  dropped(nowMs: number, viewerBehind = true): boolean {
    this.healthySinceMs = -1;
    if (!viewerBehind) return false;
    if (++this.dropsSinceChange < this.options.dropsToStepDown) return false;
    return this.trouble(nowMs);
  }

  private trouble(nowMs: number): boolean {
    this.healthySinceMs = -1;
    if (this.current >= this.levels.length - 1) return false;
    // Right after a step up, trouble means the probe failed: go back at once. A
    // higher rung can carry several times the bytes, and every frame sent there
    // arrives late, so waiting out the cooldown would cost latency for nothing.
    const probing = this.onTrial(nowMs);
    if (!probing && nowMs - this.lastChangeMs < this.options.stepDownCooldownMs) return false;
    if (this.everyoneLate?.() === true) {
      this.serverLate++;
      return false;
    }
    // The rung it is on fits its fresh measured rate with room to spare: a stall (a
    // retransmission timeout, a pause of its reader) that a lower rung would not cure.
    // Its drain deals with the backlog; a rate measured lower later moves it.
    if (!probing && this.fitsMeasured(this.currentLevel, nowMs)) return false;
    if (probing) {
      // The last step up failed: wait twice as long before trying again.
      this.recoverAfterMs = Math.min(this.options.maxRecoverAfterMs, this.recoverAfterMs * 2);
      this.lastStepUpMs = -Infinity;
    }
    this.current = this.stepDownTarget(nowMs);
    this.stepsDown++;
    this.lastChangeMs = nowMs;
    this.dropsSinceChange = 0;
    return true;
  }

  /**
   * While a step up is on trial, the backlog (ms) beyond which it failed: its Viewer
   * then drains at once, rather than at its usual depth, and the controller steps back.
   * Each frame sent on a rung that outruns the reader is one more it reads late: a
   * reader that reads four times a second holds a quarter second of them anyway.
   * Infinity when no step up is on trial (or its socket cannot be read).
   */
  probeCeilingMs(nowMs: number): number {
    return this.onTrial(nowMs) ? this.probeCeiling : Infinity;
  }

  /** Whether the last step up is still on trial: it came within probeWindowMs, and has not failed since. */
  private onTrial(nowMs: number): boolean {
    return nowMs - this.lastStepUpMs <= this.options.probeWindowMs;
  }

  /**
   * Whether the rung it was just stepped up to needs more than the viewer was measured
   * reading since: the probe failed, before its backlog has stood long enough to count
   * (see LinkMonitor.standingMs). A rate is measured only while the reader is behind.
   */
  private probeOutran(nowMs: number): boolean {
    if (!this.onTrial(nowMs)) return false;
    const link = this.link;
    if (link === undefined || link.capacityAtMs <= this.lastStepUpMs) return false;
    const share = this.shareOfRate(this.currentLevel, nowMs);
    return share !== undefined && share > 1;
  }

  /** One rung down, or further: the best rung below whose cost fits the viewer's fresh measured rate. */
  private stepDownTarget(nowMs: number): number {
    const next = this.current + 1;
    for (let index = next; index < this.levels.length; index++) {
      if (this.fits(this.levels[index] as AdaptationLevel, nowMs)) return index;
    }
    return this.levels.length - 1;
  }

  /** Whether `level` is known to fit the viewer's fresh measured rate (false while unknown or stale). */
  private fitsMeasured(level: AdaptationLevel, nowMs: number): boolean {
    const share = this.shareOfRate(level, nowMs);
    return share !== undefined && share <= FIT_SHARE;
  }

  /** Whether `level` fits the viewer's measured rate with headroom; true while either is unknown or the measure is stale. */
  private fits(level: AdaptationLevel, nowMs: number): boolean {
    const needs = this.shareOfRate(level, nowMs);
    return needs === undefined || needs <= FIT_SHARE;
  }

  /** The share of the viewer's fresh measured rate that `level` needs; undefined while either is unknown or the measure is stale. */
  private shareOfRate(level: AdaptationLevel, nowMs: number): number | undefined {
    const link = this.link;
    if (link === undefined || link.capacity <= 0 || nowMs - link.capacityAtMs > CAPACITY_FRESH_MS) return undefined;
    const cost = this.cost(level);
    return cost === undefined ? undefined : cost / link.capacity;
  }
}
