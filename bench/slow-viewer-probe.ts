/**
 * Issue #4 probe: how much latency do slow viewers get, and what does bounding
 * the kernel's send queue (src/stream/kernel-queue.ts) change? A measurement, not
 * a test: it prints a table.
 *
 *   npx tsc -p . && node dist/bench/slow-viewer-probe.js [--seconds 15]
 *     [--cases default,sndbuf:131072,lowat:16384,sndbuf:131072+lowat:16384]
 *     [--fast 8] [--slow 2] [--rate 2000000] [--client-rcvbuf 65536 (0: auto-tuned)]
 *
 * Each case starts a fresh camstream (synthetic 1920x1080@60, as the tests do),
 * applies its socket option once to the listening socket (accepted sockets inherit
 * it), and connects fast viewers (read everything) and slow ones (read at --rate
 * bytes/s, paced by pausing the socket) from a worker thread, so the clients'
 * event loop is not the server's. Latency = wall clock when a part's last byte
 * arrived − its X-Timestamp. Meanwhile the server's end of each slow viewer's
 * socket is sampled for unsent bytes (SIOCOUTQNSD) every 50 ms, and the client's
 * end for bytes received but not yet read (SIOCINQ). Reading slowly is how this
 * probe makes a slow link; left auto-tuned, the slow client's receive buffer grows
 * to megabytes and holds the backlog that a real link cannot hold (it has about
 * bandwidth × delay in flight), so slow viewers get a fixed SO_RCVBUF by default.
 *
 * It first times kernelQueue.unsentBytes() itself, against reading /proc/net/tcp.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { PerformanceObserver } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { createCamstream } from '../src/index.js';
import { openKernelQueue, socketFd, type KernelQueue } from '../src/stream/kernel-queue.js';
import { percentile } from './load-protocol.js';
import { MjpegParser } from './mjpeg-parser.js';

const SOURCE = 'synthetic:1920x1080@60';
/** Lets every slow viewer's queues fill (the default auto-tuned buffer takes a second or two). */
const WARMUP_MS = 4000;
const SAMPLE_MS = 50;
const FAST_AGENT = 'probe-fast';
const SLOW_AGENT = 'probe-slow';

interface ClientConfig {
  url: string;
  fast: number;
  slow: number;
  rate: number;
  /** SO_RCVBUF for the slow viewers' sockets, 0 to leave it auto-tuned. */
  clientRcvbuf: number;
}

type ToWorker = 'start' | 'stop';

type FromWorker =
  | { event: 'ready'; slowPorts: number[] }
  | { event: 'result'; seconds: number; fast: GroupResult; slow: GroupResult }
  | { event: 'error'; message: string };

interface GroupResult {
  /** Latencies of every part of every viewer of the group, µs, ascending. */
  latencies: Float64Array;
  /** Parts per viewer in the window. */
  frames: number[];
  errors: string[];
  /** Samples of the viewers' kernel receive queues (bytes arrived, not yet read), ascending. */
  receiveQueue: Float64Array;
}

/** SIOCINQ = FIONREAD on Linux's generic ABI: bytes in a socket's receive queue. */
const SIOCINQ = 0x541b;

const SOL_SOCKET = 1;
const SO_RCVBUF = 8;

/**
 * ioctl(SIOCINQ) and SO_RCVBUF through koffi, for the clients' side only (the
 * module under test covers the server's).
 */
function clientSocketTools(): { receiveQueue(socket: net.Socket): number | undefined; setReceiveBuffer(socket: net.Socket, bytes: number): void } {
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  const libc = koffi.load('libc.so.6');
  const ioctl = libc.func('int ioctl(int fd, unsigned long request, void *out)') as (fd: number, request: number, out: Int32Array) => number;
  const setsockopt = libc.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t length)') as (fd: number, level: number, name: number, value: Int32Array, length: number) => number;
  const out = new Int32Array(1);
  return {
    receiveQueue: (socket) => {
      const fd = socketFd(socket);
      return fd !== undefined && ioctl(fd, SIOCINQ, out) === 0 ? out[0] : undefined;
    },
    setReceiveBuffer: (socket, bytes) => {
      const fd = socketFd(socket);
      if (fd === undefined || setsockopt(fd, SOL_SOCKET, SO_RCVBUF, Int32Array.of(bytes), 4) !== 0) throw new Error('SO_RCVBUF could not be set');
    },
  };
}

