import { Frame, captureTimeNow, type CaptureTime, type FrameFactory, type PooledBuffer } from '../frame/index.js';
import type { JpegFramer } from '../frame/jpeg-framer.js';

/**
 * The body of an MJPEG response (`multipart/x-mixed-replace`) cut into frames:
 *
 *   [preamble] --B CRLF headers CRLF CRLF jpeg CRLF --B CRLF headers … --B--
 *
 * A part with Content-Length is copied straight from the socket's chunks into a
 * pooled buffer taken as soon as its header is read, and published when its last
 * byte arrives. A part without one is fed to a JpegFramer (which finds the JPEG's
 * end from its marker structure) until the next boundary. Either way the bytes are
 * copied once, chunk → pooled buffer, and nothing is concatenated.
 *
 * Tolerated: a CRLF or not before a boundary, padding after it, bare LF line ends,
 * bytes between parts (skipped and counted), parts that are not JPEG (dropped and
 * counted). Only a stream with no boundary for more than a frame's worth of bytes
 * is given up on.
 *
 * A part's `X-Timestamp` (the upstream's capture time) is read too and offered to
 * the handler's captureTime() when its frame is sealed. Parts without Content-Length
 * are sealed by the JpegFramer, so they are stamped with their arrival time.
 */

export interface MultipartCounters {
  /** Parts whose header was read. */
  parts: number;
  /** Bytes outside every part: before a boundary, except one line break after a part. */
  bytesSkipped: number;
  /** Parts dropped because their bytes did not start with FF D8. */
  notJpeg: number;
  /** Parts dropped because their Content-Length was over maxFrameBytes. */
  oversize: number;
  /** Parts without Content-Length that held no whole JPEG. */
  incomplete: number;
}

export function newMultipartCounters(): MultipartCounters {
  return { parts: 0, bytesSkipped: 0, notJpeg: 0, oversize: 0, incomplete: 0 };
}

export interface MultipartHandler {
  /** A whole JPEG from a part with Content-Length; takes over the frame's reference. */
  frame(frame: Frame): void;
  /** The closing boundary (`--B--`) arrived: the upstream ended the stream. */
  close(): void;
  /** The body cannot be parsed; `reason` is one line for the user. */
  error(reason: string): void;
  /** A part was dropped: over the size limit, or not a JPEG. The stream goes on. */
  discard(reason: 'oversize' | 'not_jpeg', bytes: number): void;
  /**
   * The capture time of a part with Content-Length whose last byte just arrived,
   * given the part's `X-Timestamp` in µs (undefined when it had none, or not in the
   * `<sec>.<usec>` form). Without this member, frames are stamped with their arrival.
   */
  captureTime?(upstreamWallMicros: number | undefined): CaptureTime;
}

/**
 * An `X-Timestamp` value as mjpg-streamer, µStreamer and camstream write it
 * (`<seconds>.<microseconds>`, e.g. `1764034162.213042`) in whole µs, or undefined
 * when it is not one. A shorter fraction is read as decimals (`.5` = 500000 µs);
 * digits past the sixth are dropped. Signs, exponents and spaces inside are refused.
 */
export function parseTimestampMicros(value: string): number | undefined {
  const match = /^(\d{1,12})(?:\.(\d{1,9}))?$/.exec(value);
  if (match === null) return undefined;
  const micros = Number(match[1]) * 1e6 + Number((match[2] ?? '').slice(0, 6).padEnd(6, '0'));
  // Past 2^53 µs (year 2255) the sum is no longer exact.
  return Number.isSafeInteger(micros) ? micros : undefined;
}

/**
 * The boundary from a Content-Type's parameter, quoted or not. A leading `--` is
 * dropped, since some cameras put the delimiter itself in the parameter
 * (`boundary=--myboundary`) and send `--myboundary` lines.
 */
export function parseBoundary(contentType: string): string | undefined {
  const match = /;\s*boundary\s*=\s*(?:"([^"]*)"|([^;,\s]+))/i.exec(contentType);
  let boundary = match?.[1] ?? match?.[2];
  if (boundary !== undefined && boundary.startsWith('--') && boundary.length > 2) boundary = boundary.slice(2);
  return boundary === undefined || boundary === '' ? undefined : boundary;
}

