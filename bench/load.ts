/**
 * Load generator: N MJPEG viewers on raw sockets, run as its own process so its
 * CPU is measured apart from the server's. It reads camstream, the baselines and
 * the raw writer alike (bench/mjpeg-parser.ts); parts without X-Timestamp or
 * X-Frame-Sequence give no latency or gap count.
 *
 *   node dist/bench/load.js --url http://127.0.0.1:PORT --viewers 10
 *     [--agent camstream-bench] [--rate BYTES_PER_S [--rcvbuf BYTES | --read-period-ms MS]]
 *
 * Prints `ready` once every viewer has a frame, measures between the `start` and
 * `stop` lines on stdin, then prints the result and exits (closing every socket).
 *
 * Every viewer of one generator sends the same User-Agent (`--agent`), so the
 * orchestrator can find their entries in /api/stats. With `--rate`, each viewer
 * reads at most that many bytes per second, by pausing its socket (read-pace.ts):
 * in small steps, as a slow link delivers (as in slow-viewer-probe.ts), where
 * `--rcvbuf` fixes the client's SO_RCVBUF, because an auto-tuned receive buffer
 * grows to megabytes and would hold a backlog that a real link of that rate cannot
 * (it holds about its bandwidth × delay in flight); or with `--read-period-ms`, in
 * bursts, as a busy browser tab reads: up to rate × period each period, the receive
 * buffer left to the OS, which is exactly what lets it grow.
 */
import { createRequire } from 'node:module';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { socketFd } from '../src/stream/kernel-queue.js';
import { LatencyHistogram } from './latency-histogram.js';
import { PACED_BURST_MS, START, STOP, type LoadMessage, type ViewerResult } from './load-protocol.js';
import { MjpegParser } from './mjpeg-parser.js';
import { LinkPace, PeriodPace, type ReadPace } from './read-pace.js';

/** Per-socket read buffer, reused for every read (no allocation per chunk). */
const READ_BUFFER_BYTES = 256 * 1024;
/** A paced viewer reads in small steps, so its pacing is smooth. */
const PACED_READ_BUFFER_BYTES = 16 * 1024;
/**
 * A bursty viewer's read size: a read takes what the buffer holds, so a period's
 * last read overshoots its allowance by up to this (carried into the next period).
 */
const BURST_READ_BUFFER_BYTES = 64 * 1024;

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    viewers: { type: 'string', default: '1' },
    agent: { type: 'string', default: 'camstream-bench' },
    rate: { type: 'string', default: '0' },
    rcvbuf: { type: 'string', default: '0' },
    'read-period-ms': { type: 'string', default: '0' },
  },
});
if (values.url === undefined) throw new Error('load: --url is required');
const target = new URL('/stream', values.url);
const viewerCount = Number(values.viewers);
const agent = values.agent;
/** Bytes per second each viewer reads at most; 0 reads everything at once. */
const rate = Number(values.rate);
const rcvbuf = Number(values.rcvbuf);
/** 0: a paced viewer reads in small steps; above, in one burst per period. */
const readPeriodMs = Number(values['read-period-ms']);
if (!(rate >= 0) || !(rcvbuf >= 0)) throw new Error(`load: --rate and --rcvbuf take bytes, got '${values.rate}' and '${values.rcvbuf}'`);
if (!(readPeriodMs >= 0) || (readPeriodMs > 0 && rate === 0)) throw new Error(`load: --read-period-ms takes milliseconds and needs --rate, got '${values['read-period-ms']}'`);
const paceFor = (): ReadPace | undefined => (rate === 0 ? undefined : readPeriodMs > 0 ? new PeriodPace(rate, readPeriodMs) : new LinkPace(rate, PACED_BURST_MS));
const readBufferBytes = rate === 0 ? READ_BUFFER_BYTES : readPeriodMs > 0 ? BURST_READ_BUFFER_BYTES : PACED_READ_BUFFER_BYTES;
if (/[\r\n]/.test(agent)) throw new Error('load: --agent must be one line');
const setReceiveBuffer = rcvbuf > 0 ? receiveBufferSetter() : undefined;

