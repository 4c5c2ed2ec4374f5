/**
 * Lets frames through at no more than `maxFps` on average: a token bucket filled by
 * the time between frames. Frame times jitter, so comparing each interval with
 * 1/maxFps would let a 60 fps camera through at 20 fps instead of 30; the bucket
 * carries what one interval left over to the next, so the average is exact. It
 * holds at most two tokens: enough that jitter never throws credit away, too few
 * for a burst after a pause.
 */
export class FpsGate {
  private maxFps: number | undefined;
  private tokens = 1;
  private lastMs = -1;

  constructor(maxFps?: number) {
    this.maxFps = maxFps;
  }

  get limit(): number | undefined {
    return this.maxFps;
  }

  /** undefined: no limit. */
  setLimit(maxFps: number | undefined): void {
    this.maxFps = maxFps;
  }

  /** Whether a frame captured at `monoMs` may pass. */
  admit(monoMs: number): boolean {
    const maxFps = this.maxFps;
    if (maxFps === undefined) return true;
    if (this.lastMs >= 0) this.tokens = Math.min(2, this.tokens + ((monoMs - this.lastMs) * maxFps) / 1000);
    this.lastMs = monoMs;
    // A small tolerance so float error in the sums never eats a whole frame.
    if (this.tokens < 0.999) return false;
    this.tokens -= 1;
    return true;
  }
}
