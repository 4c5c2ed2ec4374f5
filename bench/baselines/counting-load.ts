/**
 * A minimal counting load generator for servers whose stream bench/load.ts cannot
 * parse (bench/compare.ts uses it for mjpeg-server@0.3.1). bench/mjpeg-parser.ts
 * expects camstream's boundary string, its exact 33-byte trailer and no HTTP
 * framing; mjpeg-server uses the boundary "myboundary", puts "--myboundary" before
 * each part instead of after it, and its response is chunked.
 *
 * This one takes the boundary from the response's Content-Type, undoes chunked
 * transfer encoding, and counts parts by their headers' Content-Length, skipping
 * the JPEG bytes without scanning them (so it costs about what load.js does).
 * X-Timestamp and X-Frame-Sequence are read when present; without them there is
 * no latency (NaN, samples 0) and no gap count.
 *
 * It speaks load.js's protocol (bench/load-protocol.ts), so LoadProcess drives it:
 *
 *   node dist/bench/baselines/counting-load.js --url http://127.0.0.1:PORT --viewers 10
 */
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { percentile, START, STOP, type LoadMessage, type ViewerResult } from '../load-protocol.js';

const READ_BUFFER_BYTES = 256 * 1024;
const MAX_HEADER = 4096;

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    viewers: { type: 'string', default: '1' },
    agent: { type: 'string', default: 'camstream-bench' },
  },
});
if (values.url === undefined) throw new Error('counting-load: --url is required');
const target = new URL('/stream', values.url);
const viewerCount = Number(values.viewers);

let measuring = false;
let latencies: number[] = [];
let readyCount = 0;
let failedCount = 0;
let readySent = false;

function send(message: LoadMessage, then?: () => void): void {
  process.stdout.write(`${JSON.stringify(message)}\n`, then);
}

function checkReady(): void {
  if (readySent || readyCount + failedCount < viewerCount) return;
  readySent = true;
  send({ event: 'ready', connected: readyCount, failed: failedCount });
}

function parseTimestamp(value: string): number {
  const dot = value.indexOf('.');
  if (dot < 0) return Number(value) * 1e6;
  return Number(value.slice(0, dot)) * 1e6 + Number(value.slice(dot + 1, dot + 7).padEnd(6, '0'));
}

class Viewer {
  frames = 0;
  gaps = 0;
  jpegBytes = 0;
  bytes = 0;
  ready = false;
  error: string | undefined;
  private readonly buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private readonly socket: Socket;
  /** HTTP level: the response head, then the body (chunk sizes, chunk data, chunk CRLF) or plain. */
  private http: 'head' | 'size' | 'data' | 'dataEnd' | 'plain' = 'head';
  private headText = '';
  private chunkLeft = 0;
  private sizeText = '';
  private dataEndLeft = 0;
  /** Multipart level, over the body bytes. */
  private part: 'header' | 'body' = 'header';
  private partText = '';
  private bodyLeft = 0;
  private partBytes = 0;
  private partSequence = -1;
  private partTimestamp = -1;
  private lastSequence = -1;

  constructor() {
    this.socket = connect({ host: target.hostname, port: Number(target.port), onread: { buffer: this.buffer, callback: (n) => this.onRead(n) } });
    this.socket.setNoDelay(true);
    this.socket.write(`GET ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nUser-Agent: ${values.agent}\r\n\r\n`);
    this.socket.on('error', (error) => this.fail(error.message));
    this.socket.on('close', () => this.fail('server closed the stream'));
  }

  resetWindow(): void {
    this.frames = 0;
    this.gaps = 0;
    this.jpegBytes = 0;
    this.bytes = 0;
  }

  close(): void {
    this.error ??= 'closed by the load generator';
    this.socket.destroy();
  }

  private onRead(n: number): boolean {
    if (measuring) this.bytes += n;
    try {
      this.http_(this.buffer, 0, n);
    } catch (error) {
      this.fail((error as Error).message);
      return false;
    }
    return true;
  }

  /** Strips HTTP framing, passing body bytes to body(). */
  private http_(chunk: Buffer, start: number, end: number): void {
    let pos = start;
    while (pos < end) {
      switch (this.http) {
        case 'head': {
          const take = Math.min(end - pos, 512);
          const before = this.headText.length;
          this.headText += chunk.toString('latin1', pos, pos + take);
          const at = this.headText.indexOf('\r\n\r\n');
          if (at < 0) {
            if (this.headText.length > MAX_HEADER) throw new Error('no end of the response head');
            pos += take;
            break;
          }
          const head = this.headText.slice(0, at);
          if (!/^HTTP\/1\.[01] 200 /.test(head)) throw new Error(`unexpected response: ${head.split('\r\n')[0] ?? ''}`);
          if (!/boundary=/i.test(head)) throw new Error('no multipart boundary in the response head');
          this.http = /^transfer-encoding:\s*chunked/im.test(head) ? 'size' : 'plain';
          pos += at + 4 - before;
          this.headText = '';
          break;
        }
        case 'plain':
          this.body(chunk, pos, end);
          pos = end;
          break;
        case 'size': {
          const lf = chunk.indexOf(10, pos);
          const stop = lf < 0 || lf >= end ? end : lf + 1;
          this.sizeText += chunk.toString('latin1', pos, stop);
          pos = stop;
          if (this.sizeText.endsWith('\r\n')) {
            this.chunkLeft = parseInt(this.sizeText, 16);
            this.sizeText = '';
            if (!Number.isInteger(this.chunkLeft)) throw new Error('bad chunk size');
            if (this.chunkLeft === 0) throw new Error('the server ended the stream');
            this.http = 'data';
          } else if (this.sizeText.length > 32) throw new Error('bad chunk size line');
          break;
        }
        case 'data': {
          const stop = Math.min(end, pos + this.chunkLeft);
          this.body(chunk, pos, stop);
          this.chunkLeft -= stop - pos;
          pos = stop;
          if (this.chunkLeft === 0) {
            this.http = 'dataEnd';
            this.dataEndLeft = 2;
          }
          break;
        }
        case 'dataEnd': {
          const n = Math.min(end - pos, this.dataEndLeft);
          pos += n;
          this.dataEndLeft -= n;
          if (this.dataEndLeft === 0) this.http = 'size';
          break;
        }
      }
    }
  }

