import type { Frame } from '../frame/index.js';
import type { Source, SourceContext } from './source.js';
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
 * The built-in test camera. It renders a ring of JPEGs once, then delivers one
 * per tick on a drift-free schedule: tick k is due at start + k/fps, computed from
 * the start time rather than from the previous tick, so timer lateness never
 * accumulates. Each delivery copies the ring's JPEG into a pooled buffer, as a
 * capture device writes into its own buffers. When the event loop falls more than a
 * tick behind, the missed ticks are skipped (and counted), never delivered in a burst.
 */
export class SyntheticSource implements Source {
  readonly url: string;
  readonly nominalFps: number;
  private readonly options: Required<SyntheticOptions>;
  private ring: Buffer[] = [];
  private context: SourceContext | undefined;
  private timer: NodeJS.Timeout | undefined;
  private startMs = 0;
  private tickIndex = 0;
  private ringIndex = 0;
  private skipped = 0;
  private readonly onTick = this.tick.bind(this);

  constructor(options: SyntheticOptions) {
    this.options = { quality: 85, ringSize: 30, ...options };
    this.nominalFps = options.fps;
    this.url = `synthetic:${options.width}x${options.height}@${options.fps}`;
  }

  /** Ticks skipped because the event loop was late by more than a frame interval. */
  get ticksSkipped(): number {
    return this.skipped;
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
    this.startMs = performance.now();
    this.tickIndex = 0;
    context.log.info({ source: this.url, ring: this.ring.length, largestFrame: this.largestFrame }, 'synthetic camera started');
    this.tick();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.context = undefined;
  }

  private tick(): void {
    const context = this.context;
    if (context === undefined) return;
    const jpeg = this.ring[this.ringIndex] as Buffer;
    this.ringIndex = (this.ringIndex + 1) % this.ring.length;
    const frame: Frame = context.frames.fromJpeg(jpeg);
    context.publish(frame);

    const periodMs = 1000 / this.nominalFps;
    const now = performance.now();
    this.tickIndex++;
    let dueMs = this.startMs + this.tickIndex * periodMs;
    if (dueMs < now - periodMs) {
      const behind = Math.floor((now - dueMs) / periodMs);
      this.skipped += behind;
      this.tickIndex += behind;
      dueMs = this.startMs + this.tickIndex * periodMs;
    }
    if (this.context !== undefined) this.timer = setTimeout(this.onTick, Math.max(0, dueMs - now));
  }
}