// ---------------------------------------------------------------------------
// Worker thread: the viewers.

/** A slow viewer reads in small steps so its pacing is smooth. */
const SLOW_READ_BUFFER = 16 * 1024;
const FAST_READ_BUFFER = 256 * 1024;

/**
 * One viewer on a raw socket. A fast one reads everything; a slow one (rate > 0)
 * pauses its socket whenever it has read more than rate × elapsed time, until
 * time catches up, and records latencies only while `measuring`.
 */
class ProbeViewer {
  measuring = false;
  frames = 0;
  ready = false;
  error: string | undefined;
  localPort = 0;
  readonly latencies: number[] = [];
  readonly socket: net.Socket;
  private readonly buffer: Buffer;
  private readonly parser = new MjpegParser(this.onPart.bind(this));
  private readonly rate: number;
  private readonly onReady: () => void;
  private readBytes = 0;
  private readonly started = performance.now();
  private readonly resume = (): void => {
    this.socket.resume();
  };

  constructor(url: URL, rate: number, onReady: () => void, onConnect: (socket: net.Socket) => void) {
    this.rate = rate;
    this.onReady = onReady;
    this.buffer = Buffer.allocUnsafe(rate > 0 ? SLOW_READ_BUFFER : FAST_READ_BUFFER);
    this.socket = net.connect({ host: url.hostname, port: Number(url.port), onread: { buffer: this.buffer, callback: this.onRead.bind(this) } });
    this.socket.setNoDelay(true);
    this.socket.on('connect', () => {
      this.localPort = this.socket.localPort ?? 0;
      onConnect(this.socket);
    });
    this.socket.on('error', (error) => this.fail(error.message));
    this.socket.on('close', () => this.fail('closed'));
    this.socket.write(`GET /stream HTTP/1.1\r\nHost: ${url.host}\r\nUser-Agent: ${rate > 0 ? SLOW_AGENT : FAST_AGENT}\r\n\r\n`);
  }

  close(): void {
    this.error ??= 'closed by the probe';
    this.socket.destroy();
  }

  /** Returning false pauses the socket (net's onread contract). */
  private onRead(bytes: number): boolean {
    try {
      this.parser.push(this.buffer, bytes);
    } catch (error) {
      this.fail((error as Error).message);
      return false;
    }
    if (this.rate === 0) return true;
    this.readBytes += bytes;
    const aheadMs = (this.readBytes / this.rate) * 1000 - (performance.now() - this.started);
    if (aheadMs <= 0) return true;
    setTimeout(this.resume, aheadMs);
    return false;
  }

  private onPart(_sequence: number, timestampMicros: number): void {
    if (!this.ready) {
      this.ready = true;
      this.onReady();
    }
    if (!this.measuring) return;
    this.frames++;
    this.latencies.push((performance.timeOrigin + performance.now()) * 1000 - timestampMicros);
  }

  private fail(reason: string): void {
    if (this.error !== undefined) return;
    this.error = reason;
    this.socket.destroy();
    // A viewer that failed before its first part is done waiting; its error is reported.
    if (!this.ready) {
      this.ready = true;
      this.onReady();
    }
  }
}

