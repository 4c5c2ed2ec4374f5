import type { Source, SourceContext } from './source.js';
import { FrameClock } from './frame-clock.js';
import { renderRingInChild } from './render-ring.js';

export interface SyntheticOptions {
  width: number;
  height: number;
  fps: number;
  /** JPEG quality of the rendered frames, 1–100. Default 85. */
  quality?: number;
  /** Distinct frames in the ring. Default 30. */
  ringSize?: number;
}

/**
 * The built-in test camera. It renders a ring of JPEGs once, then delivers one per
 * tick of a drift-free FrameClock. Each delivery copies the ring's JPEG into a
 * pooled buffer, as a capture device writes into its own buffers.
 */
export class SyntheticSource implements Source {
  readonly url: string;
  readonly nominalFps: number;
  private readonly options: Required<SyntheticOptions>;
  private readonly clock: FrameClock;
  private ring: Buffer[] = [];
  private ringIndex = 0;
  private context: SourceContext | undefined;

  constructor(options: SyntheticOptions) {
    this.options = { quality: 85, ringSize: 30, ...options };
    this.nominalFps = options.fps;
    this.url = `synthetic:${options.width}x${options.height}@${options.fps}`;
    this.clock = new FrameClock(options.fps, () => this.deliver());
  }

  /** Ticks skipped because the event loop was late by more than a frame interval. */
  get ticksSkipped(): number {
    return this.clock.skipped;
  }

  /** The size of the largest rendered frame, once started. */
  get largestFrame(): number {
    return this.ring.reduce((max, jpeg) => Math.max(max, jpeg.length), 0);
  }

  async start(context: SourceContext): Promise<void> {
    const { width, height, quality, ringSize } = this.options;
    if (this.ring.length === 0) {
      this.ring = await renderRingInChild({ width, height, quality, count: ringSize });
    }
    // Enough buffers for the frame being published, the one before it, and a few
    // in flight to viewers; the pool grows by itself if more are needed.
    context.frames.reserve(this.largestFrame, 8);
    this.context = context;
    context.log.info({ source: this.url, ring: this.ring.length, largestFrame: this.largestFrame }, 'synthetic camera started');
    this.clock.start();
  }

  async stop(): Promise<void> {
    this.clock.stop();
    this.context = undefined;
  }

  private deliver(): void {
    const context = this.context;
    if (context === undefined) return;
    const jpeg = this.ring[this.ringIndex] as Buffer;
    this.ringIndex = (this.ringIndex + 1) % this.ring.length;
    context.publish(context.frames.fromJpeg(jpeg));
  }
}
