import type { PooledBuffer } from './buffer-pool.js';
import { FrameSizeError } from './errors.js';
import { Frame, type FrameFactory } from './frame.js';

/**
 * Cuts a camera's byte stream (ffmpeg `-f mjpeg`, a command's stdout, an HTTP
 * multipart body without Content-Length) into whole JPEGs, each written straight
 * into a pooled buffer: the only copy is chunk → pooled buffer.
 *
 * Why follow the marker structure instead of searching for FF D9: an EXIF APP1
 * segment often holds a whole thumbnail JPEG, with its own FF D8 … FF D9, and a
 * naive framer ends the frame at the thumbnail's EOI. Here every segment is skipped
 * by its length, so only an EOI at the top level of the structure ends a frame.
 *
 * Layout of a JPEG as parsed here:
 *
 *   FF D8 (SOI)  { [FF…] FF xx len:u16be payload(len-2) | FF D0–D7 | FF 01 }*
 *   FF DA len header(len-2)  entropy data (FF 00 stuffing, FF D0–D7 restarts)
 *   … more segments and scans (progressive JPEGs) …
 *   FF D9 (EOI)
 *
 * Every byte pushed ends up in exactly one place: an emitted frame, a discarded
 * frame (reported to onDiscard with its byte count), `stats.bytesSkipped` (bytes
 * outside any frame), or the frame still in progress.
 *
 * Not re-entrant: onFrame/onDiscard must not call push() (calling reset() is fine).
 */

export interface JpegFramerOptions {
  /**
   * A frame longer than this is discarded as 'oversize' and the framer skips to the
   * next SOI, so a stream that never ends a frame cannot grow memory without bound.
   * Default 16 MiB.
   */
  maxFrameBytes?: number;
}

/**
 * Why a frame was thrown away:
 * - 'truncated': a new SOI arrived before its EOI (the JPEG was cut short);
 * - 'oversize': it grew past maxFrameBytes;
 * - 'corrupt': a byte broke the marker structure (a segment not starting with FF,
 *   FF 00 outside entropy data, a segment length below 2).
 */
export type JpegDiscardReason = 'oversize' | 'truncated' | 'corrupt';

/** Live counters, updated in place (read them whenever; copy for a snapshot). */
export interface JpegFramerStats {
  /** JPEGs emitted through onFrame. */
  frames: number;
  /** Bytes outside any frame: before an SOI, or after a discarded frame until the next SOI. */
  bytesSkipped: number;
  truncated: number;
  oversize: number;
  corrupt: number;
  /** Frames that outgrew their buffer and were moved to a bigger one. */
  regrows: number;
}

export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** The smallest buffer taken for a new frame, so small cameras do not regrow from tiny guesses. */
const MIN_ESTIMATE = 64 * 1024;
/** Frames remembered for the size estimate: enough to ride out a few smaller frames. */
const RECENT_FRAMES = 8;
/** Headroom over the largest recent frame, so normal frame-to-frame jitter needs no regrow. */
const ESTIMATE_HEADROOM = 1.25;
/** Buffer bytes a frame needs beyond its JPEG (part header space and trailer). */
const FRAME_OVERHEAD = Frame.capacityFor(0);

const MARKER_PREFIX = 0xff;
const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const RST0 = 0xd0;
const RST7 = 0xd7;
const TEM = 0x01;
const STUFFING = 0x00;

// Parser states. Plain numbers in one field so the per-chunk loop is a switch with no allocation.
/** Outside a frame: looking for an FF that may start an SOI. */
const SEEK_FF = 0;
/** Outside a frame: saw FF, an SOI if the next byte is D8. */
const SEEK_SOI = 1;
/** In a frame, between segments: the next byte must be FF. */
const MARKER = 2;
/** In a frame: saw FF, the next byte is the marker code (or another FF fill byte). */
const MARKER_CODE = 3;
const LENGTH_HIGH = 4;
const LENGTH_LOW = 5;
/** Skipping a segment's payload by its length, whatever bytes it holds (EXIF thumbnails). */
const SEGMENT = 6;
/** Entropy-coded data after an SOS header: only FF needs a look. */
const SCAN = 7;
/** In entropy-coded data: saw FF. */
const SCAN_FF = 8;

export class JpegFramer {
  private readonly factory: FrameFactory;
  private readonly onFrame: (frame: Frame) => void;
  private readonly onDiscard: ((reason: JpegDiscardReason, bytes: number) => void) | undefined;
  private readonly maxFrameBytes: number;
  private readonly counters: JpegFramerStats = { frames: 0, bytesSkipped: 0, truncated: 0, oversize: 0, corrupt: 0, regrows: 0 };

