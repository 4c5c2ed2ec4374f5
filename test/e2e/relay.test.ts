/**
 * The deployment of docs/DEPLOY.md on loopback: an origin camstream, a relay
 * camstream pulling it over its http: source, and real nginx in front running
 * deploy/nginx/camstream.conf (only its upstream servers and listen addresses
 * replaced). Viewers connect through nginx.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { decodeFrameMessage } from '../../src/http/ws-message.js';
import type { Camstream } from '../../src/index.js';
import { connectMjpeg, isWholeJpeg, type ReceivedPart } from '../helpers/mjpeg-client.js';
import { percentile } from '../helpers/mjpeg-reader.js';
import { eventually, freePort, getJson, sleep, startServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';

const SHIPPED_CONF = new URL('../../../deploy/nginx/camstream.conf', import.meta.url);
/** ≈ 53 KB frames at 30 fps: ≈ 1.6 MB/s, eight times what the slow viewer reads. */
const CAMERA = 'synthetic:854x480@30';
const SLOW_VIEWER_BYTES_PER_SECOND = 200 * 1024;
const WARM_UP_MS = 6000;
const MEASURE_MS = 6000;
/**
 * Bounded, not small (docs/DEPLOY.md, "A slow viewer behind nginx"): the delay is
 * the bytes the sockets between relay and viewer hold (nginx's 256 KB sndbuf,
 * nginx's receive buffer from the relay, which Linux auto-tunes to 0.2–0.85 MB and
 * nginx cannot bound, the relay's 64 KiB unsent) drained at 200 KB/s, while the relay
 * steps nginx's connection down its ladder a rung a second. Measured p90 over this
 * window 1.9–4.7 s, peaks up to 6.5 s. Without the shipped sndbuf it climbs 0.9 s
 * every second, to a p90 of 9.9 s in this window.
 */
const SLOW_VIEWER_MAX_P90_MS = 8000;

function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** `<sec>.<usec>` to whole µs (camstream always writes six digits). */
function timestampMicros(text: string | undefined): number {
  const match = /^(\d+)\.(\d{6})$/.exec(text ?? '');
  if (match === null) throw new Error(`bad X-Timestamp ${String(text)}`);
  return Number(match[1]) * 1e6 + Number(match[2]);
}

/**
 * The shipped server block with its relays replaced by `relay` and its listen
 * addresses by `listen` (socket options such as sndbuf kept), so what is tested is
 * what is shipped. Throws if the file no longer has the lines this relies on.
 */
