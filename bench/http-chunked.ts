/**
 * Undoes HTTP/1.1 chunked transfer encoding incrementally, handing the body's bytes
 * on as ranges of the chunks it is given (never copied). npm mjpeg-server's
 * responses are chunked (node:http, no Content-Length); camstream's are not.
 */

/** Receives body bytes [start, end) of `chunk`. */
export type BodySink = (chunk: Buffer, start: number, end: number) => void;

/** A chunk-size line is a few hex digits (and maybe extensions); longer is garbage. */
const MAX_SIZE_LINE = 64;

export class ChunkedDecoder {
  private state: 'size' | 'data' | 'crlf' = 'size';
  private sizeLine = '';
  private left = 0;

  constructor(private readonly sink: BodySink) {}

  push(chunk: Buffer, start: number, end: number): void {
    let pos = start;
    while (pos < end) {
      if (this.state === 'data') {
        const stop = Math.min(end, pos + this.left);
        this.sink(chunk, pos, stop);
        this.left -= stop - pos;
        pos = stop;
        if (this.left === 0) {
          this.state = 'crlf';
          this.left = 2;
        }
      } else if (this.state === 'crlf') {
        const n = Math.min(end - pos, this.left);
        pos += n;
        this.left -= n;
        if (this.left === 0) this.state = 'size';
      } else {
        const lf = chunk.indexOf(10, pos);
        const stop = lf < 0 || lf >= end ? end : lf + 1;
        this.sizeLine += chunk.toString('latin1', pos, stop);
        pos = stop;
        if (this.sizeLine.endsWith('\r\n')) {
          const size = parseInt(this.sizeLine, 16);
          this.sizeLine = '';
          if (!Number.isInteger(size)) throw new Error('bad chunk size');
          if (size === 0) throw new Error('the server ended the stream');
          this.state = 'data';
          this.left = size;
        } else if (this.sizeLine.length > MAX_SIZE_LINE) throw new Error('bad chunk size line');
      }
    }
  }
}
