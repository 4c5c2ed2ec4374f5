/**
 * An incremental parser for camstream's MJPEG stream, cheap enough that the load
 * generator is not the bottleneck: it converts only header bytes to text and skips
 * each JPEG by counting its Content-Length, never scanning it or copying it.
 *
 *   response head ... "\r\n\r\n--BOUNDARY\r\n"            (once)
 *   part header "\r\n\r\n" + JPEG + "\r\n--BOUNDARY\r\n"  (per frame)
 *
 * The 33 trailer bytes are compared byte by byte, so a Content-Length that does
 * not match the body is caught at once instead of silently desynchronising.
 */

const BOUNDARY_LINE = '--camstream-boundary-7d3f9a1c\r\n';
const HEAD_END = `\r\n\r\n${BOUNDARY_LINE}`;
const HEADER_END = '\r\n\r\n';
const TRAILER = Buffer.from(`\r\n${BOUNDARY_LINE}`, 'latin1');
/** A part header is ~120 bytes and the response head ~350; anything longer is garbage. */
const MAX_HEADER = 4096;
/** Text taken per step while looking for a header's end, so little JPEG is decoded. */
const HEADER_STEP = 256;

/** Called when a part's last byte (the end of its trailer) has arrived. */
export type PartHandler = (sequence: number, timestampMicros: number, jpegBytes: number) => void;

export class StreamFormatError extends Error {}

type State = 'head' | 'header' | 'body' | 'trailer';

export class MjpegParser {
  private state: State = 'head';
  /** Header text seen so far (latin1); only ever a few hundred characters. */
  private text = '';
  private remaining = 0;
  private trailerIndex = 0;
  private sequence = 0;
  private timestampMicros = 0;
  private jpegBytes = 0;
  private readonly onPart: PartHandler;

  constructor(onPart: PartHandler) {
    this.onPart = onPart;
  }

  /** Feeds bytes [0, end) of `chunk`. Throws StreamFormatError on a malformed stream. */
  push(chunk: Buffer, end: number): void {
    let pos = 0;
    while (pos < end) {
      if (this.state === 'body') {
        const n = Math.min(this.remaining, end - pos);
        pos += n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = 'trailer';
      } else if (this.state === 'trailer') {
        while (pos < end && this.trailerIndex < TRAILER.length) {
          if (chunk[pos] !== TRAILER[this.trailerIndex]) throw new StreamFormatError(`part ${this.sequence}: bytes after the JPEG are not the boundary; Content-Length is wrong`);
          pos++;
          this.trailerIndex++;
        }
        if (this.trailerIndex === TRAILER.length) {
          this.trailerIndex = 0;
          this.state = 'header';
          this.onPart(this.sequence, this.timestampMicros, this.jpegBytes);
        }
      } else {
        pos += this.takeHeader(chunk, pos, end);
      }
    }
  }

  /** Appends header text from `pos`; returns the bytes consumed (up to the header's end when found). */
  private takeHeader(chunk: Buffer, pos: number, end: number): number {
    const terminator = this.state === 'head' ? HEAD_END : HEADER_END;
    const before = this.text.length;
    const take = Math.min(end - pos, HEADER_STEP);
    this.text += chunk.toString('latin1', pos, pos + take);
    // The terminator may straddle the previous step, so search from just before it.
    const at = this.text.indexOf(terminator, Math.max(0, before - terminator.length + 1));
    if (at < 0) {
      if (this.text.length > MAX_HEADER) throw new StreamFormatError(`no end of ${this.state === 'head' ? 'response head' : 'part header'} within ${MAX_HEADER} bytes`);
      return take;
    }
    const header = this.text.slice(0, at);
    this.text = '';
    if (this.state === 'head') {
      if (!/^HTTP\/1\.[01] 200 /.test(header)) throw new StreamFormatError(`unexpected response: ${header.split('\r\n')[0] ?? ''}`);
      this.state = 'header';
    } else {
      this.parsePartHeader(header);
      this.state = this.remaining > 0 ? 'body' : 'trailer';
    }
    return at + terminator.length - before;
  }

  private parsePartHeader(header: string): void {
    let length = -1;
    let sequence = -1;
    let timestamp = -1;
    for (const line of header.split('\r\n')) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') length = Number(value);
      else if (name === 'x-frame-sequence') sequence = Number(value);
      else if (name === 'x-timestamp') timestamp = parseTimestamp(value);
    }
    if (!Number.isInteger(length) || length < 0) throw new StreamFormatError(`part header without a valid Content-Length: ${JSON.stringify(header)}`);
    this.jpegBytes = length;
    this.remaining = length;
    this.sequence = sequence;
    this.timestampMicros = timestamp;
  }
}

/** `<sec>.<usec>` to whole microseconds, without the rounding a parseFloat would add. */
function parseTimestamp(value: string): number {
  const dot = value.indexOf('.');
  if (dot < 0) return Number(value) * 1e6;
  return Number(value.slice(0, dot)) * 1e6 + Number(value.slice(dot + 1, dot + 7).padEnd(6, '0'));
}
