import type { Source, SourceContext } from './source.js';
import { FrameClock } from './frame-clock.js';
import { renderRingInChild } from './render-ring.js';
import { RingSlot } from './ring-slot.js';

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
 * tick of a drift-free FrameClock. Each ring frame lives in a RingSlot, laid out as
 * a frame, and is published from there without a copy (with a fresh header); only
 * a slot still being sent from its previous lap is copied into a pooled buffer.
 */
export class SyntheticSource implements Source {
  readonly url: string;
  readonly nominalFps: number;
  private readonly options: Required<SyntheticOptions>;
  private readonly clock: FrameClock;
  private ring: RingSlot[] = [];
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
    return this.ring.reduce((max, slot) => Math.max(max, slot.jpegLength), 0);
  }

  async start(context: SourceContext): Promise<void> {
    const { width, height, quality, ringSize } = this.options;
    if (this.ring.length === 0) {
      const ring: RingSlot[] = [];
      await renderRingInChild({ width, height, quality, count: ringSize }, (length) => {
        const slot = new RingSlot(context.frames, length);
        ring.push(slot);
        return slot.jpeg;
      });
      this.ring = ring;
    }
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
    const slot = this.ring[this.ringIndex] as RingSlot;
    this.ringIndex = (this.ringIndex + 1) % this.ring.length;
    context.publish(slot.publishable(context.frames));
  }
}