export function adaptShippedConf(shipped: string, relay: string, listen: string): string {
  let servers = 0;
  let listens = 0;
  const adapted = shipped
    // One line each ([ \t], never \s, so a match cannot run on into the next line).
    .replace(/^([ \t]*)server[ \t]+[^\s;{]+([^;{\n]*;)/gm, (_line, indent: string, options: string) => (servers++ === 0 ? `${indent}server ${relay}${options}` : ''))
    .replace(/^([ \t]*listen[ \t]+)[^\s;]+([^;\n]*;)/gm, (_line, start: string, options: string) => (listens++ === 0 ? `${start}${listen}${options}` : ''));
  if (servers === 0 || listens === 0) throw new Error(`deploy/nginx/camstream.conf: found ${servers} upstream server and ${listens} listen lines`);
  return adapted;
}

/** A whole nginx.conf around the shipped server block, everything nginx writes kept in `dir`. */
function nginxConf(dir: string, serverBlock: string): string {
  const asRoot = process.getuid?.() === 0;
  return [
    // Workers of a root master would otherwise run as nobody; the paths are root's tmpdir.
    asRoot ? 'user root;' : '',
    'worker_processes 1;',
    `error_log ${dir}/error.log warn;`,
    'events { worker_connections 256; }',
    'http {',
    `  access_log ${dir}/access.log;`,
    `  client_body_temp_path ${dir}/client_body;`,
    `  proxy_temp_path ${dir}/proxy;`,
    `  fastcgi_temp_path ${dir}/fastcgi;`,
    `  uwsgi_temp_path ${dir}/uwsgi;`,
    `  scgi_temp_path ${dir}/scgi;`,
    serverBlock,
    '}',
  ].join('\n');
}

interface Nginx {
  url: string;
  stop(): Promise<void>;
}

async function startNginx(relayPort: number): Promise<Nginx> {
  const dir = await mkdtemp(join(tmpdir(), 'camstream-nginx-'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, nginxConf(dir, adaptShippedConf(await readFile(SHIPPED_CONF, 'utf8'), `127.0.0.1:${relayPort}`, `127.0.0.1:${port}`)));
  const child: ChildProcess = spawn('nginx', ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf, '-g', `daemon off; master_process on; pid ${dir}/nginx.pid;`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    // SIGTERM is nginx's fast shutdown; SIGQUIT would wait for the streams to end, which they never do.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), sleep(3000).then(() => false)]);
    if (!done) {
      child.kill('SIGKILL');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const failed = async (): Promise<never> => {
    const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
    await stop();
    throw new Error(`nginx did not start: ${stderr}${log}`);
  };
  // Until nginx answers through to the origin, or exits.
  await eventually(async () => child.exitCode !== null || (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)), 'nginx answers /healthz').catch(failed);
  if (child.exitCode !== null) await failed();
  return { url, stop };
}

/**
 * A viewer on a slow link: a raw socket read in 4 KiB pieces at `bytesPerSecond`
 * (paused whenever its budget is spent, resumed on a timer), parsing parts by their
 * Content-Length. Keeps each part's X-Timestamp and when its last byte was read.
 */
class SlowViewer {
  readonly parts: { timestampMicros: number; arrivedMicros: number }[] = [];
  readonly socket: net.Socket;
  private budget = 0;
  private paused = false;
  private readonly timer: NodeJS.Timeout;
  private pending: Buffer = Buffer.alloc(0);
  private headDone = false;
  /** JPEG bytes (and the CRLF after them) still to come of the current part. */
  private skip = 0;
  private timestamp = 0;

  constructor(url: string, bytesPerSecond: number) {
    const { hostname, port } = new URL(url);
    this.socket = net.connect({
      host: hostname,
      port: Number(port),
      onread: {
        buffer: Buffer.alloc(4096),
        callback: (length: number, buffer: Uint8Array): boolean => {
          this.budget -= length;
          this.take(Buffer.from(buffer.subarray(0, length)));
          // false stops reading from the kernel until resume(): its buffers fill up, as on a slow link.
          this.paused = this.budget <= 0;
          return !this.paused;
        },
      },
    });
    this.socket.on('error', () => {});
    this.socket.write(`GET /stream HTTP/1.1\r\nHost: ${hostname}\r\nUser-Agent: slow-viewer\r\n\r\n`);
    const tickMs = 20;
    this.timer = setInterval(() => {
      this.budget = Math.min(this.budget + (bytesPerSecond * tickMs) / 1000, (bytesPerSecond * tickMs) / 1000);
      if (this.budget > 0 && this.paused) {
        this.paused = false;
        this.socket.resume();
      }
    }, tickMs);
  }

  close(): void {
    clearInterval(this.timer);
    this.socket.destroy();
  }

  private take(chunk: Buffer): void {
    let data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length);
        this.skip -= n;
        data = data.subarray(n);
        if (this.skip > 0) break;
        this.parts.push({ timestampMicros: this.timestamp, arrivedMicros: nowMicros() });
      }
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) break;
      const head = data.toString('latin1', 0, end);
      data = data.subarray(end + 4);
      if (!this.headDone) {
        this.headDone = true;
        continue;
      }
      const length = /^content-length:\s*(\d+)/im.exec(head)?.[1];
      if (length === undefined) throw new Error(`part without Content-Length: ${head}`);
      this.timestamp = timestampMicros(/^x-timestamp:\s*(\S+)/im.exec(head)?.[1]);
      this.skip = Number(length) + 2; // the JPEG and the CRLF before the next boundary
    }
    this.pending = Buffer.from(data);
  }
}

/** Latency of parts (arrival − X-Timestamp) in ms, p50. */
function latencyP50Ms(parts: readonly ReceivedPart[]): number {
  const latencies = parts.map((part) => (part.receivedMicros - timestampMicros(part.headers['x-timestamp'])) / 1000);
  return percentile(latencies.sort((a, b) => a - b), 50);
}

interface Stats {
  cameras: { id: string; state: string; source: string; fps: number }[];
}

