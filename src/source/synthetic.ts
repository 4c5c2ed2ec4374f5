import type { Source, SourceContext } from './source.js';
import { FrameClock } from './frame-clock.js';
import { RingSlot } from './ring-slot.js';
import { sharedRings, type RingCache, type SharedRing } from './shared-ring.js';

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
 *
 * The JPEGs depend only on size, quality and ring length, so cameras alike share
 * one render (RingCache); each still has slots of its own, since a frame's header is
 * written into its slot's memory in front of the JPEG.
 */
export class SyntheticSource implements Source {
  readonly url: string;
  readonly nominalFps: number;
  private readonly options: Required<SyntheticOptions>;
  private readonly clock: FrameClock;
  private readonly rings: RingCache;
  private ring: RingSlot[] = [];
  /** Held while the slots exist, so the next camera of this size reuses the render. */
  private shared: SharedRing | undefined;
  private ringIndex = 0;
  private context: SourceContext | undefined;

  /** `rings`: where renders are shared; the server's own unless a test gives another. */
  constructor(options: SyntheticOptions, rings: RingCache = sharedRings) {
    this.rings = rings;
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
      this.shared = await this.rings.acquire({ width, height, quality, count: ringSize }, (length) => {
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