const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;
/** A part's header section may be this long; more is taken for garbage. */
const MAX_PART_HEAD = 8 * 1024;

// States (plain numbers, so push() is a loop over a switch).
/** One optional line break after a part or at the start. */
const LEAD = 0;
/** Looking for the delimiter `--B`; the bytes before it are handled by `mode`. */
const SCAN = 1;
/** After `--B`: padding, then a line break (a part follows) or `--` (the end). */
const AFTER_BOUNDARY = 2;
const CLOSE_DASH = 3;
const HEADERS = 4;
/** Copying a part with Content-Length into its pooled buffer. */
const BODY = 5;
/** Passing over the rest of a dropped part with Content-Length. */
const SKIP = 6;
const DONE = 7;

// What SCAN does with the bytes before the delimiter.
const GARBAGE = 0;
/** The body of a part without Content-Length: to the JpegFramer. */
const FEED = 1;
/** A dropped part without usable Content-Length. */
const DROP = 2;

export class MultipartParser {
  private readonly delimiter: Buffer;
  private readonly factory: FrameFactory;
  private readonly framer: JpegFramer;
  private readonly handler: MultipartHandler;
  private readonly counters: MultipartCounters;
  private readonly maxFrameBytes: number;
  /** Bytes scanned since the last boundary before the stream is declared unparseable. */
  private readonly scanLimit: number;
  private state = LEAD;
  private mode = GARBAGE;
  private leadCr = false;
  private scanned = 0;
  /** Holds the carry (a tail that may begin the delimiter) at its start; 2× the delimiter long. */
  private readonly scratch: Buffer;
  private carryLength = 0;
  /** The part header line being read, and the part's header bytes so far. */
  private readonly line = Buffer.allocUnsafe(MAX_PART_HEAD);
  private lineLength = 0;
  private headBytes = 0;
  private contentLength = -1;
  /** The part's X-Timestamp in µs, if it had a readable one. */
  private timestampMicros: number | undefined;
  private buffer: PooledBuffer | undefined;
  private length = 0;
  private written = 0;
  private remaining = 0;
  private partBytes = 0;
  private framesAtPartStart = 0;

  constructor(boundary: string, factory: FrameFactory, framer: JpegFramer, handler: MultipartHandler, counters: MultipartCounters, maxFrameBytes: number) {
    this.delimiter = Buffer.from(`--${boundary}`, 'latin1');
    this.scratch = Buffer.allocUnsafe(this.delimiter.length * 2);
    this.factory = factory;
    this.framer = framer;
    this.handler = handler;
    this.counters = counters;
    this.maxFrameBytes = maxFrameBytes;
    this.scanLimit = maxFrameBytes + 64 * 1024;
  }

  /** True while a frame's bytes are arriving (so a closed connection cut it). */
  get inFrame(): boolean {
    return this.state === BODY || (this.state === SCAN && this.mode === FEED && this.partBytes > 0);
  }

  /** Parses nothing more and returns the buffer of a part in progress. Safe inside a handler call. */
  close(): void {
    this.state = DONE;
    this.buffer?.release();
    this.buffer = undefined;
  }

  /** Parses data[start, end). Nothing of `data` is kept after the call. */
  push(data: Buffer, start: number, end: number): void {
    let pos = start;
    while (pos < end && this.state !== DONE) {
      switch (this.state) {
        case LEAD: {
          const byte = data[pos] as number;
          if (byte === CR && !this.leadCr) {
            this.leadCr = true;
            pos++;
            break;
          }
          if (byte === LF) pos++;
          else if (this.leadCr) this.countSkipped(1); // a CR without its LF
          this.leadCr = false;
          this.state = SCAN;
          break;
        }
        case SCAN:
          pos = this.scan(data, pos, end);
          break;
        case AFTER_BOUNDARY: {
          const byte = data[pos] as number;
          if (byte === LF) {
            this.state = HEADERS;
            this.lineLength = 0;
            this.headBytes = 0;
            this.contentLength = -1;
            this.timestampMicros = undefined;
            pos++;
          } else if (byte === CR || byte === 0x20 || byte === 0x09) {
            pos++;
          } else if (byte === DASH) {
            this.state = CLOSE_DASH;
            pos++;
          } else {
            this.notABoundary();
          }
          break;
        }
        case CLOSE_DASH:
          if (data[pos] === DASH) {
            this.state = DONE;
            this.handler.close();
          } else {
            this.notABoundary();
          }
          break;
        case HEADERS:
          pos = this.headers(data, pos, end);
          break;
        case BODY:
          pos = this.body(data, pos, end);
          break;
        case SKIP: {
          const take = Math.min(this.remaining, end - pos);
          this.remaining -= take;
          pos += take;
          if (this.remaining === 0) this.state = LEAD;
          break;
        }
      }
    }
  }