  /** Multipart: header text up to a blank line (boundary lines and CRLFs before it are skipped), then Content-Length bytes. */
  private body(chunk: Buffer, start: number, end: number): void {
    let pos = start;
    while (pos < end) {
      if (this.part === 'body') {
        const n = Math.min(end - pos, this.bodyLeft);
        pos += n;
        this.bodyLeft -= n;
        if (this.bodyLeft === 0) {
          this.part = 'header';
          this.onPart();
        }
        continue;
      }
      const take = Math.min(end - pos, 256);
      const before = this.partText.length;
      this.partText += chunk.toString('latin1', pos, pos + take);
      // Leading CRLFs (after the previous JPEG) are not the header's end.
      const trimmed = this.partText.replace(/^(\r\n)+/, '');
      const offset = this.partText.length - trimmed.length;
      const at = trimmed.indexOf('\r\n\r\n');
      if (at < 0) {
        if (this.partText.length > MAX_HEADER) throw new Error('no end of a part header');
        pos += take;
        continue;
      }
      this.parseHeader(trimmed.slice(0, at));
      pos += offset + at + 4 - before;
      this.partText = '';
      this.part = 'body';
      if (this.bodyLeft === 0) {
        this.part = 'header';
        this.onPart();
      }
    }
  }

  private parseHeader(header: string): void {
    let length = -1;
    this.partSequence = -1;
    this.partTimestamp = -1;
    for (const line of header.split('\r\n')) {
      if (line.startsWith('--')) continue;
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') length = Number(value);
      else if (name === 'x-frame-sequence') this.partSequence = Number(value);
      else if (name === 'x-timestamp') this.partTimestamp = parseTimestamp(value);
    }
    if (!Number.isInteger(length) || length < 0) throw new Error(`part header without a valid Content-Length: ${JSON.stringify(header)}`);
    this.partBytes = length;
    this.bodyLeft = length;
  }

  private onPart(): void {
    if (!this.ready) {
      this.ready = true;
      readyCount++;
      checkReady();
    }
    const skipped = this.partSequence >= 0 && this.lastSequence >= 0 ? this.partSequence - this.lastSequence - 1 : 0;
    this.lastSequence = this.partSequence;
    if (!measuring) return;
    if (this.partTimestamp >= 0) latencies.push((performance.timeOrigin + performance.now()) * 1000 - this.partTimestamp);
    this.frames++;
    this.jpegBytes += this.partBytes;
    if (skipped > 0) this.gaps += skipped;
  }

  private fail(reason: string): void {
    if (this.error !== undefined) return;
    this.error = reason;
    if (!this.ready) failedCount++;
    this.socket.destroy();
    checkReady();
  }
}

const viewers = Array.from({ length: viewerCount }, () => new Viewer());
let windowStart = 0;
let cpuStart = process.cpuUsage();

const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  if (line === START) {
    for (const viewer of viewers) viewer.resetWindow();
    latencies = [];
    cpuStart = process.cpuUsage();
    windowStart = performance.now();
    measuring = true;
  } else if (line === STOP) {
    measuring = false;
    const seconds = (performance.now() - windowStart) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    const percent = (micros: number): number => (micros / 1e6 / seconds) * 100;
    const sorted = Float64Array.from(latencies).sort();
    const results: ViewerResult[] = viewers.map((v) => ({ frames: v.frames, gaps: v.gaps, jpegBytes: v.jpegBytes, bytes: v.bytes, fps: v.frames / seconds, error: v.error }));
    for (const viewer of viewers) viewer.close();
    send(
      {
        event: 'result',
        seconds,
        viewers: results,
        latencyMs: { p50: percentile(sorted, 50) / 1000, p99: percentile(sorted, 99) / 1000, max: percentile(sorted, 100) / 1000, samples: sorted.length },
        cpu: { total: percent(cpu.user + cpu.system), user: percent(cpu.user), system: percent(cpu.system) },
      },
      () => process.exit(0),
    );
  }
});
commands.on('close', () => process.exit(measuring ? 1 : 0));
