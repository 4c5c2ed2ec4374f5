import { CountedMemory, Frame, type FrameFactory } from '../frame/index.js';

/**
 * One frame of a source's ring (the synthetic camera's): its JPEG sits in memory
 * laid out as a frame's (header space, JPEG, trailer space), so the same bytes can
 * be published again every lap with a fresh header and no copy. The slot counts
 * who still sends it; it is reused only when nobody does, and otherwise its JPEG
 * is copied into a pooled buffer, as before.
 */
export class RingSlot extends CountedMemory {
  readonly jpegLength: number;
  /** Where the JPEG goes: write it here once. */
  readonly jpeg: Buffer;

  constructor(frames: FrameFactory, jpegLength: number) {
    super(frames.unpooled(jpegLength), 0);
    this.jpegLength = jpegLength;
    this.jpeg = this.bytes.subarray(Frame.JPEG_OFFSET, Frame.JPEG_OFFSET + jpegLength);
  }

  /** This lap's frame of the slot: the slot itself when free, else a pooled copy. */
  publishable(frames: FrameFactory): Frame {
    if (this.refCount === 0) return frames.seal(this.retain(), this.jpegLength);
    return frames.fromJpeg(this.jpeg);
  }
}