  private headers(data: Buffer, pos: number, end: number): number {
    let lf = data.indexOf(LF, pos);
    if (lf >= end) lf = -1;
    const stop = lf < 0 ? end : lf;
    const count = stop - pos;
    this.headBytes += count + (lf < 0 ? 0 : 1);
    if (this.headBytes > MAX_PART_HEAD) {
      // No part has headers this long: take it all for garbage and look for the next boundary.
      this.countSkipped(this.headBytes - (lf < 0 ? 0 : 1));
      this.state = SCAN;
      this.mode = GARBAGE;
      return stop;
    }
    data.copy(this.line, this.lineLength, pos, stop);
    this.lineLength += count;
    if (lf < 0) return end;
    let length = this.lineLength;
    if (length > 0 && this.line[length - 1] === CR) length--;
    this.lineLength = 0;
    if (length > 0) {
      const colon = this.line.indexOf(0x3a);
      if (colon > 0 && colon < length) this.headerField(this.line.toString('latin1', 0, colon).trim().toLowerCase(), colon, length);
    } else {
      this.startBody();
    }
    return lf + 1;
  }

  /** Keeps what a part's header field `name` (value at line[colon + 1, end)) says, if it matters here. */
  private headerField(name: string, colon: number, end: number): void {
    if (name === 'content-length') {
      const value = this.line.toString('latin1', colon + 1, end).trim();
      this.contentLength = /^\d{1,15}$/.test(value) ? Number(value) : -1;
    } else if (name === 'x-timestamp') {
      this.timestampMicros = parseTimestampMicros(this.line.toString('latin1', colon + 1, end).trim());
    }
  }

  private startBody(): void {
    this.counters.parts++;
    this.scanned = 0;
    const length = this.contentLength;
    if (length < 0) {
      this.state = SCAN;
      this.mode = FEED;
      this.partBytes = 0;
      this.framesAtPartStart = this.framer.stats.frames;
    } else if (length > this.maxFrameBytes) {
      // Not trusted to be skipped by length either: find the next boundary instead.
      this.counters.oversize++;
      this.handler.discard('oversize', length);
      this.state = SCAN;
      this.mode = DROP;
    } else if (length < 2) {
      this.counters.notJpeg++;
      this.handler.discard('not_jpeg', length);
      this.state = length === 0 ? LEAD : SKIP;
      this.remaining = length;
    } else {
      this.buffer = this.factory.allocate(length);
      this.length = length;
      this.written = 0;
      this.remaining = length;
      this.state = BODY;
    }
  }

  private body(data: Buffer, pos: number, end: number): number {
    const buffer = this.buffer as PooledBuffer;
    const take = Math.min(this.remaining, end - pos);
    data.copy(buffer.bytes, Frame.JPEG_OFFSET + this.written, pos, pos + take);
    const before = this.written;
    this.written += take;
    this.remaining -= take;
    if (before < 2 && this.written >= 2 && (buffer.bytes[Frame.JPEG_OFFSET] !== 0xff || buffer.bytes[Frame.JPEG_OFFSET + 1] !== 0xd8)) {
      this.counters.notJpeg++;
      this.handler.discard('not_jpeg', this.length);
      this.buffer = undefined;
      buffer.release();
      this.state = this.remaining > 0 ? SKIP : LEAD;
      return pos + take;
    }
    if (this.remaining === 0) {
      this.buffer = undefined;
      this.state = LEAD;
      // Sealed now, so its local capture time is when its last byte arrived; the
      // handler may take the wall clock part from the upstream's X-Timestamp.
      const capture = this.handler.captureTime?.(this.timestampMicros) ?? captureTimeNow();
      this.handler.frame(this.factory.seal(buffer, this.length, capture));
    }
    return pos + take;
  }

