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
import { nowMicros, percentile } from '../helpers/mjpeg-reader.js';
import { eventually, freePort, getJson, HANG_MS, sleep, startServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';

const SHIPPED_CONF = new URL('../../../deploy/nginx/camstream.conf', import.meta.url);
/** ≈ 53 KB frames at 30 fps: ≈ 1.6 MB/s, eight times what the slow viewer reads. */
const CAMERA = 'synthetic:854x480@30';
const SLOW_VIEWER_BYTES_PER_SECOND = 200 * 1024;
/** Let the buffers along the slow path fill (and the relay step nginx's connection down) before measuring. */
const WARM_UP_MS = 15_000;
const MEASURE_MS = 6000;
/**
 * Bounded, not small (docs/DEPLOY.md, "A slow viewer behind nginx"): what delays the
 * slow viewer's frames is the bytes the sockets between relay and viewer hold
 * (nginx's 256 KB sndbuf, nginx's receive buffer from the relay, which Linux
 * auto-tunes and nginx cannot bound, the relay's 64 KiB unsent, the viewer's own
 * receive buffer), while the relay steps nginx's connection down its ladder a rung a
 * second. Counted in bytes (those the viewer read between a frame's capture and its
 * arrival), the bound holds however fast this machine lets the viewer read or the
 * servers send. Measured p90 in this window (after 15 s): 0.7–0.85 MB (1.5 MB at its
 * worst after only 6 s). Without the shipped sndbuf the backlog keeps climbing
 * (≈ 180 KB a second) to a p90 of 3.3 MB here.
 */
const SLOW_VIEWER_MAX_P90_BYTES_AHEAD = 2 * 1024 * 1024;
/**
 * Through relay and nginx a frame arrives while the origin's own viewer is at most
 * this many frames further (p50; 200 ms at 30 fps). Counted in frames of the
 * origin's clock, so a busy machine, which slows all of them alike, does not move it;
 * a hop that holds frames back (buffering) does.
 */
const NGINX_MAX_P50_FRAMES_BEHIND = 6;

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
  /** Each part: its capture time, when its last byte was read, and the bytes read until then. */
  readonly parts: { timestampMicros: number; arrivedMicros: number; bytesRead: number }[] = [];
  /** (time, bytes read so far), at every read: how many bytes the viewer had read by a given time. */
  private readonly reads: { micros: number; bytes: number }[] = [];
  private bytesRead = 0;
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
          this.bytesRead += length;
          this.reads.push({ micros: nowMicros(), bytes: this.bytesRead });
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

  /** Bytes the viewer had read by `micros`. */
  bytesReadAt(micros: number): number {
    let low = 0;
    let high = this.reads.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((this.reads[middle] as { micros: number }).micros <= micros) low = middle + 1;
      else high = middle;
    }
    return low === 0 ? 0 : (this.reads[low - 1] as { bytes: number }).bytes;
  }

  /**
   * For each part, the bytes the viewer read between its capture and its arrival:
   * what the path between relay and viewer held ahead of it (and the part itself).
   */
  bytesAhead(part: { timestampMicros: number; bytesRead: number }): number {
    return part.bytesRead - this.bytesReadAt(part.timestampMicros);
  }

  private take(chunk: Buffer): void {
    let data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length);
        this.skip -= n;
        data = data.subarray(n);
        if (this.skip > 0) break;
        this.parts.push({ timestampMicros: this.timestamp, arrivedMicros: nowMicros(), bytesRead: this.bytesRead - data.length });
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
  cameras: { id: string; state: string; source: string; fps: number; framesCaptured: number }[];
}

