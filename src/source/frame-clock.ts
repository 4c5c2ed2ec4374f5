/**
 * A drift-free tick for sources that make their own frame rate (the synthetic
 * camera, a folder of JPEGs). Tick k is due at start + k/fps, computed from the
 * start rather than from the previous tick, so timer lateness never accumulates.
 * When the event loop falls more than a tick behind, the missed ticks are skipped
 * (and counted), never delivered in a burst.
 */
export class FrameClock {
  private readonly periodMs: number;
  private readonly onTick: () => void;
  private readonly fire = this.tick.bind(this);
  private timer: NodeJS.Timeout | undefined;
  private startMs = 0;
  private index = 0;
  private skippedTicks = 0;
  private running = false;

  constructor(fps: number, onTick: () => void) {
    this.periodMs = 1000 / fps;
    this.onTick = onTick;
  }

  /** Ticks skipped because the event loop was late by more than a frame interval. */
  get skipped(): number {
    return this.skippedTicks;
  }

  /** Starts ticking; the first tick is now. */
  start(): void {
    this.stop();
    this.running = true;
    this.startMs = performance.now();
    this.index = 0;
    this.tick();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (!this.running) return;
    this.onTick();
    if (!this.running) return;
    const now = performance.now();
    this.index++;
    let dueMs = this.startMs + this.index * this.periodMs;
    if (dueMs < now - this.periodMs) {
      const behind = Math.floor((now - dueMs) / this.periodMs);
      this.skippedTicks += behind;
      this.index += behind;
      dueMs = this.startMs + this.index * this.periodMs;
    }
    this.timer = setTimeout(this.fire, Math.max(0, dueMs - now));
  }
}
