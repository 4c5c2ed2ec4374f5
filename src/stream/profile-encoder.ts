import type { Frame, FrameFactory } from '../frame/index.js';
import { FpsGate } from './fps-gate.js';
import { loadSharp } from './load-sharp.js';
import type { Profile } from './profile.js';

/** What re-encoding to a profile costs: time per frame and bytes per frame, averaged lately. */
export interface EncodeCost {
  readonly averageMs: number;
  readonly averageBytes: number;
}

/**
 * Re-encodes a camera's frames to one profile, for the channel whose viewers need
 * it. Encoding runs in libvips' threads (off the event loop), at most one frame at a
 * time: a frame arriving while one is encoded waits in a single slot where the
 * newest wins, and the one it replaces is counted as `busy`. So when encoding cannot
 * keep up, the profile's frame rate drops instead of a queue growing. Frames are
 * also gated to the highest rate any of the channel's viewers takes.
 *
 * The output keeps the source frame's sequence number and capture time, so
 * X-Timestamp still tells each viewer its true latency.
 */
export class ProfileEncoder {
  /** The highest frame rate its viewers take. */
  readonly gate = new FpsGate();
  /** The frame rate its share of the camera's encoding budget pays for (set by ProfileChannels). */
  readonly budgetGate = new FpsGate();
  /** Frames its viewers would have taken that the budget did not pay for. */
  overBudget = 0;
  /**
   * Average time one encode took lately, ms (0 before the first). The first encode of
   * a profile runs cold (libvips' code paths and caches for this size), measured 10×
   * the next ones on a busy machine: the second replaces it, or a channel reopened for
   * the same profile starts from the figure its last encoder ended with.
   */
  averageMs = 0;
  /** Encodes measured since this encoder started (or 2 when seeded: its figures are warm). */
  private measured = 0;
  encoded = 0;
  busy = 0;
  failed = 0;
  /** Time spent encoding, for the CPU an encoder costs. */
  encodeMs = 0;
  /** Average size of an encoded frame lately, bytes (0 before the first): what a rung on this profile costs a link. */
  averageBytes = 0;
  private encoding = false;
  private waiting: Frame | undefined;
  private closed = false;
  private width: number | undefined;

  constructor(
    private readonly profile: Profile,
    private readonly frames: FrameFactory,
    private readonly deliver: (frame: Frame) => void,
    private readonly onError: (error: Error) => void,
    /** Told when a waiting frame was replaced, so the channel's viewers count the drop. */
    private readonly onBusy: () => void = () => {},
    /** Told after every encode with the time it took, ms (the camera's budget accounting). */
    private readonly onEncoded: (ms: number) => void = () => {},
    /** What the last encoder of this profile measured, if one ran: its cost is known from the start. */
    seed?: EncodeCost,
  ) {
    if (seed !== undefined && seed.averageMs > 0) {
      this.averageMs = seed.averageMs;
      this.averageBytes = seed.averageBytes;
      this.measured = 2;
    }
  }

  /** Whether averageMs says what an encode costs (a warm one was measured, or it was seeded): the budget gate may use it. */
  get costKnown(): boolean {
    return this.measured >= 2;
  }

  /** A source frame (not retained by the caller for us: we retain what we keep). */
  offer(frame: Frame): void {
    if (this.closed || !this.gate.admit(frame.capture.monoMs)) return;
    if (!this.budgetGate.admit(frame.capture.monoMs)) {
      this.overBudget++;
      return;
    }
    if (this.encoding) {
      if (this.waiting !== undefined) {
        this.waiting.release();
        this.busy++;
        this.onBusy();
      }
      this.waiting = frame.retain();
      return;
    }
    void this.encode(frame.retain());
  }

  close(): void {
    this.closed = true;
    this.waiting?.release();
    this.waiting = undefined;
  }

  private async encode(frame: Frame): Promise<void> {
    this.encoding = true;
    try {
      // Loading sharp (once per process) and reading the source's width (once per encoder) are not an encode's cost.
      const sharp = await loadSharp();
      if (this.profile.width === undefined && this.profile.scale !== 1) {
        this.width ??= Math.max(16, Math.round(((await sharp(frame.jpeg).metadata()).width ?? 640) * this.profile.scale));
      }
      const started = performance.now();
      const pipeline = sharp(frame.jpeg, { failOn: 'none' });
      if (this.profile.width !== undefined) pipeline.resize({ width: this.profile.width, withoutEnlargement: true });
      else if (this.width !== undefined) pipeline.resize({ width: this.width });
      // No Huffman table optimisation: a second pass over the coefficients for a few % fewer bytes.
      const jpeg = await pipeline.jpeg({ quality: this.profile.quality, optimiseCoding: false }).toBuffer();
      const tookMs = performance.now() - started;
      this.encodeMs += tookMs;
      this.measured++;
      this.averageMs = this.measured <= 2 ? tookMs : this.averageMs + (tookMs - this.averageMs) * 0.1;
      this.onEncoded(tookMs);
      if (!this.closed) {
        this.encoded++;
        this.averageBytes = this.averageBytes === 0 ? jpeg.length : this.averageBytes + (jpeg.length - this.averageBytes) * 0.1;
        this.deliver(this.frames.fromJpegAs(jpeg, frame.sequence, frame.capture));
      }
    } catch (error) {
      this.failed++;
      this.onError(error as Error);
    } finally {
      frame.release();
      this.encoding = false;
    }
    const next = this.waiting;
    this.waiting = undefined;
    if (next !== undefined && !this.closed) void this.encode(next);
    else next?.release();
  }
}