describe('origin → relay → nginx → viewers', { skip: requireTool('nginx', 'nginx'), timeout: 240_000 }, () => {
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
    await direct.waitForParts(2, HANG_MS);
    const viaRelay = connectMjpeg(relay.url);
    const viaNginx = connectMjpeg(nginx.url);
    try {
      await viaNginx.waitForParts(60, HANG_MS);
      // Every part through nginx so far was sent by the origin before the direct viewer's latest.
      const lastThroughNginx = timestampMicros(viaNginx.parts[59]?.headers['x-timestamp']);
      await eventually(() => direct.parts.some((part) => timestampMicros(part.headers['x-timestamp']) > lastThroughNginx), 'the direct viewer has a part newer than the 60th through nginx');
      const checked = viaNginx.parts.slice(0, 60);
      const directParts = [...direct.parts];
      const original = new Map(directParts.map((part) => [part.headers['x-timestamp'] as string, part]));
      const sequenceOf = (part: ReceivedPart): number => Number(part.headers['x-frame-sequence']);
      let matched = 0;
      /** Per part matched: how many frames further the direct viewer was when it arrived through nginx. */
      const framesBehind: number[] = [];
      for (const part of checked) {
        const stamp = part.headers['x-timestamp'] as string;
        const sent = original.get(stamp);
        if (sent === undefined) {
          // The direct viewer did not get this one: the first part may predate it, and
          // on a busy machine the origin may have given a newer frame to the direct
          // viewer instead (latest wins: its sequence numbers skip there). Any other
          // X-Timestamp was never the origin's.
          const at = timestampMicros(stamp);
          const next = directParts.findIndex((each) => timestampMicros(each.headers['x-timestamp']) > at);
          const previous = directParts[next - 1];
          const skipped = next > 0 && previous !== undefined && sequenceOf(directParts[next] as ReceivedPart) - sequenceOf(previous) > 1;
          assert.ok(next === 0 || skipped, `X-Timestamp ${stamp} through nginx was never sent by the origin (the direct viewer got every frame around it)`);
          continue;
        }
        assert.ok(isWholeJpeg(part.jpeg));
        assert.ok(part.jpeg.equals(sent.jpeg), `frame ${stamp}: ${part.jpeg.length} bytes through nginx, ${sent.jpeg.length} from the origin`);
        matched++;
        const directNewest = directParts.filter((each) => each.receivedMicros <= part.receivedMicros).at(-1);
        framesBehind.push(directNewest === undefined ? 0 : Math.max(0, sequenceOf(directNewest) - sequenceOf(sent)));
      }
      assert.ok(matched >= 20, `${matched} of ${checked.length} parts matched`);
      const hops = { originMs: latencyP50Ms(direct.parts), relayMs: latencyP50Ms(viaRelay.parts), nginxMs: latencyP50Ms(viaNginx.parts) };
      const behindP50 = percentile(framesBehind.sort((x, y) => x - y), 50);
      t.diagnostic(`latency p50 (arrival − origin X-Timestamp): origin ${hops.originMs.toFixed(1)} ms, relay ${hops.relayMs.toFixed(1)} ms, via nginx ${hops.nginxMs.toFixed(1)} ms; frames the direct viewer was further, p50 ${behindP50}, max ${framesBehind.at(-1)}`);
      assert.ok(behindP50 <= NGINX_MAX_P50_FRAMES_BEHIND, `through relay and nginx a frame arrived when the origin's own viewer was p50 ${behindP50} frames further (frames behind: ${framesBehind.join(' ')})`);
    } finally {
      direct.close();
      viaRelay.close();
      viaNginx.close();
    }
  });

  test('a slow viewer behind nginx stays a bounded number of bytes behind capture; a fast one keeps the frame rate', async (t) => {
    const slow = new SlowViewer(nginx.url, SLOW_VIEWER_BYTES_PER_SECOND);
    const fast = connectMjpeg(nginx.url);
    try {
      // Warm-up: the buffers along the slow path fill, and the relay drops and steps
      // down nginx's connection for this viewer.
      await sleep(WARM_UP_MS);
      const windowStart = nowMicros();
      const fastFrom = fast.parts.length;
      const slowFrom = slow.parts.length;
      await sleep(MEASURE_MS);
      // However slowly this machine lets it read, the slow viewer gets frames in the window.
      await eventually(() => slow.parts.length - slowFrom >= 10, () => `the slow viewer gets 10 frames in the window (got ${slow.parts.length - slowFrom})`);
      const windowEnd = nowMicros();
      const measured = slow.parts.slice(slowFrom).filter((part) => part.arrivedMicros >= windowStart && part.arrivedMicros < windowEnd);
      const ahead = measured.map((part) => slow.bytesAhead(part)).sort((a, b) => a - b);
      const latencies = measured.map((part) => (part.arrivedMicros - part.timestampMicros) / 1000).sort((a, b) => a - b);
      const p90 = percentile(ahead, 90);
      const slowBytes = (measured.at(-1)?.bytesRead ?? 0) - (slow.parts[slowFrom - 1]?.bytesRead ?? 0);
      // The fast viewer: the frames it got in the same window, against the relay's frames
      // it could have had (its X-Frame-Sequence numbers), and its bytes against the slow one's.
      const fastParts = fast.parts.slice(fastFrom).filter((part) => part.receivedMicros >= windowStart && part.receivedMicros < windowEnd);
      const fastFirst = Number(fastParts[0]?.headers['x-frame-sequence']);
      const fastLast = Number(fastParts.at(-1)?.headers['x-frame-sequence']);
      const fastShare = fastParts.length / (fastLast - fastFirst + 1);
      const fastBytes = fastParts.reduce((sum, part) => sum + part.jpeg.length, 0);
      t.diagnostic(
        `slow viewer (${SLOW_VIEWER_BYTES_PER_SECOND / 1024} KiB/s): ${measured.length} frames in ${((windowEnd - windowStart) / 1e6).toFixed(1)} s, ${(slowBytes / 1024).toFixed(0)} KiB; ` +
          `bytes ahead p50 ${(percentile(ahead, 50) / 1024).toFixed(0)} KiB, p90 ${(p90 / 1024).toFixed(0)} KiB, max ${((ahead.at(-1) ?? 0) / 1024).toFixed(0)} KiB; latency p50 ${percentile(latencies, 50).toFixed(0)} ms, p90 ${percentile(latencies, 90).toFixed(0)} ms; ` +
          `fast viewer ${fastParts.length} frames of sequences ${fastFirst}–${fastLast} (${(fastShare * 100).toFixed(0)} %), ${(fastBytes / 1024).toFixed(0)} KiB`,
      );
      assert.ok(p90 <= SLOW_VIEWER_MAX_P90_BYTES_AHEAD, `the slow viewer's frames had p90 ${(p90 / 1024).toFixed(0)} KiB ahead of them, above ${SLOW_VIEWER_MAX_P90_BYTES_AHEAD / 1024} KiB`);
      assert.ok(fastParts.length >= 10, `the fast viewer got ${fastParts.length} frames in the window`);
      assert.ok(fastShare >= 0.7, `the fast viewer got ${fastParts.length} of the relay's ${fastLast - fastFirst + 1} frames in the window`);
      assert.ok(fastBytes >= 3 * slowBytes, `the fast viewer got ${fastBytes} bytes in the window, the slow one ${slowBytes}: the slow viewer held the fast one back`);
    } finally {
      slow.close();
      fast.close();
    }
  });

  test('through nginx, Server-Sent Events arrive as they are sent (unbuffered) and a WebSocket carries frames', async () => {
    // The same events straight from the relay, read side by side: a hop that holds
    // them back (buffering, gzip) lets the direct stream run ahead by seconds; on a
    // busy machine both are late alike.
    const open = async (base: string): Promise<{ events: () => number; close: () => Promise<void>; text: () => string; type: string }> => {
      // A hop that holds the events back may hold the response head too: only a hang waits this long for it.
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new Error(`no response head from ${base}/api/events within ${HANG_MS / 1000} s`)), HANG_MS);
      const response = await fetch(`${base}/api/events`, { signal: controller.signal }).finally(() => clearTimeout(timer));
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      let text = '';
      let done = false;
      void (async () => {
        for (;;) {
          const chunk = await reader.read().catch(() => ({ done: true, value: undefined }));
          if (chunk.done) break;
          text += Buffer.from(chunk.value as Uint8Array).toString();
        }
        done = true;
      })();
      return {
        events: () => (text.match(/^data: /gm) ?? []).length,
        text: () => (done ? `${text} (ended)` : text),
        type: response.headers.get('content-type') ?? '',
        close: async () => {
          await reader.cancel().catch(() => undefined);
          controller.abort();
        },
      };
    };
    const straight = await open(relay.url);
    let proxied: Awaited<ReturnType<typeof open>> | undefined;
    try {
      proxied = await open(nginx.url);
      const through = proxied;
      assert.match(through.type, /^text\/event-stream/);
      /** For each event through nginx: how many the relay's own stream had by then. */
      const straightAt: number[] = [];
      await eventually(
        () => {
          while (straightAt.length < through.events()) straightAt.push(straight.events());
          return straightAt.length >= 3;
        },
        () => `three events through nginx: ${JSON.stringify(through.text().slice(0, 120))}`,
        { stepMs: 10 },
      );
      for (const [index, count] of straightAt.entries()) {
        assert.ok(count <= index + 2, `event ${index + 1} came through nginx when the relay's own stream had ${count}: nginx held the events back (${straightAt.join(' ')})`);
      }
    } finally {
      await straight.close();
      await proxied?.close();
    }

    const ws = new WebSocket(`${nginx.url.replace('http', 'ws')}/ws?cameras=cam`);
    try {
      const frame = await new Promise<Buffer>((resolve, reject) => {
        // Only a hang takes this long.
        const timer = setTimeout(() => reject(new Error(`no frame over the WebSocket within ${HANG_MS / 1000} s`)), HANG_MS);
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
    // At the origin's rate: over the same stretch (the next 30 frames the origin
    // captures) the relay captures nearly as many; a relay that reconnects, stalls or
    // takes every other frame falls far short.
    const captured = async (): Promise<{ origin: number; relay: number }> => ({
      origin: (await getJson<Stats>(`${origin.url}/api/stats`)).cameras[0]?.framesCaptured ?? 0,
      relay: (await getJson<Stats>(`${nginx.url}/api/stats`)).cameras[0]?.framesCaptured ?? 0,
    });
    const before = await captured();
    let now = before;
    await eventually(async () => (now = await captured()).origin >= before.origin + 30, () => `the origin captures 30 frames (${JSON.stringify(before)} → ${JSON.stringify(now)})`);
    now = await captured();
    const relayed = now.relay - before.relay;
    const originated = now.origin - before.origin;
    assert.ok(relayed >= 0.8 * originated, `the relay captured ${relayed} frames while the origin captured ${originated} (relay camera at ${camera?.fps} fps)`);
  });
});
