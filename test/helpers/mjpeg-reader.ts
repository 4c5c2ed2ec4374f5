/**
 * A lightweight MJPEG viewer for load over real links: it keeps numbers, never
 * frames (a JPEG's bytes are skipped by counting its Content-Length), so many of
 * them can read 1080p60 for a while without memory or CPU of their own to speak of.
 *
 * Used in-process (MjpegReader) and as a standalone script, e.g. inside a network
 * namespace (test/helpers/netns.ts):
 *
 *   node dist/test/helpers/mjpeg-reader.js <url> <seconds>
 *     [--agent NAME] [--connections N] [--window SECONDS] [--stall-after SECONDS]
 *
 * `url` is the server's base URL (the script reads `<url>/stream`) or a full
 * stream URL. Each second it prints one `tick` JSON line per connection, and at the
 * end one `result` JSON line per connection (see ReaderResult). With
 * `--stall-after`, the reader stops reading after that many seconds (its socket is
 * paused, so the kernel buffers fill as with a frozen player); at the end it reads
 * again and reports whether the server had closed the connection meanwhile.
 *
 * Latency = wall clock when a part's last byte arrived − its X-Timestamp (µs, both
 * from this machine's clock).
 */
import net from 'node:net';
import { pathToFileURL } from 'node:url';

export interface PartRecord {
  sequence: number;
  /** X-Timestamp, µs since the epoch. */
  timestampMicros: number;
  /** When the part's last byte arrived, µs since the epoch. */
  arrivedMicros: number;
  jpegBytes: number;
}

/** What a reader saw in a window of its run. */
export interface WindowStats {
  seconds: number;
  frames: number;
  fps: number;
  /** Frames the server published that this viewer did not get (sequence numbers skipped). */
  gaps: number;
  latencyMs: { p50: number; p99: number; max: number };
  bytesPerSecond: number;
}

export interface ReaderResult {
  type: 'result';
  agent: string;
  frames: number;
  seconds: number;
  /** The last `--window` seconds of the run (default: its last half). */
  window: WindowStats;
  /** JPEG sizes of the last frames received, oldest first. */
  lastSizes: number[];
  /** Frames received in each whole second of the run. */
  fpsSeries: number[];
  /** Why the stream ended early (or was malformed), if it did. */
  error: string | undefined;
  /** The server closed the connection (EOF or reset) before the run ended. */
  closedByServer: boolean;
  /** With --stall-after: bytes that arrived after the reader started reading again. */
  bytesAfterStall?: number;
}

export interface Tick {
  type: 'tick';
  agent: string;
  /** Whole seconds since the start. */
  t: number;
  frames: number;
  /** Frames and bytes in the last second (by this reader's timer: a busy machine stretches it). */
  fps: number;
  /**
   * Frames the server published in the last second that this reader did not get
   * (sequence numbers skipped since the previous tick's last part): with `fps`, the
   * share of the camera's frames it got, whatever the length of the second.
   */
  gaps: number;
  bytesPerSecond: number;
  lastSize: number;
  /** Highest latency in the last second, ms. */
  maxLatencyMs: number;
}

export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** One MJPEG connection: parses the stream as it arrives and keeps a PartRecord per part. */
export class MjpegReader {
  readonly parts: PartRecord[] = [];
  readonly socket: net.Socket;
  readonly startedMicros = nowMicros();
  readonly agent: string;
  bytes = 0;
  error: string | undefined;
  closedByServer = false;
  private closed = false;
  private readonly closeWaiters: (() => void)[] = [];
  private state: 'head' | 'first' | 'header' | 'body' | 'trailer' = 'head';
  private text = '';
  private expect: Buffer = Buffer.alloc(0);
  private expectIndex = 0;
  private remaining = 0;
  private trailer: Buffer = Buffer.alloc(0);
  private current: Omit<PartRecord, 'arrivedMicros'> = { sequence: -1, timestampMicros: 0, jpegBytes: 0 };

