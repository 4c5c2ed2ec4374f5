import type { Frame, FrameFactory } from '../frame/index.js';
import type { NoSignalRenderer } from '../source/index.js';

/** Cards per second while the source is down: enough to show the clock ticking. */
const CARD_INTERVAL_MS = 1000;

/**
 * While a camera's source is down, viewers first keep the last frame; after
 * `afterMs` without a frame they get a "no signal" card (camera name and time),
 * one a second, until the source is back. Cards are the size of the camera's last
 * frame, so a page's layout does not jump.
 */
export class NoSignalFeed {
  private timer: NodeJS.Timeout | undefined;
  private size = { width: 640, height: 360 };
  private down = false;
  private generation = 0;
  cardsSent = 0;

  constructor(
    private readonly camera: string,
    private readonly renderer: NoSignalRenderer,
    private readonly frames: FrameFactory,
    private readonly publish: (frame: Frame) => void,
    private readonly afterMs: number,
  ) {}

  /** The size of the camera's real frames, for the cards. */
  setSize(size: { width: number; height: number } | undefined): void {
    if (size !== undefined) this.size = size;
  }

  /** The source went down `sinceMs` milliseconds ago (0: just now). */
  sourceDown(sinceMs = 0): void {
    if (this.down) return;
    this.down = true;
    this.schedule(Math.max(0, this.afterMs - sinceMs));
  }

  /** Frames flow again (or the camera stopped): no more cards. */
  sourceUp(): void {
    if (!this.down) return;
    this.down = false;
    this.generation++;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => void this.card(), delayMs);
    this.timer.unref();
  }

  private async card(): Promise<void> {
    const generation = this.generation;
    const time = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
    const jpeg = await this.renderer.render({ ...this.size, camera: this.camera, time });
    if (generation !== this.generation || !this.down) return;
    if (jpeg !== undefined) {
      this.cardsSent++;
      this.publish(this.frames.fromJpeg(jpeg));
    }
    this.schedule(CARD_INTERVAL_MS);
  }
}