function runClients(config: ClientConfig, port: NonNullable<typeof parentPort>): void {
  const url = new URL(config.url);
  let waiting = config.fast + config.slow;
  const ready = (): void => {
    if (--waiting > 0) return;
    port.postMessage({ event: 'ready', slowPorts: slow.map((viewer) => viewer.localPort) } satisfies FromWorker);
  };
  const tools = clientSocketTools();
  // A slow reader's kernel would otherwise auto-tune its receive buffer to megabytes and
  // hold the backlog itself; a real slow link holds about its bandwidth × delay in flight.
  const limitReceive = (socket: net.Socket): void => {
    if (config.clientRcvbuf > 0) tools.setReceiveBuffer(socket, config.clientRcvbuf);
  };
  const fast = Array.from({ length: config.fast }, () => new ProbeViewer(url, 0, ready, () => {}));
  const slow = Array.from({ length: config.slow }, () => new ProbeViewer(url, config.rate, ready, limitReceive));
  const all = [...fast, ...slow];
  const receiveQueue = tools.receiveQueue;
  const queued = new Map<ProbeViewer, number[]>(all.map((viewer) => [viewer, []]));
  let sampler: NodeJS.Timeout | undefined;
  let started = 0;
  const group = (viewers: ProbeViewer[]): GroupResult => ({
    latencies: Float64Array.from(viewers.flatMap((viewer) => viewer.latencies)).sort(),
    frames: viewers.map((viewer) => viewer.frames),
    errors: viewers.flatMap((viewer) => (viewer.error === undefined ? [] : [viewer.error])),
    receiveQueue: Float64Array.from(viewers.flatMap((viewer) => queued.get(viewer) ?? [])).sort(),
  });
  port.on('message', (message: ToWorker) => {
    if (message === 'start') {
      started = performance.now();
      for (const viewer of all) viewer.measuring = true;
      sampler = setInterval(() => {
        for (const viewer of all) {
          const bytes = receiveQueue(viewer.socket);
          if (bytes !== undefined) queued.get(viewer)?.push(bytes);
        }
      }, SAMPLE_MS);
      return;
    }
    clearInterval(sampler);
    const seconds = (performance.now() - started) / 1000;
    for (const viewer of all) viewer.measuring = false;
    const result: FromWorker = { event: 'result', seconds, fast: group(fast), slow: group(slow) };
    for (const viewer of all) viewer.close();
    port.postMessage(result);
    port.close();
  });
}

// ---------------------------------------------------------------------------
// Main thread: the server, the cases, the table.

interface Case {
  name: string;
  apply(kernel: KernelQueue, server: net.Server): string;
}

/** `default`, `sndbuf:BYTES`, `lowat:BYTES`, or several joined by `+` (e.g. `sndbuf:131072+lowat:16384`). */
function parseCase(spec: string): Case {
  if (spec === 'default') return { name: 'default (auto-tuned)', apply: () => 'kernel defaults' };
  const steps = spec.split('+').map((part): Case => {
    const [kind, value] = part.split(':');
    const bytes = Number(value);
    if (kind === 'sndbuf' && bytes > 0) {
      return {
        name: `SO_SNDBUF ${bytes / 1024} KB`,
        apply: (kernel, server) => `SO_SNDBUF ${bytes} -> kernel reports ${kernel.setSendBuffer(server, bytes) ?? 'failure'}`,
      };
    }
    if (kind === 'lowat' && bytes > 0) {
      return {
        name: `NOTSENT_LOWAT ${bytes / 1024} KB`,
        apply: (kernel, server) => `TCP_NOTSENT_LOWAT ${bytes}: ${kernel.setNotSentLowat(server, bytes) ? `set, reads back ${kernel.notSentLowat(server)}` : 'failed'}`,
      };
    }
    throw new Error(`--cases: expected default, sndbuf:BYTES, lowat:BYTES or a + of them, got '${spec}'`);
  });
  return {
    name: steps.map((step) => step.name).join(' + '),
    apply: (kernel, server) => steps.map((step) => step.apply(kernel, server)).join('; '),
  };
}

