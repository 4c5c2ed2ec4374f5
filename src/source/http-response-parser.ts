/**
 * The client side of one HTTP/1.x response, parsed from raw socket bytes: the
 * response head (status line and header fields, at most `maxHeadBytes`), then the
 * body, either as it is (identity, up to the connection's end) or with
 * `Transfer-Encoding: chunked` framing removed. Body bytes are handed on as ranges
 * of the caller's chunk (`data`, `start`, `end`), never copied or concatenated, so
 * a reused read buffer stays usable; only the head is copied, into one buffer made
 * per response.
 */

export interface ResponseHead {
  /** e.g. '1.1' */
  httpVersion: string;
  statusCode: number;
  /** The reason phrase, e.g. 'Not Found' (may be empty). */
  statusText: string;
  /** Field names in lower case; repeated fields joined with ', '. */
  headers: Map<string, string>;
}

export interface HttpResponseHandler {
  /** The head is complete. Return false to stop parsing (the response is not wanted). */
  onHead(head: ResponseHead): boolean;
  /** Body bytes data[start, end). Valid only during the call. */
  onBody(data: Buffer, start: number, end: number): void;
  /** A chunked body ended (its last, zero-size chunk arrived). */
  onEnd(): void;
  /** The bytes are not HTTP; `reason` is one line for the user. Nothing more is parsed. */
  onError(reason: string): void;
}

export const DEFAULT_MAX_HEAD_BYTES = 16 * 1024;

const LF = 0x0a;
const CR = 0x0d;

// States. Plain numbers in one field, so push() is a loop over a switch.
const HEAD = 0;
const IDENTITY = 1;
const CHUNK_SIZE = 2;
/** Chunk extensions (`;name=value`) or whitespace after the size: skipped to the line's end. */
const CHUNK_EXT = 3;
const CHUNK_DATA = 4;
/** The CRLF after a chunk's data. */
const CHUNK_DATA_END = 5;
const DONE = 6;

/** Chunk sizes beyond this are not a camera's; refusing them keeps the arithmetic exact. */
const MAX_CHUNK_SIZE = 0x7fffffff;

export class HttpResponseParser {
  private readonly handler: HttpResponseHandler;
  private readonly maxHeadBytes: number;
  private readonly head: Buffer;
  private headLength = 0;
  private state = HEAD;
  private chunkRemaining = 0;
  private chunkSizeDigits = 0;

  constructor(handler: HttpResponseHandler, maxHeadBytes = DEFAULT_MAX_HEAD_BYTES) {
    this.handler = handler;
    this.maxHeadBytes = maxHeadBytes;
    this.head = Buffer.allocUnsafe(maxHeadBytes);
  }

  /** True once the head was accepted and body bytes are being passed on. */
  get inBody(): boolean {
    return this.state !== HEAD && this.state !== DONE;
  }

  /** Parses nothing more (the connection is being closed). */
  stop(): void {
    this.state = DONE;
  }

  /** Parses data[start, end). Nothing of `data` is kept after the call. */
  push(data: Buffer, start: number, end: number): void {
    let pos = start;
    while (pos < end) {
      switch (this.state) {
        case HEAD:
          pos = this.pushHead(data, pos, end);
          break;
        case IDENTITY:
          this.handler.onBody(data, pos, end);
          return;
        case CHUNK_SIZE: {
          const byte = data[pos++] as number;
          const digit = hexValue(byte);
          if (digit >= 0) {
            this.chunkRemaining = this.chunkRemaining * 16 + digit;
            this.chunkSizeDigits++;
            if (this.chunkRemaining > MAX_CHUNK_SIZE) return this.fail('upstream sent a chunk size over 2 GiB in its chunked body');
          } else if (this.chunkSizeDigits === 0) {
            return this.fail('upstream sent a malformed chunked body (no chunk size where one was due)');
          } else if (byte === LF) {
            this.endChunkSizeLine();
          } else if (byte === CR || byte === 0x3b || byte === 0x20 || byte === 0x09) {
            this.state = CHUNK_EXT; // ';' extensions, whitespace, or the CR of CRLF
          } else {
            return this.fail('upstream sent a malformed chunked body (bad chunk size)');
          }
          break;
        }
        case CHUNK_EXT: {
          const lf = data.indexOf(LF, pos);
          if (lf < 0 || lf >= end) return;
          pos = lf + 1;
          this.endChunkSizeLine();
          break;
        }
        case CHUNK_DATA: {
          const stop = Math.min(end, pos + this.chunkRemaining);
          const from = pos;
          this.chunkRemaining -= stop - from;
          if (this.chunkRemaining === 0) this.state = CHUNK_DATA_END;
          pos = stop;
          this.handler.onBody(data, from, stop); // may call stop()
          break;
        }
        case CHUNK_DATA_END: {
          const byte = data[pos++] as number;
          if (byte === LF) {
            this.state = CHUNK_SIZE;
          } else if (byte !== CR) {
            return this.fail('upstream sent a malformed chunked body (no line break after a chunk)');
          }
          break;
        }
        case DONE:
          return;
      }
      if (this.state === DONE) return;
    }
  }

