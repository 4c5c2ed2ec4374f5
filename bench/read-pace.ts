/**
 * How a slow viewer of the load generator (load.ts) reads: after each read, how long
 * it waits before reading again. Two shapes of slowness, because the kernel answers
 * them differently:
 *
 * - `LinkPace`: a link of `rate` bytes/s, read in small steps so the flow is smooth.
 *   Linux's receive-buffer auto-tuning sizes the buffer from what the application
 *   copies per round trip; small steady reads never grow it (the bench fixes it too).
 * - `PeriodPace`: a busy browser tab, which gets to its socket now and then and takes
 *   a burst: every `periodMs` it reads up to rate × period bytes, then nothing until the
 *   next period. Bursts of hundreds of KB are what make auto-tuning grow the receive
 *   buffer to megabytes, where a backlog hides from the server: its writes keep
 *   completing while seconds of video wait in the viewer's kernel.
 */

export interface ReadPace {
  /** Milliseconds to wait before the next read, after `bytes` were read at `nowMs`; 0 to read on. */
  afterRead(bytes: number, nowMs: number): number;
}

export class LinkPace implements ReadPace {
  /** When the link would be free again (ms, the caller's clock). */
  private freeMs = 0;

  /**
   * @param burstMs credit saved up while the server sent less than the rate, in ms
   *   of the rate: a real link cannot send faster later for having idled, beyond a few packets.
   */
  constructor(
    private readonly rate: number,
    private readonly burstMs: number,
  ) {}

  afterRead(bytes: number, nowMs: number): number {
    this.freeMs = Math.max(this.freeMs, nowMs - this.burstMs) + (bytes / this.rate) * 1000;
    return Math.max(0, this.freeMs - nowMs);
  }
}

export class PeriodPace implements ReadPace {
  private readonly allowance: number;
  /** Bytes left in this period; below 0 when the last read overshot (reads come whole), carried as debt. */
  private budget: number;
  private periodEndMs: number | undefined;

  constructor(
    rate: number,
    private readonly periodMs: number,
  ) {
    this.allowance = (rate * periodMs) / 1000;
    this.budget = this.allowance;
  }

  afterRead(bytes: number, nowMs: number): number {
    this.periodEndMs ??= nowMs + this.periodMs;
    if (nowMs >= this.periodEndMs) {
      // Periods keep to their own clock, so a late timer does not slow the average rate;
      // an allowance not used is lost, as a tab does not read faster later for having found less.
      this.periodEndMs += Math.floor((nowMs - this.periodEndMs) / this.periodMs + 1) * this.periodMs;
      this.budget = Math.min(this.budget, 0) + this.allowance;
    }
    this.budget -= bytes;
    return this.budget > 0 ? 0 : Math.ceil(this.periodEndMs - nowMs);
  }
}
