import type { BufferPool, PooledBuffer } from './buffer-pool.js';

/**
 * The reference-counted memory a frame lives in: a PooledBuffer, or in a viewer
 * loop's thread, a view of the main thread's pooled buffer whose last release is
 * reported back to it.
 */
export interface FrameMemory {
  readonly bytes: Buffer;
  readonly refCount: number;
  retain(): unknown;
  release(): void;
}

/**
 * Frame memory that is not a PooledBuffer: a plain count of holders, and a hook for
 * when the last one lets go (RingSlot, RelayedMemory).
 */
export class CountedMemory implements FrameMemory {
  readonly bytes: Buffer;
  private refs: number;

  constructor(bytes: Buffer, holders: number) {
    this.bytes = bytes;
    this.refs = holders;
  }

  get refCount(): number {
    return this.refs;
  }

  retain(): this {
    this.refs++;
    return this;
  }

  release(): void {
    if (--this.refs === 0) this.lastReleased();
  }

  /** Called when the count drops to 0. */
  protected lastReleased(): void {}
}
import { FrameSizeError } from './errors.js';
import { ADVANCE_HEADER, HEADER_SPACE, PART_TRAILER, writePartHeader } from './multipart.js';

/** What follows a JPEG in its buffer: the boundary, then the advance header. */
const TRAILER_SPACE = PART_TRAILER.length + ADVANCE_HEADER.length;

/** When a frame was captured: monotonic (for intervals) and wall clock (for X-Timestamp). */
export interface CaptureTime {
  /** performance.now() at capture, in milliseconds. */
  monoMs: number;
  /** Wall clock at capture, in whole microseconds since the Unix epoch. */
  wallMicros: number;
}

export function captureTimeNow(): CaptureTime {
  const monoMs = performance.now();
  return { monoMs, wallMicros: Math.round((performance.timeOrigin + monoMs) * 1000) };
}

/**
 * One captured JPEG in a pooled buffer, with its multipart part built around it:
 *
 *   bytes: [ unused | part header | JPEG ............ | trailer | advance header | unused ]
 *                    ^part.start   ^JPEG_OFFSET        ^jpeg end
 *
 * `part` (header + JPEG + trailer) is what an MJPEG viewer writes; `advancedPart`
 * (JPEG + trailer + the next part's header) what one with advance headers writes;
 * `jpeg` what a snapshot or a WebSocket viewer sends. All are views of the same
 * pooled memory, made once per frame.
 *
 * A Frame is reference counted through its buffer: whoever stores or sends it calls
 * retain() first and release() when done; the last release returns the memory.
 */
export class Frame {
  /** Where the JPEG starts inside a frame's buffer. */
  static readonly JPEG_OFFSET = HEADER_SPACE;

  readonly sequence: number;
  readonly capture: CaptureTime;
  readonly jpeg: Buffer;
  readonly part: Buffer;
  readonly advancedPart: Buffer;
  private readonly buffer: FrameMemory;

  /** Buffer bytes needed for a JPEG of `jpegLength` bytes and its part framing. */
  static capacityFor(jpegLength: number): number {
    return HEADER_SPACE + jpegLength + TRAILER_SPACE;
  }

  /**
   * Turns a pooled buffer whose JPEG was written at JPEG_OFFSET into a frame. Takes
   * over the caller's reference to `buffer`.
   *
   * With `framedFrom` (where the part starts), the header and trailer are already
   * in `buffer` (another thread's frame over shared memory) and are not rewritten.
   */
  constructor(buffer: FrameMemory, jpegLength: number, sequence: number, capture: CaptureTime, framedFrom?: number) {
    const bytes = buffer.bytes;
    const jpegEnd = HEADER_SPACE + jpegLength;
    if (jpegEnd + TRAILER_SPACE > bytes.length) {
      throw new FrameSizeError(`a ${jpegLength}-byte JPEG needs ${Frame.capacityFor(jpegLength)} buffer bytes, the buffer has ${bytes.length}`);
    }
    let partStart = framedFrom;
    if (partStart === undefined) {
      PART_TRAILER.copy(bytes, jpegEnd);
      ADVANCE_HEADER.copy(bytes, jpegEnd + PART_TRAILER.length);
      partStart = writePartHeader(bytes, HEADER_SPACE, jpegLength, capture.wallMicros, sequence);
    }
    this.buffer = buffer;
    this.sequence = sequence;
    this.capture = capture;
    this.jpeg = bytes.subarray(HEADER_SPACE, jpegEnd);
    this.part = bytes.subarray(partStart, jpegEnd + PART_TRAILER.length);
    this.advancedPart = bytes.subarray(HEADER_SPACE, jpegEnd + TRAILER_SPACE);
  }

  get refCount(): number {
    return this.buffer.refCount;
  }

  retain(): this {
    this.buffer.retain();
    return this;
  }

  release(): void {
    this.buffer.release();
  }
}

/**
 * Makes a camera's frames: numbers them and puts them in pooled buffers. Sources
 * get one from their camera, so sequence numbers continue across source restarts.
 */
export class FrameFactory {
  private readonly pool: BufferPool;
  private lastSequence = 0;

  constructor(pool: BufferPool) {
    this.pool = pool;
  }

  /** Pre-allocates buffers for frames of about `jpegLength` bytes. */
  reserve(jpegLength: number, count: number): void {
    this.pool.reserve(Frame.capacityFor(jpegLength), count);
  }

  /**
   * A pooled buffer big enough for a JPEG of `jpegLength` bytes; write the JPEG at
   * Frame.JPEG_OFFSET, then pass the buffer to seal().
   */
  allocate(jpegLength: number): PooledBuffer {
    return this.pool.acquire(Frame.capacityFor(jpegLength));
  }

  seal(buffer: FrameMemory, jpegLength: number, capture: CaptureTime = captureTimeNow()): Frame {
    return new Frame(buffer, jpegLength, ++this.lastSequence, capture);
  }

  /**
   * A derived frame (a re-encoded profile of frame `sequence`): same sequence
   * number and capture time as its source, so latency stays measurable.
   */
  fromJpegAs(jpeg: Uint8Array, sequence: number, capture: CaptureTime): Frame {
    const buffer = this.allocate(jpeg.length);
    buffer.bytes.set(jpeg, Frame.JPEG_OFFSET);
    return new Frame(buffer, jpeg.length, sequence, capture);
  }

  /**
   * Memory for frames a source keeps and publishes again and again (the synthetic
   * camera's ring), of the pool's kind (shared when viewer loops need it) but not
   * from the pool: the source holds it for as long as it lives.
   */
  unpooled(jpegLength: number): Buffer {
    return this.pool.allocateUnpooled(Frame.capacityFor(jpegLength));
  }

  /** Copies a JPEG into a pooled buffer, as a capture device writes into its own. */
  fromJpeg(jpeg: Uint8Array, capture: CaptureTime = captureTimeNow()): Frame {
    const buffer = this.allocate(jpeg.length);
    buffer.bytes.set(jpeg, Frame.JPEG_OFFSET);
    return this.seal(buffer, jpeg.length, capture);
  }
}
