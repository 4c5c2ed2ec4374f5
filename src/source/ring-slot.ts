import { Frame, type FrameMemory, type FrameFactory } from '../frame/index.js';

/**
 * One frame of a source's ring (the synthetic camera's): its JPEG sits in memory
 * laid out as a frame's (header space, JPEG, trailer space), so the same bytes can
 * be published again every lap with a fresh header and no copy. The slot counts
 * who still sends it; it is reused only when nobody does, and otherwise its JPEG
 * is copied into a pooled buffer, as before.
 */
export class RingSlot implements FrameMemory {
  readonly bytes: Buffer;
  readonly jpegLength: number;
  private refs = 0;

  constructor(frames: FrameFactory, jpeg: Uint8Array) {
    this.bytes = frames.unpooled(jpeg.length);
    this.bytes.set(jpeg, Frame.JPEG_OFFSET);
    this.jpegLength = jpeg.length;
  }

  get refCount(): number {
    return this.refs;
  }

  retain(): this {
    this.refs++;
    return this;
  }

  release(): void {
    this.refs--;
  }

  /** This lap's frame of the slot: the slot itself when free, else a pooled copy. */
  publishable(frames: FrameFactory): Frame {
    if (this.refs === 0) return frames.seal(this.retain(), this.jpegLength);
    return frames.fromJpeg(this.bytes.subarray(Frame.JPEG_OFFSET, Frame.JPEG_OFFSET + this.jpegLength));
  }
}