interface CaseResult {
  name: string;
  fastP50: number;
  fastP99: number;
  fastFps: number;
  slowP50: number;
  slowP99: number;
  slowFps: number;
  unsentP50: number;
  unsentMax: number;
  slowSndbuf: number;
  slowReceiveQueueP50: number;
  errors: string[];
}

async function runCase(kernel: KernelQueue, probe: Case, config: Omit<ClientConfig, 'url'>, seconds: number): Promise<CaseResult> {
  const server = createCamstream({ source: SOURCE, port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
  const url = await server.start();
  try {
    const listener = server.http.server;
    console.log(`  ${probe.name}: ${probe.apply(kernel, listener)}`);
    const accepted = new Map<number, net.Socket>();
    listener.on('connection', (socket: net.Socket) => accepted.set(socket.remotePort ?? 0, socket));

    const worker = new Worker(new URL(import.meta.url), { workerData: { ...config, url } satisfies ClientConfig });
    const messages: FromWorker[] = [];
    let wake: (() => void) | undefined;
    worker.on('message', (message: FromWorker) => {
      messages.push(message);
      wake?.();
    });
    worker.on('error', (error) => {
      messages.push({ event: 'error', message: error.message });
      wake?.();
    });
    const next = async (timeoutMs: number): Promise<FromWorker> => {
      const deadline = performance.now() + timeoutMs;
      while (messages.length === 0) {
        if (performance.now() > deadline) throw new Error('the viewers did not answer in time');
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 100);
        });
      }
      const message = messages.shift() as FromWorker;
      if (message.event === 'error') throw new Error(`viewer worker: ${message.message}`);
      return message;
    };

    const ready = await next(20_000);
    if (ready.event !== 'ready') throw new Error(`expected ready, got ${ready.event}`);
    const slowSockets = ready.slowPorts.map((port) => accepted.get(port)).filter((socket): socket is net.Socket => socket !== undefined);
    await sleep(WARMUP_MS);

    worker.postMessage('start' satisfies ToWorker);
    const unsent: number[] = [];
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      for (const socket of slowSockets) {
        const bytes = kernel.unsentBytes(socket);
        if (bytes !== undefined) unsent.push(bytes);
      }
      await sleep(SAMPLE_MS);
    }
    const slowSndbuf = Math.max(0, ...slowSockets.map((socket) => kernel.sendBufferSize(socket) ?? 0));
    worker.postMessage('stop' satisfies ToWorker);
    const result = await next(10_000);
    if (result.event !== 'result') throw new Error(`expected result, got ${result.event}`);
    await worker.terminate();

    unsent.sort((a, b) => a - b);
    const fps = (group: GroupResult): number => group.frames.reduce((sum, frames) => sum + frames, 0) / group.frames.length / result.seconds;
    return {
      name: probe.name,
      fastP50: percentile(result.fast.latencies, 50) / 1000,
      fastP99: percentile(result.fast.latencies, 99) / 1000,
      fastFps: fps(result.fast),
      slowP50: percentile(result.slow.latencies, 50) / 1000,
      slowP99: percentile(result.slow.latencies, 99) / 1000,
      slowFps: fps(result.slow),
      unsentP50: percentile(unsent, 50),
      unsentMax: percentile(unsent, 100),
      slowSndbuf,
      slowReceiveQueueP50: percentile(result.slow.receiveQueue, 50),
      errors: [...result.fast.errors, ...result.slow.errors].filter((error) => error !== 'closed by the probe'),
    };
  } finally {
    await server.stop();
  }
}