/** setsockopt(SO_RCVBUF) through koffi, which Node does not offer; loaded only when asked for. */
function receiveBufferSetter(): (socket: Socket, bytes: number) => void {
  const SOL_SOCKET = 1;
  const SO_RCVBUF = 8;
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  const setsockopt = koffi
    .load('libc.so.6')
    .func('int setsockopt(int fd, int level, int name, const void *value, uint32_t length)') as (fd: number, level: number, name: number, value: Int32Array, length: number) => number;
  return (socket, bytes) => {
    const fd = socketFd(socket);
    if (fd === undefined || setsockopt(fd, SOL_SOCKET, SO_RCVBUF, Int32Array.of(bytes), 4) !== 0) throw new Error(`SO_RCVBUF ${bytes} could not be set`);
  };
}

let measuring = false;
/** Latencies of the window, mergeable with other generators' (several share a scenario at ≥ 100 viewers). */
let latencies = new LatencyHistogram();
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

/** One viewer: a raw socket, its parser and the window's counters. */
class Viewer {
  frames = 0;
  gaps = 0;
  jpegBytes = 0;
  bytes = 0;
  ready = false;
  error: string | undefined;
  private lastSequence = -1;
  private readonly buffer = Buffer.allocUnsafe(readBufferBytes);
  private readonly parser = new MjpegParser(this.onPart.bind(this));
  private readonly socket: Socket;
  private readonly pace = paceFor();
  private readonly resume = (): void => void this.socket.resume();

  constructor() {
    this.socket = connect({
      host: target.hostname,
      port: Number(target.port),
      onread: { buffer: this.buffer, callback: this.onRead.bind(this) },
    });
    this.socket.setNoDelay(true);
    if (setReceiveBuffer !== undefined) {
      this.socket.once('connect', () => {
        try {
          setReceiveBuffer(this.socket, rcvbuf);
        } catch (error) {
          this.fail((error as Error).message);
        }
      });
    }
    this.socket.write(`GET ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nUser-Agent: ${agent}\r\n\r\n`);
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

  /** Returning false pauses the socket (net's onread contract): how a paced viewer waits. */
  private onRead(bytes: number): boolean {
    try {
      this.parser.push(this.buffer, bytes);
    } catch (error) {
      this.fail((error as Error).message);
      return false;
    }
    if (measuring) this.bytes += bytes;
    if (this.pace === undefined) return true;
    const waitMs = this.pace.afterRead(bytes, performance.now());
    if (waitMs <= 0) return true;
    setTimeout(this.resume, waitMs);
    return false;
  }

  private onPart(sequence: number, timestampMicros: number, jpegBytes: number): void {
    if (!this.ready) {
      this.ready = true;
      readyCount++;
      checkReady();
    }
    const skipped = sequence >= 0 && this.lastSequence >= 0 ? sequence - this.lastSequence - 1 : 0;
    this.lastSequence = sequence;
    if (!measuring) return;
    // Wall clock like the server's X-Timestamp (timeOrigin + now), in microseconds.
    if (timestampMicros >= 0) latencies.record((performance.timeOrigin + performance.now()) * 1000 - timestampMicros);
    this.frames++;
    this.jpegBytes += jpegBytes;
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

function startWindow(): void {
  for (const viewer of viewers) viewer.resetWindow();
  latencies = new LatencyHistogram();
  cpuStart = process.cpuUsage();
  windowStart = performance.now();
  measuring = true;
}

function stopWindow(): void {
  measuring = false;
  const seconds = (performance.now() - windowStart) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const percent = (micros: number): number => (micros / 1e6 / seconds) * 100;
  const results: ViewerResult[] = viewers.map((v) => ({ frames: v.frames, gaps: v.gaps, jpegBytes: v.jpegBytes, bytes: v.bytes, fps: v.frames / seconds, error: v.error }));
  for (const viewer of viewers) viewer.close();
  send(
    {
      event: 'result',
      seconds,
      viewers: results,
      latencyMs: latencies.summary(),
      latencyCounts: latencies.toJSON(),
      cpu: { total: percent(cpu.user + cpu.system), user: percent(cpu.user), system: percent(cpu.system) },
    },
    () => process.exit(0),
  );
}

const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  if (line === START) startWindow();
  else if (line === STOP) stopWindow();
});
// The orchestrator went away: nobody will read a result.
commands.on('close', () => process.exit(measuring ? 1 : 0));
