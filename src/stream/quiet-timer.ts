/** What a QuietTimer watches: how long is allowed, since when, and whether to watch at all now. */
export interface QuietWatch {
  /** How long the quiet may last (read when the timer is armed and when it fires). */
  limitMs(): number;
  /** performance.now() of the last event that counts: the quiet started then. */
  sinceMs(): number;
  /** Whether the watch still applies; when it fires and this is false, it goes idle. */
  active(): boolean;
  /** The quiet lasted the limit. */
  expired(): void;
}

/**
 * Notices that nothing happened for a while, without being re-armed on every event:
 * re-arming a timer per frame (per viewer) re-sorts Node's timer list each time.
 * It is armed once; when it fires it looks at how long ago the last event was and,
 * if that was recent, waits only for what is left. Used for a viewer's stalled
 * write and for a camera's pause (dual final frames).
 */
export class QuietTimer {
  private timer: NodeJS.Timeout | undefined;
  private readonly onFire = this.fired.bind(this);

  constructor(private readonly watch: QuietWatch) {}

  /** Starts watching if it is not already (cheap to call on every event). */
  arm(delayMs?: number): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(this.onFire, delayMs ?? this.watch.limitMs());
    this.timer.unref();
  }

  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private fired(): void {
    this.timer = undefined;
    if (!this.watch.active()) return;
    const quietMs = performance.now() - this.watch.sinceMs();
    const limitMs = this.watch.limitMs();
    if (quietMs >= limitMs) this.watch.expired();
    else this.arm(limitMs - quietMs);
  }
}