  private endChunkSizeLine(): void {
    if (this.chunkRemaining === 0) {
      // The last chunk: the body is over (trailer fields, if any, do not matter here).
      this.state = DONE;
      this.handler.onEnd();
      return;
    }
    this.state = CHUNK_DATA;
  }

  /** Copies head bytes until the empty line; returns where the body starts in `data` (or `end`). */
  private pushHead(data: Buffer, pos: number, end: number): number {
    const before = this.headLength;
    const take = Math.min(end - pos, this.maxHeadBytes - before);
    data.copy(this.head, before, pos, pos + take);
    this.headLength += take;
    // The empty line may straddle chunks: look again from up to 3 bytes back.
    const headEnd = findHeadEnd(this.head, Math.max(0, before - 3), this.headLength);
    if (headEnd < 0) {
      if (this.headLength === this.maxHeadBytes) {
        this.fail(`upstream's response head is over ${Math.round(this.maxHeadBytes / 1024)} KiB without ending: not an HTTP camera?`);
      }
      return end;
    }
    const bodyStart = pos + (headEnd - before);
    const head = parseHead(this.head.toString('latin1', 0, headEnd));
    if (typeof head === 'string') {
      this.fail(head);
      return end;
    }
    if (head.statusCode >= 100 && head.statusCode < 200 && head.statusCode !== 101) {
      this.headLength = 0; // 100 Continue and friends: the real response follows
      return bodyStart;
    }
    const codings = head.headers.get('transfer-encoding');
    this.state = codings !== undefined && /(?:^|,)\s*chunked\s*$/i.test(codings) ? CHUNK_SIZE : IDENTITY;
    this.chunkRemaining = 0;
    this.chunkSizeDigits = 0;
    if (!this.handler.onHead(head)) this.state = DONE;
    return bodyStart;
  }

  private fail(reason: string): void {
    this.state = DONE;
    this.handler.onError(reason);
  }
}

/** The index just past the empty line that ends a head in bytes[from, end), or -1. Accepts bare LF line ends. */
function findHeadEnd(bytes: Buffer, from: number, end: number): number {
  let at = from;
  for (;;) {
    const lf = bytes.indexOf(LF, at);
    if (lf < 0 || lf >= end) return -1;
    if (lf + 1 < end && bytes[lf + 1] === LF) return lf + 2;
    if (lf + 2 < end && bytes[lf + 1] === CR && bytes[lf + 2] === LF) return lf + 3;
    at = lf + 1;
  }
}

/** The head's status line and fields, or a one-line reason why it is not an HTTP response. */
function parseHead(text: string): ResponseHead | string {
  const lines = text.split(/\r?\n/);
  const statusLine = lines[0] ?? '';
  const match = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(statusLine);
  if (match === null) {
    return `upstream did not answer with HTTP (its first line: "${printable(statusLine)}"): is the URL's port an HTTP server?`;
  }
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const previous = headers.get(name);
    headers.set(name, previous === undefined ? value : `${previous}, ${value}`);
  }
  return { httpVersion: match[1] as string, statusCode: Number(match[2]), statusText: (match[3] ?? '').trim(), headers };
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** At most 60 characters, control bytes as '?', for quoting a stranger's bytes in a message. */
export function printable(text: string): string {
  const cut = text.length > 60 ? `${text.slice(0, 60)}…` : text;
  return cut.replace(/[^\x20-\x7e…]/g, '?');
}
