/**
 * An incremental parser for an MJPEG stream (`multipart/x-mixed-replace`), cheap
 * enough that the load generator is not the bottleneck: it converts only header
 * bytes to text and skips each JPEG by counting its Content-Length, never scanning
 * or copying it. One parser reads every server the bench runs:
 *
 *   response head (boundary from Content-Type; maybe chunked) "\r\n\r\n"
 *   per part: ["\r\n"] "--BOUNDARY\r\n" headers "\r\n\r\n" JPEG "\r\n"
 *
 * camstream sends a part's closing CRLF and the next boundary in one write; npm
 * mjpeg-server sends the boundary with the next frame. Either way a part counts as
 * arrived with the CRLF after its JPEG. The CRLF is checked byte by byte, so a
 * Content-Length that does not match the body is caught at once instead of
 * silently desynchronising. X-Timestamp and X-Frame-Sequence are optional (-1
 * when missing: no latency, no gap count).
 */
import { ChunkedDecoder } from './http-chunked.js';

const HEADER_END = '\r\n\r\n';
const CRLF = Buffer.from('\r\n', 'latin1');
/** A part header is ~120 bytes and the response head ~350; anything longer is garbage. */
const MAX_HEADER = 4096;
/** Text taken per step while looking for a header's end, so little JPEG is decoded. */
const HEADER_STEP = 256;

/** Called when a part's last byte has arrived; sequence and timestamp are -1 when the part has none. */
export type PartHandler = (sequence: number, timestampMicros: number, jpegBytes: number) => void;

export class StreamFormatError extends Error {}

export class MjpegParser {
  private state: 'head' | 'header' | 'body' | 'crlf' = 'head';
  /** Header text seen so far (latin1); only ever a few hundred characters. */
  private text = '';
  private boundaryLine = '';
  private remaining = 0;
  private crlfIndex = 0;
  private sequence = -1;
  private timestampMicros = -1;
  private jpegBytes = 0;
  private chunked: ChunkedDecoder | undefined;
  private readonly body = this.parseBody.bind(this);

  constructor(private readonly onPart: PartHandler) {}

  /** Feeds bytes [0, end) of `chunk`. Throws StreamFormatError on a malformed stream. */
  push(chunk: Buffer, end: number): void {
    let pos = 0;
    while (this.state === 'head' && pos < end) pos = this.takeHeader(chunk, pos, end);
    if (this.chunked !== undefined) this.chunked.push(chunk, pos, end);
    else this.parseBody(chunk, pos, end);
  }

  /** The multipart body, after any chunked encoding is undone. */
  private parseBody(chunk: Buffer, start: number, end: number): void {
    let pos = start;
    while (pos < end) {
      if (this.state === 'body') {
        const n = Math.min(this.remaining, end - pos);
        pos += n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = 'crlf';
      } else if (this.state === 'crlf') {
        while (pos < end && this.crlfIndex < CRLF.length) {
          if (chunk[pos] !== CRLF[this.crlfIndex]) throw new StreamFormatError(`part ${this.sequence}: the JPEG is not followed by CRLF; Content-Length is wrong`);
          pos++;
          this.crlfIndex++;
        }
        if (this.crlfIndex === CRLF.length) {
          this.crlfIndex = 0;
          this.state = 'header';
          this.onPart(this.sequence, this.timestampMicros, this.jpegBytes);
        }
      } else {
        pos = this.takeHeader(chunk, pos, end);
      }
    }
  }

  /** Appends header text from `pos`; returns where it stopped (just after the header's end, when found). */
  private takeHeader(chunk: Buffer, pos: number, end: number): number {
    const before = this.text.length;
    const take = Math.min(end - pos, HEADER_STEP);
    this.text += chunk.toString('latin1', pos, pos + take);
    // The terminator may straddle the previous step, so search from just before it.
    const at = this.text.indexOf(HEADER_END, Math.max(0, before - HEADER_END.length + 1));
    if (at < 0) {
      if (this.text.length > MAX_HEADER) throw new StreamFormatError(`no end of ${this.state === 'head' ? 'response head' : 'part header'} within ${MAX_HEADER} bytes`);
      return pos + take;
    }
    const header = this.text.slice(0, at);
    this.text = '';
    if (this.state === 'head') this.parseHead(header);
    else this.parsePartHeader(header);
    return pos + at + HEADER_END.length - before;
  }

  private parseHead(head: string): void {
    if (!/^HTTP\/1\.[01] 200 /.test(head)) throw new StreamFormatError(`unexpected response: ${head.split('\r\n')[0] ?? ''}`);
    const boundary = /^content-type:.*boundary="?([^";\r\n]+)"?/im.exec(head)?.[1];
    if (boundary === undefined) throw new StreamFormatError('no multipart boundary in the response head');
    this.boundaryLine = `--${boundary.trim()}`;
    if (/^transfer-encoding:\s*chunked/im.test(head)) this.chunked = new ChunkedDecoder(this.body);
    this.state = 'header';
  }

  private parsePartHeader(header: string): void {
    let length = -1;
    this.sequence = -1;
    this.timestampMicros = -1;
    const lines = header.split('\r\n');
    // Blank lines before the boundary are the preamble's or the previous part's CRLF.
    while (lines[0] === '') lines.shift();
    if (lines[0] !== this.boundaryLine) throw new StreamFormatError(`expected the boundary ${this.boundaryLine}, got ${JSON.stringify(lines[0] ?? '')}`);
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') length = Number(value);
      else if (name === 'x-frame-sequence') this.sequence = Number(value);
      else if (name === 'x-timestamp') this.timestampMicros = parseTimestamp(value);
    }
    if (!Number.isInteger(length) || length < 0) throw new StreamFormatError(`part header without a valid Content-Length: ${JSON.stringify(header)}`);
    this.jpegBytes = length;
    this.remaining = length;
    this.state = length > 0 ? 'body' : 'crlf';
  }
}

/** `<sec>.<usec>` to whole microseconds, without the rounding a parseFloat would add. */
function parseTimestamp(value: string): number {
  const dot = value.indexOf('.');
  if (dot < 0) return Number(value) * 1e6;
  return Number(value.slice(0, dot)) * 1e6 + Number(value.slice(dot + 1, dot + 7).padEnd(6, '0'));
}