  private state = SEEK_FF;
  /** The frame in progress; undefined outside a frame. */
  private buffer: PooledBuffer | undefined = undefined;
  /** JPEG bytes of the frame in progress already copied into `buffer`. */
  private written = 0;
  /**
   * Index in the current chunk where the frame's not-yet-copied bytes begin. Bytes
   * are copied in runs (at chunk end, at EOI), not one by one while parsing.
   */
  private runStart = 0;
  /** Index in the current chunk of the first byte that would make the frame oversize. */
  private frameLimit = 0;
  private segmentRemaining = 0;
  /** The segment being skipped is an SOS header, so entropy-coded data follows it. */
  private segmentIsScan = false;
  private lengthHigh = 0;
  /** Sizes of the last RECENT_FRAMES frames, a ring, for the next frame's buffer size. */
  private readonly recentSizes: number[] = new Array<number>(RECENT_FRAMES).fill(0);
  private recentNext = 0;

  constructor(
    factory: FrameFactory,
    onFrame: (frame: Frame) => void,
    options: JpegFramerOptions = {},
    onDiscard?: (reason: JpegDiscardReason, bytes: number) => void,
  ) {
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    // 4 bytes is the smallest JPEG structure: SOI + EOI.
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 4) {
      throw new FrameSizeError(`maxFrameBytes must be a whole number >= 4, got ${maxFrameBytes}`);
    }
    this.factory = factory;
    this.onFrame = onFrame;
    this.onDiscard = onDiscard;
    this.maxFrameBytes = maxFrameBytes;
  }

  /** The live counters (the same object every time). */
  get stats(): Readonly<JpegFramerStats> {
    return this.counters;
  }

  /**
   * Feeds the next bytes of the stream. Chunks may split the stream anywhere, even
   * between FF and its marker code. Emits every JPEG completed by this chunk, in
   * order. The chunk is not kept after push() returns.
   */
  push(chunk: Uint8Array): void {
    // Buffer for indexOf/copy with offsets; streams and sockets already give Buffers.
    const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const end = data.length;
    let pos = 0;
    this.runStart = 0;
    this.frameLimit = this.maxFrameBytes - this.written;

    while (pos < end) {
      const state = this.state;
      if (state >= MARKER && pos >= this.frameLimit && !((state === MARKER_CODE || state === SCAN_FF) && data[pos] === SOI)) {
        // The byte at pos would be byte maxFrameBytes + 1; it is rescanned outside the
        // frame. (An SOI's D8 right at the limit is let through: it ends this frame as
        // truncated and starts the next one, which rescanning would miss.)
        this.discard('oversize', this.maxFrameBytes);
        continue;
      }
      switch (state) {
        case SEEK_FF: {
          const ff = data.indexOf(MARKER_PREFIX, pos);
          if (ff < 0) {
            this.counters.bytesSkipped += end - pos;
            pos = end;
          } else {
            this.counters.bytesSkipped += ff - pos; // the FF itself waits: it may begin an SOI
            pos = ff + 1;
            this.state = SEEK_SOI;
          }
          break;
        }
        case SEEK_SOI: {
          const code = data[pos] as number;
          pos++;
          if (code === SOI) {
            this.startFrame(pos);
          } else if (code === MARKER_PREFIX) {
            this.counters.bytesSkipped += 1; // the earlier FF; this one may still start an SOI
          } else {
            this.counters.bytesSkipped += 2;
            this.state = SEEK_FF;
          }
          break;
        }
        case MARKER: {
          if (data[pos] !== MARKER_PREFIX) {
            this.discard('corrupt', this.frameLength(pos));
            break; // the byte at pos is rescanned outside the frame
          }
          pos++;
          this.state = MARKER_CODE;
          break;
        }
        case MARKER_CODE: {
          const code = data[pos] as number;
          if (code === STUFFING) {
            this.discard('corrupt', this.frameLength(pos));
            break;
          }
          pos++;
          if (code !== MARKER_PREFIX) this.marker(code, data, pos); // FF FF…: fill bytes before the code
          break;
        }
        case LENGTH_HIGH: {
          this.lengthHigh = data[pos] as number;
          pos++;
          this.state = LENGTH_LOW;
          break;
        }
        case LENGTH_LOW: {
          const length = (this.lengthHigh << 8) | (data[pos] as number);
          if (length < 2) {
            this.discard('corrupt', this.frameLength(pos));
            break;
          }
          pos++;
          this.segmentRemaining = length - 2; // the length counts its own two bytes
          this.state = length === 2 ? this.afterSegment() : SEGMENT;
          break;
        }
        case SEGMENT: {
          const take = Math.min(this.segmentRemaining, Math.min(end, this.frameLimit) - pos);
          pos += take;
          this.segmentRemaining -= take;
          if (this.segmentRemaining === 0) this.state = this.afterSegment();
          break;
        }
        case SCAN: {
          const stop = Math.min(end, this.frameLimit);
          const ff = data.indexOf(MARKER_PREFIX, pos);
          if (ff < 0 || ff >= stop) {
            pos = stop;
          } else {
            pos = ff + 1;
            this.state = SCAN_FF;
          }
          break;
        }
        case SCAN_FF: {
          const code = data[pos] as number;
          pos++;
          if (code === STUFFING || (code >= RST0 && code <= RST7)) {
            this.state = SCAN; // a data byte FF, or a restart marker: still in the scan
          } else if (code !== MARKER_PREFIX) {
            this.marker(code, data, pos); // EOI, or the next segment (progressive JPEGs)
          }
          break;
        }
      }
    }

    if (this.buffer !== undefined) this.copyRun(data, end);
  }

  /**
   * Forgets the frame in progress (the source restarted, so its rest will never
   * come) and returns its buffer to the pool. Not counted as a discard: the caller
   * knows why.
   */
  reset(): void {
    if (this.state === SEEK_SOI) this.counters.bytesSkipped += 1; // the FF held back in case D8 followed
    const buffer = this.buffer;
    this.buffer = undefined;
    this.written = 0;
    this.state = SEEK_FF;
    buffer?.release();
  }

  /** Handles the marker `code` that ended just before `pos`, in a frame. */
  private marker(code: number, data: Buffer, pos: number): void {
    if (code === EOI) {
      this.finishFrame(data, pos);
    } else if (code === SOI) {
      // A new JPEG before this one ended: the stream lost this one's tail.
      const bytes = this.frameLength(pos) - 2; // the FF D8 belongs to the new frame
      this.counters.truncated++;
      this.startFrame(pos);
      this.onDiscard?.('truncated', bytes);
    } else if ((code >= RST0 && code <= RST7) || code === TEM) {
      this.state = MARKER; // standalone markers carry no length
    } else {
      this.segmentIsScan = code === SOS;
      this.state = LENGTH_HIGH;
    }
  }

  private afterSegment(): number {
    return this.segmentIsScan ? SCAN : MARKER;
  }

  /** Logical length of the frame in progress up to (not including) chunk index `pos`. */
  private frameLength(pos: number): number {
    return this.written + (pos - this.runStart);
  }

  /**
   * Starts a frame whose SOI ended just before `pos`. Reuses the buffer of a
   * truncated frame, so a cut stream does not churn the pool.
   */
  private startFrame(pos: number): void {
    if (this.buffer === undefined) this.buffer = this.factory.allocate(this.estimateSize());
    // The SOI is written here rather than copied, since its FF may have come in the previous chunk.
    const bytes = this.buffer.bytes;
    bytes[Frame.JPEG_OFFSET] = MARKER_PREFIX;
    bytes[Frame.JPEG_OFFSET + 1] = SOI;
    this.written = 2;
    this.runStart = pos;
    this.frameLimit = pos + this.maxFrameBytes - 2;
    this.state = MARKER;
  }

  /** Copies the chunk's bytes of the frame from runStart up to `pos` into the frame's buffer. */
  private copyRun(data: Buffer, pos: number): void {
    const count = pos - this.runStart;
    if (count <= 0) return;
    const needed = this.written + count;
    let buffer = this.buffer as PooledBuffer;
    if (needed > buffer.bytes.length - FRAME_OVERHEAD) buffer = this.regrow(buffer, needed);
    data.copy(buffer.bytes, Frame.JPEG_OFFSET + this.written, this.runStart, pos);
    this.written = needed;
    this.runStart = pos;
  }

  /** Moves the frame to a buffer that holds `needed` JPEG bytes, at least doubling so regrows stay rare. */
  private regrow(old: PooledBuffer, needed: number): PooledBuffer {
    const capacity = old.bytes.length - FRAME_OVERHEAD;
    const bigger = this.factory.allocate(Math.min(this.maxFrameBytes, Math.max(needed, capacity * 2)));
    old.bytes.copy(bigger.bytes, Frame.JPEG_OFFSET, Frame.JPEG_OFFSET, Frame.JPEG_OFFSET + this.written);
    this.buffer = bigger;
    this.counters.regrows++;
    old.release();
    return bigger;
  }

  /** The EOI ended just before `pos`: seal the frame and hand it (and its reference) to onFrame. */
  private finishFrame(data: Buffer, pos: number): void {
    this.copyRun(data, pos);
    const buffer = this.buffer as PooledBuffer;
    const length = this.written;
    // State first, so onFrame sees a framer between frames (and may call reset()).
    this.buffer = undefined;
    this.written = 0;
    this.state = SEEK_FF;
    this.recentSizes[this.recentNext] = length;
    this.recentNext = (this.recentNext + 1) % RECENT_FRAMES;
    this.counters.frames++;
    this.onFrame(this.factory.seal(buffer, length));
  }

  private discard(reason: JpegDiscardReason, bytes: number): void {
    const buffer = this.buffer;
    this.buffer = undefined;
    this.written = 0;
    this.state = SEEK_FF;
    this.counters[reason]++;
    buffer?.release();
    this.onDiscard?.(reason, bytes);
  }

  /** Buffer size for a new frame: the largest recent frame plus headroom, so a steady camera never regrows. */
  private estimateSize(): number {
    let largest = 0;
    for (let i = 0; i < RECENT_FRAMES; i++) largest = Math.max(largest, this.recentSizes[i] as number);
    return Math.min(this.maxFrameBytes, Math.max(MIN_ESTIMATE, Math.ceil(largest * ESTIMATE_HEADROOM)));
  }
}