  constructor(url: string, agent = 'mjpeg-reader') {
    this.agent = agent;
    const target = new URL(url);
    const path = target.pathname === '/' ? '/stream' : `${target.pathname}${target.search}`;
    this.socket = net.connect(Number(target.port || 80), target.hostname);
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: ${target.host}\r\nUser-Agent: ${agent}\r\n\r\n`);
    this.socket.on('data', (chunk: Buffer) => {
      this.bytes += chunk.length;
      try {
        this.push(chunk);
      } catch (error) {
        this.error ??= (error as Error).message;
        this.socket.destroy();
      }
    });
    this.socket.on('end', () => {
      if (!this.closed) this.closedByServer = true;
    });
    this.socket.on('error', (error) => {
      if (!this.closed) {
        this.closedByServer = true;
        this.error ??= error.message;
      }
    });
    this.socket.on('close', () => {
      for (const wake of this.closeWaiters.splice(0)) wake();
    });
  }

  /** Resolves when the socket has closed (either side). */
  whenClosed(): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }

  /** Statistics of the parts that arrived in [fromMicros, toMicros). */
  window(fromMicros: number, toMicros: number = nowMicros()): WindowStats {
    return windowStats(this.parts, fromMicros, toMicros);
  }

  private push(chunk: Buffer): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.state === 'body') {
        const n = Math.min(this.remaining, end - pos);
        pos += n;
        this.remaining -= n;
        if (this.remaining === 0) {
          this.state = 'trailer';
          this.expect = this.trailer;
          this.expectIndex = 0;
        }
      } else if (this.state === 'trailer' || this.state === 'first') {
        while (pos < end && this.expectIndex < this.expect.length) {
          if (chunk[pos] !== this.expect[this.expectIndex]) {
            throw new Error(this.state === 'first' ? 'the stream does not start with the boundary line' : `part ${this.current.sequence}: the bytes after the JPEG are not the boundary line`);
          }
          pos++;
          this.expectIndex++;
        }
        if (this.expectIndex === this.expect.length) {
          if (this.state === 'trailer') this.parts.push({ ...this.current, arrivedMicros: nowMicros() });
          this.state = 'header';
        }
      } else {
        pos += this.takeHeader(chunk, pos, end);
      }
    }
  }

  /** Header text up to "\r\n\r\n" (a few hundred bytes at most); returns the bytes consumed. */
  private takeHeader(chunk: Buffer, pos: number, end: number): number {
    const before = this.text.length;
    const take = Math.min(end - pos, 512);
    this.text += chunk.toString('latin1', pos, pos + take);
    const at = this.text.indexOf('\r\n\r\n', Math.max(0, before - 3));
    if (at < 0) {
      if (this.text.length > 8192) throw new Error(`no end of ${this.state === 'head' ? 'response head' : 'part header'} within 8 KB`);
      return take;
    }
    const lines = this.text.slice(0, at).split('\r\n');
    this.text = '';
    const headers = new Map<string, string>();
    for (const line of this.state === 'head' ? lines.slice(1) : lines) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    if (this.state === 'head') {
      if (!/^HTTP\/1\.[01] 200 /.test(lines[0] ?? '')) throw new Error(`unexpected response: ${lines[0]}`);
      const boundary = /boundary=([^;\s]+)/.exec(headers.get('content-type') ?? '')?.[1];
      if (boundary === undefined) throw new Error(`not a multipart response: ${headers.get('content-type')}`);
      this.expect = Buffer.from(`--${boundary}\r\n`, 'latin1');
      this.trailer = Buffer.from(`\r\n--${boundary}\r\n`, 'latin1');
      this.expectIndex = 0;
      this.state = 'first';
    } else {
      const length = Number(headers.get('content-length'));
      if (!Number.isInteger(length) || length < 0) throw new Error(`part without a valid Content-Length: ${lines.join(' | ')}`);
      this.current = { sequence: Number(headers.get('x-frame-sequence') ?? -1), timestampMicros: parseTimestamp(headers.get('x-timestamp') ?? ''), jpegBytes: length };
      this.remaining = length;
      this.state = length > 0 ? 'body' : 'trailer';
      if (length === 0) {
        this.expect = this.trailer;
        this.expectIndex = 0;
      }
    }
    return at + 4 - before;
  }
}

/** `<sec>.<usec>` to whole microseconds, without a float's rounding. */
function parseTimestamp(value: string): number {
  const dot = value.indexOf('.');
  if (dot < 0) return Number(value) * 1e6;
  return Number(value.slice(0, dot)) * 1e6 + Number(value.slice(dot + 1, dot + 7).padEnd(6, '0'));
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export function windowStats(parts: readonly PartRecord[], fromMicros: number, toMicros: number): WindowStats {
  const inWindow = parts.filter((part) => part.arrivedMicros >= fromMicros && part.arrivedMicros < toMicros);
  const seconds = (toMicros - fromMicros) / 1e6;
  const latencies = inWindow.map((part) => (part.arrivedMicros - part.timestampMicros) / 1000).sort((a, b) => a - b);
  let gaps = 0;
  for (let i = 1; i < inWindow.length; i++) {
    const step = (inWindow[i] as PartRecord).sequence - (inWindow[i - 1] as PartRecord).sequence;
    if (step > 1) gaps += step - 1;
  }
  const round = (value: number): number => Math.round(value * 10) / 10;
  return {
    seconds: round(seconds),
    frames: inWindow.length,
    fps: round(inWindow.length / seconds),
    gaps,
    latencyMs: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)), max: round(latencies.at(-1) ?? Number.NaN) },
    bytesPerSecond: Math.round(inWindow.reduce((sum, part) => sum + part.jpegBytes, 0) / seconds),
  };
}

/** Frames per whole second since `startMicros`, for `seconds` seconds. */
export function fpsSeries(parts: readonly PartRecord[], startMicros: number, seconds: number): number[] {
  const series = new Array<number>(Math.max(0, Math.floor(seconds))).fill(0);
  for (const part of parts) {
    const second = Math.floor((part.arrivedMicros - startMicros) / 1e6);
    if (second >= 0 && second < series.length) series[second] = (series[second] as number) + 1;
  }
  return series;
}

function tick(reader: MjpegReader, t: number, lastCount: number, lastBytes: number): Tick {
  const recent = reader.parts.slice(lastCount);
  let gaps = 0;
  let previous = reader.parts[lastCount - 1]?.sequence;
  for (const part of recent) {
    if (previous !== undefined && part.sequence - previous > 1) gaps += part.sequence - previous - 1;
    previous = part.sequence;
  }
  return {
    type: 'tick',
    agent: reader.agent,
    t,
    frames: reader.parts.length,
    fps: recent.length,
    gaps,
    bytesPerSecond: reader.bytes - lastBytes,
    lastSize: reader.parts.at(-1)?.jpegBytes ?? 0,
    maxLatencyMs: Math.round(recent.reduce((max, part) => Math.max(max, (part.arrivedMicros - part.timestampMicros) / 1000), 0)),
  };
}

async function main(argv: string[]): Promise<void> {
  const [url, secondsArg, ...rest] = argv;
  const seconds = Number(secondsArg);
  if (url === undefined || !(seconds > 0)) {
    process.stderr.write('usage: mjpeg-reader.js <url> <seconds> [--agent NAME] [--connections N] [--window SECONDS] [--stall-after SECONDS]\n');
    process.exit(2);
  }
  const option = (name: string): string | undefined => {
    const at = rest.indexOf(name);
    return at >= 0 ? rest[at + 1] : undefined;
  };
  const agent = option('--agent') ?? 'mjpeg-reader';
  const connections = Number(option('--connections') ?? 1);
  const windowSeconds = Number(option('--window') ?? seconds / 2);
  const stallAfter = option('--stall-after') === undefined ? undefined : Number(option('--stall-after'));
  const readers = Array.from({ length: connections }, (_, i) => new MjpegReader(url, connections === 1 ? agent : `${agent}-${i}`));
  const started = nowMicros();
  const last = readers.map(() => ({ count: 0, bytes: 0 }));
  let t = 0;
  const ticker = setInterval(() => {
    t++;
    for (const [i, reader] of readers.entries()) {
      const previous = last[i] as { count: number; bytes: number };
      process.stdout.write(`${JSON.stringify(tick(reader, t, previous.count, previous.bytes))}\n`);
      last[i] = { count: reader.parts.length, bytes: reader.bytes };
    }
  }, 1000);
  let stallBytes: number[] = [];
  if (stallAfter !== undefined) {
    setTimeout(() => {
      for (const reader of readers) reader.socket.pause();
    }, stallAfter * 1000);
  }
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  clearInterval(ticker);
  const ended = nowMicros();
  if (stallAfter !== undefined) {
    // Read again: a connection the server closed meanwhile drains and ends.
    stallBytes = readers.map((reader) => reader.bytes);
    for (const reader of readers) reader.socket.resume();
    // A closed connection drains its buffered bytes and ends in well under a second;
    // one still open never ends, and this much longer wait only delays that answer.
    await Promise.race([Promise.all(readers.map((reader) => reader.whenClosed())), new Promise((resolve) => setTimeout(resolve, 20_000))]);
  }
  const windowStart = Math.max(started, ended - windowSeconds * 1e6);
  for (const [i, reader] of readers.entries()) {
    const result: ReaderResult = {
      type: 'result',
      agent: reader.agent,
      frames: reader.parts.length,
      seconds: Math.round((ended - started) / 1e5) / 10,
      window: reader.window(windowStart, ended),
      lastSizes: reader.parts.slice(-5).map((part) => part.jpegBytes),
      fpsSeries: fpsSeries(reader.parts, started, seconds),
      error: reader.error,
      closedByServer: reader.closedByServer,
    };
    if (stallAfter !== undefined) result.bytesAfterStall = reader.bytes - (stallBytes[i] as number);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    reader.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