  /**
   * Looks for the delimiter in data[pos, end), handing the bytes before it to
   * consume(). A tail that may begin the delimiter is held back (copied into
   * `scratch`) until the next chunk says whether it does. Returns where parsing goes on.
   */
  private scan(data: Buffer, pos: number, end: number): number {
    const delimiter = this.delimiter;
    const size = delimiter.length;
    if (this.carryLength > 0) {
      const carry = this.carryLength;
      const added = Math.min(size, end - pos);
      data.copy(this.scratch, carry, pos, pos + added);
      const total = carry + added;
      const found = this.scratch.indexOf(delimiter);
      if (found >= 0 && found + size <= total) {
        this.carryLength = 0;
        this.consume(this.scratch, 0, found);
        return this.delimiterFound(pos + found + size - carry);
      }
      if (added < size) {
        // A short chunk: the delimiter may still begin in what is held.
        const keep = this.partialTail(this.scratch, 0, total);
        this.consume(this.scratch, 0, total - keep);
        this.scratch.copyWithin(0, total - keep, total);
        this.carryLength = keep;
        return end;
      }
      // Each held byte had a whole delimiter's length after it and began none.
      this.carryLength = 0;
      this.consume(this.scratch, 0, carry);
      if (this.state === DONE) return end;
    }
    // Buffer.indexOf searches to the buffer's end, which may be past `end` (a reused
    // read buffer): only a match wholly before `end` counts.
    const found = data.indexOf(delimiter, pos);
    if (found >= 0 && found + size <= end) {
      this.consume(data, pos, found);
      return this.delimiterFound(found + size);
    }
    const keep = this.partialTail(data, pos, end);
    this.consume(data, pos, end - keep);
    data.copy(this.scratch, 0, end - keep, end);
    this.carryLength = keep;
    return end;
  }

  /** Length of the longest tail of bytes[start, end) that begins the delimiter (shorter than it). */
  private partialTail(bytes: Buffer, start: number, end: number): number {
    for (let keep = Math.min(this.delimiter.length - 1, end - start); keep > 0; keep--) {
      if (bytes[end - keep] === DASH && bytes.compare(this.delimiter, 0, keep, end - keep, end) === 0) return keep;
    }
    return 0;
  }

  /** Bytes in SCAN that are not the delimiter. */
  private consume(bytes: Buffer, start: number, end: number): void {
    const count = end - start;
    if (count <= 0 || this.state === DONE) return;
    this.scanned += count;
    if (this.mode === GARBAGE) {
      this.counters.bytesSkipped += count;
    } else if (this.mode === FEED) {
      // A part that does not start with FF D8 is not fed on.
      for (let i = start, seen = this.partBytes; seen < 2 && i < end; i++, seen++) {
        if (bytes[i] !== (seen === 0 ? 0xff : 0xd8)) {
          this.counters.notJpeg++;
          this.handler.discard('not_jpeg', this.partBytes + count);
          this.mode = DROP;
          this.framer.reset();
          break;
        }
      }
      this.partBytes += count;
      if (this.mode === FEED) this.framer.push(bytes.subarray(start, end));
    }
    if (this.scanned > this.scanLimit && this.state !== DONE) {
      this.state = DONE;
      this.handler.error(`upstream sent over ${this.scanLimit} bytes without a multipart boundary (${this.delimiter.toString('latin1')}): the stream cannot be parsed`);
    }
  }

  private delimiterFound(next: number): number {
    if (this.state === DONE) return next;
    if (this.mode === FEED) {
      // The part is over: a JPEG the framer has not finished never will be.
      this.framer.reset();
      if (this.framer.stats.frames === this.framesAtPartStart) this.counters.incomplete++;
    }
    this.mode = GARBAGE;
    this.scanned = 0;
    this.state = AFTER_BOUNDARY;
    return next;
  }

  /** `--B` followed by something other than a line end or `--`: garbage after all. */
  private notABoundary(): void {
    this.countSkipped(this.delimiter.length);
    this.state = SCAN;
    this.mode = GARBAGE;
  }

  private countSkipped(count: number): void {
    this.counters.bytesSkipped += count;
    this.scanned += count;
  }
}