describe('origin → relay → nginx → viewers', { skip: requireTool('nginx', 'nginx'), timeout: 90_000 }, () => {
  let origin: { server: Camstream; url: string };
  let relay: { server: Camstream; url: string };
  let nginx: Nginx;

  before(async () => {
    origin = await startServer({ cameras: [{ id: 'cam', source: CAMERA, alwaysOn: true }] });
    relay = await startServer({ cameras: [{ id: 'cam', source: `${origin.url}/stream`, alwaysOn: true }] });
    nginx = await startNginx(Number(new URL(relay.url).port));
  });

  after(async () => {
    await nginx?.stop();
    await relay?.server.stop();
    await origin?.server.stop();
  });

  test('whole JPEGs through nginx, byte for byte the origin\'s, with the origin\'s X-Timestamp', async (t) => {
    // Direct first: each part through nginx needs its original to compare with.
    const direct = connectMjpeg(origin.url);
    await direct.waitForParts(2, 5000);
    const viaRelay = connectMjpeg(relay.url);
    const viaNginx = connectMjpeg(nginx.url);
    try {
      await viaNginx.waitForParts(60, 10_000);
      await direct.waitForParts(direct.parts.length + 2, 2000);
      const original = new Map(direct.parts.map((part) => [part.headers['x-timestamp'] as string, part]));
      let matched = 0;
      for (const part of viaNginx.parts) {
        const stamp = part.headers['x-timestamp'] as string;
        const sent = original.get(stamp);
        if (sent === undefined) {
          // The first part may predate the direct viewer; any later one must be the origin's.
          assert.ok(part === viaNginx.parts[0] && timestampMicros(stamp) < timestampMicros(direct.parts[0]?.headers['x-timestamp']), `X-Timestamp ${stamp} through nginx was never sent by the origin`);
          continue;
        }
        assert.ok(isWholeJpeg(part.jpeg));
        assert.ok(part.jpeg.equals(sent.jpeg), `frame ${stamp}: ${part.jpeg.length} bytes through nginx, ${sent.jpeg.length} from the origin`);
        matched++;
      }
      assert.ok(matched >= 20, `${matched} parts matched`);
      const hops = { originMs: latencyP50Ms(direct.parts), relayMs: latencyP50Ms(viaRelay.parts), nginxMs: latencyP50Ms(viaNginx.parts) };
      t.diagnostic(`latency p50 (arrival − origin X-Timestamp): origin ${hops.originMs.toFixed(1)} ms, relay ${hops.relayMs.toFixed(1)} ms, via nginx ${hops.nginxMs.toFixed(1)} ms`);
      assert.ok(hops.nginxMs < 200, `through relay and nginx, p50 ${hops.nginxMs} ms`);
    } finally {
      direct.close();
      viaRelay.close();
      viaNginx.close();
    }
  });

  test('a slow viewer behind nginx stays within a few seconds of capture; a fast one keeps 25 fps', async (t) => {
    const slow = new SlowViewer(nginx.url, SLOW_VIEWER_BYTES_PER_SECOND);
    const fast = connectMjpeg(nginx.url);
    try {
      // Warm-up: the buffers along the slow path fill, and the relay drops and steps
      // down nginx's connection for this viewer.
      await sleep(WARM_UP_MS);
      const fastFrom = fast.parts.length;
      const windowStart = nowMicros();
      await sleep(3000);
      const fastFps = (fast.parts.length - fastFrom) / ((nowMicros() - windowStart) / 1e6);
      await sleep(MEASURE_MS - 3000);
      const measured = slow.parts.filter((part) => part.arrivedMicros >= windowStart);
      const latencies = measured.map((part) => (part.arrivedMicros - part.timestampMicros) / 1000).sort((a, b) => a - b);
      const p90 = percentile(latencies, 90);
      t.diagnostic(`slow viewer (${SLOW_VIEWER_BYTES_PER_SECOND / 1024} KiB/s): ${measured.length} frames in ${MEASURE_MS / 1000} s, latency p50 ${percentile(latencies, 50).toFixed(0)} ms, p90 ${p90.toFixed(0)} ms, max ${latencies.at(-1)?.toFixed(0)} ms; fast viewer ${fastFps.toFixed(1)} fps`);
      assert.ok(measured.length >= 5, `the slow viewer got ${measured.length} frames`);
      assert.ok(p90 < SLOW_VIEWER_MAX_P90_MS, `slow viewer latency p90 ${p90.toFixed(0)} ms`);
      assert.ok(fastFps >= 25, `fast viewer through nginx at ${fastFps.toFixed(1)} fps`);
    } finally {
      slow.close();
      fast.close();
    }
  });

  test('through nginx, Server-Sent Events arrive one a second (unbuffered) and a WebSocket carries frames', async () => {
    const events = await fetch(`${nginx.url}/api/events`);
    assert.match(events.headers.get('content-type') ?? '', /^text\/event-stream/);
    const reader = (events.body as ReadableStream<Uint8Array>).getReader();
    const started = performance.now();
    // Held back (buffered, or gzipped), the events would come late or not at all: give up after 5 s.
    const giveUp = setTimeout(() => void reader.cancel(), 5000);
    let text = '';
    try {
      while ((text.match(/\n\n/g) ?? []).length < 2) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
      }
    } finally {
      clearTimeout(giveUp);
      await reader.cancel();
    }
    assert.equal((text.match(/\n\n/g) ?? []).length >= 2, true, `two events within 5 s, got ${JSON.stringify(text.slice(0, 80))}`);
    assert.ok(performance.now() - started < 3000, `two events took ${(performance.now() - started).toFixed(0)} ms`);

    const ws = new WebSocket(`${nginx.url.replace('http', 'ws')}/ws?cameras=cam`);
    try {
      const frame = await new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no frame over the WebSocket within 5 s')), 5000);
        ws.on('error', reject);
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          if (!isBinary) return;
          clearTimeout(timer);
          resolve(data);
        });
      });
      const message = decodeFrameMessage(frame);
      assert.equal(message.cameraId, 'cam');
      assert.ok(isWholeJpeg(message.jpeg));
    } finally {
      ws.terminate();
    }
  });

  test('/api/stats through nginx: the relay\'s camera is live on the origin\'s stream', async () => {
    const stats = await getJson<Stats>(`${nginx.url}/api/stats`);
    const camera = stats.cameras[0];
    assert.equal(camera?.state, 'live');
    assert.equal(camera?.source, `${origin.url}/stream`);
    assert.ok((camera?.fps ?? 0) > 25, `relay camera at ${camera?.fps} fps`);
  });
});