/** Times unsentBytes() on a socket whose peer does not read, and /proc/net/tcp for contrast. */
async function measureCallCost(kernel: KernelQueue): Promise<void> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const acceptedP = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.pause();
  const socket = await acceptedP;
  socket.write(Buffer.alloc(1024 * 1024));
  await sleep(200);

  let gcs = 0;
  const observer = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  observer.observe({ entryTypes: ['gc'] });
  let sink = 0;
  for (let i = 0; i < 100_000; i++) sink += kernel.unsentBytes(socket) ?? 0;
  await sleep(50);
  gcs = 0;
  const calls = 2_000_000;
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  for (let i = 0; i < calls; i++) sink += kernel.unsentBytes(socket) ?? 0;
  const elapsedMs = performance.now() - started;
  const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
  await sleep(50);
  observer.disconnect();

  const reads = 200;
  const procStarted = performance.now();
  for (let i = 0; i < reads; i++) sink += readFileSync('/proc/net/tcp').length;
  const procUs = ((performance.now() - procStarted) * 1000) / reads;

  const ns = (elapsedMs * 1e6) / calls;
  console.log(`unsentBytes(): ${ns.toFixed(0)} ns per call, ${((calls / elapsedMs) * 1000 / 1e6).toFixed(2)} M calls/s over ${calls} calls; ` +
    `${gcs} GCs and ${(heapGrowth / 1024).toFixed(0)} KB heap growth meanwhile (value ${kernel.unsentBytes(socket)} B; checksum ${sink % 7})`);
  console.log(`for contrast, one read of /proc/net/tcp: ${procUs.toFixed(1)} µs (and it lists every socket, to be parsed)`);
  client.destroy();
  socket.destroy();
  server.close();
}

function table(results: CaseResult[]): string {
  const head = ['case', 'fast p50 ms', 'fast p99 ms', 'fast fps', 'slow p50 ms', 'slow p99 ms', 'slow fps', 'slow unsent p50 KB', 'slow unsent max KB', 'slow SO_SNDBUF KB', 'slow client unread p50 KB'];
  const rows = results.map((r) => [
    r.name,
    r.fastP50.toFixed(1),
    r.fastP99.toFixed(1),
    r.fastFps.toFixed(1),
    r.slowP50.toFixed(0),
    r.slowP99.toFixed(0),
    r.slowFps.toFixed(1),
    (r.unsentP50 / 1024).toFixed(0),
    (r.unsentMax / 1024).toFixed(0),
    (r.slowSndbuf / 1024).toFixed(0),
    (r.slowReceiveQueueP50 / 1024).toFixed(0),
  ]);
  const lines = [head, head.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '15' },
      cases: { type: 'string', default: 'default,sndbuf:131072,sndbuf:65536,lowat:16384,sndbuf:131072+lowat:16384' },
      fast: { type: 'string', default: '8' },
      slow: { type: 'string', default: '2' },
      rate: { type: 'string', default: '2000000' },
      'client-rcvbuf': { type: 'string', default: '65536' },
    },
  });
  const seconds = Number(values.seconds);
  const config = { fast: Number(values.fast), slow: Number(values.slow), rate: Number(values.rate), clientRcvbuf: Number(values['client-rcvbuf']) };
  const cases = values.cases.split(',').map(parseCase);
  const kernel = openKernelQueue();
  if (!kernel.available) throw new Error(`kernel queue unavailable: ${kernel.reason}`);

  await measureCallCost(kernel);
  const receive = config.clientRcvbuf > 0 ? `SO_RCVBUF ${config.clientRcvbuf} B` : 'auto-tuned receive buffers';
  console.log(`\n${SOURCE}, ${config.fast} fast + ${config.slow} slow viewers (${config.rate / 1e6} MB/s, ${receive}), ${WARMUP_MS / 1000} s warm-up + ${seconds} s per case`);
  const results: CaseResult[] = [];
  for (const probe of cases) {
    const result = await runCase(kernel, probe, config, seconds);
    if (result.errors.length > 0) console.log(`  viewer errors: ${result.errors.join('; ')}`);
    results.push(result);
    await sleep(500);
  }
  console.log(`\n${table(results)}`);
}

if (isMainThread) {
  await main();
} else {
  runClients(workerData as ClientConfig, parentPort as NonNullable<typeof parentPort>);
}
