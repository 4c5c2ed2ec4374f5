import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import sharp from 'sharp';
import type { Camstream } from '../src/index.js';
import { connectMjpeg, isWholeJpeg } from './helpers/mjpeg-client.js';
import { PushSource } from './helpers/push-source.js';
import { eventually, HANG_MS, startServer } from './helpers/server.js';
import { requireTool } from './helpers/tools.js';

const run = promisify(execFile);
let server: Camstream;
let url: string;

before(async () => {
  ({ server, url } = await startServer({ source: 'synthetic:320x240@30' }));
});
after(() => server.stop());

test('three viewers each receive complete JPEG parts with increasing sequence numbers', async () => {
  const viewers = [connectMjpeg(url), connectMjpeg(url), connectMjpeg(url)];
  try {
    for (const viewer of viewers) {
      const { statusLine, headers } = await viewer.head;
      assert.equal(statusLine, 'HTTP/1.1 200 OK');
      assert.match(headers['content-type'] as string, /^multipart\/x-mixed-replace; boundary=/);
      assert.equal(headers['transfer-encoding'], undefined, 'no chunked framing on the stream');
    }
    const received = await Promise.all(viewers.map((viewer) => viewer.waitForParts(15, HANG_MS)));
    for (const parts of received) {
      let previous = 0;
      for (const part of parts) {
        assert.ok(isWholeJpeg(part.jpeg), 'each part is one whole JPEG');
        assert.equal(Number(part.headers['content-length']), part.jpeg.length);
        assert.match(part.headers['x-timestamp'] as string, /^\d{10}\.\d{6}$/);
        const sequence = Number(part.headers['x-frame-sequence']);
        assert.ok(sequence > previous, `sequence ${sequence} after ${previous}`);
        previous = sequence;
      }
      const { width, height } = await sharp((parts[0] as (typeof parts)[number]).jpeg).metadata();
      assert.deepEqual({ width, height }, { width: 320, height: 240 });
    }
  } finally {
    for (const viewer of viewers) viewer.close();
  }
});

test('/api/stats measures the frame rate and intervals from arrivals', async () => {
  // Frames whose capture times the test sets, 1/30 s apart by their clock, however
  // fast the test pushes them: what /api/stats reports comes from those times.
  const source = new PushSource();
  const own = await startServer({ cameras: [{ id: 'clocked', source, alwaysOn: true }] });
  try {
    await eventually(() => source.context !== undefined, 'the push source is started');
    const context = source.context as NonNullable<typeof source.context>;
    const jpeg = Buffer.from((await (await fetch(`${url}/snapshot`)).arrayBuffer()));
    const frames = 40;
    const lastMs = performance.now();
    for (let i = 0; i < frames; i++) {
      const monoMs = lastMs - (frames - 1 - i) * (1000 / 30);
      context.publish(context.frames.fromJpeg(jpeg, { monoMs, wallMicros: Math.round((performance.timeOrigin + monoMs) * 1000) }));
    }
    const stats = (await (await fetch(`${own.url}/api/stats`)).json()) as { cameras: { fps: number; lastFrameAgeMs: number; frameInterval: { p50Ms: number; p99Ms: number; count: number } }[] };
    const camera = stats.cameras[0];
    assert.ok(camera !== undefined);
    assert.equal(camera.frameInterval.count, frames - 1, 'an interval between each two frames');
    assert.ok(Math.abs(camera.frameInterval.p50Ms - 1000 / 30) < 0.5 && Math.abs(camera.frameInterval.p99Ms - 1000 / 30) < 0.5, `intervals ${JSON.stringify(camera.frameInterval)} for frames captured 33.3 ms apart`);
    // The rate is the average interval's, or lower when the last frame is older than
    // that (a camera that stops reports it): read a moment after the last frame, so
    // from its age, as /api/stats reports it.
    const expected = 1000 / Math.max(1000 / 30, camera.lastFrameAgeMs);
    assert.ok(camera.fps <= 30.01 && camera.fps >= expected * 0.9, `fps ${camera.fps} for frames 1/30 s apart, the last ${camera.lastFrameAgeMs} ms ago (expected ${expected.toFixed(2)})`);
  } finally {
    await own.server.stop();
  }
  // The synthetic camera's clock never runs faster than its rate (late ticks are
  // skipped, not caught up in a burst), and the shared server has measured it.
  const shared = (await (await fetch(`${url}/api/stats`)).json()) as { cameras: { fps: number; frameInterval: { count: number } }[] };
  const synthetic = shared.cameras[0];
  assert.ok(synthetic !== undefined && synthetic.fps > 0 && synthetic.fps <= 30 * 1.15, `fps ${synthetic?.fps} for a 30 fps camera`);
  assert.ok(synthetic.frameInterval.count > 10);
});

test('a new viewer gets the latest frame at once, not after the next one', async () => {
  // A camera that publishes only when the test says: no next frame comes unless pushed.
  const source = new PushSource();
  const own = await startServer({ cameras: [{ id: 'push', source, alwaysOn: true }] });
  try {
    await eventually(() => source.context !== undefined, 'the push source is started');
    const jpeg = Buffer.from((await (await fetch(`${url}/snapshot`)).arrayBuffer()));
    source.push(jpeg);
    const latest = (await (await fetch(`${own.url}/api/stats`)).json()) as { cameras: { latestFrame: { sequence: number } }[] };
    const sequence = latest.cameras[0]?.latestFrame.sequence as number;
    const late = connectMjpeg(own.url, '/cam/push/stream');
    try {
      const [first] = await late.waitForParts(1, HANG_MS);
      assert.equal(Number(first?.headers['x-frame-sequence']), sequence, 'the frame published before it connected');
      source.push(jpeg);
      const parts = await late.waitForParts(2, HANG_MS);
      assert.equal(Number(parts[1]?.headers['x-frame-sequence']), sequence + 1, 'then the next one');
    } finally {
      late.close();
    }
  } finally {
    await own.server.stop();
  }
});

test('ffprobe and ffmpeg decode the stream', { skip: requireTool('ffprobe', 'ffmpeg') }, async () => {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,width,height', '-of', 'json', `${url}/stream`], { timeout: HANG_MS });
  const probed = JSON.parse(stdout) as { streams: { codec_name: string; width: number; height: number }[] };
  assert.deepEqual(probed.streams[0], { codec_name: 'mjpeg', width: 320, height: 240 });
  // Decode 20 frames for real; any corrupt part makes ffmpeg report an error.
  const decoded = await run('ffmpeg', ['-v', 'error', '-i', `${url}/stream`, '-frames:v', '20', '-f', 'null', '-'], { timeout: HANG_MS });
  assert.equal(decoded.stderr.trim(), '');
});

test('/snapshot is a valid JPEG of the configured size, with its capture time', async () => {
  const response = await fetch(`${url}/snapshot`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'image/jpeg');
  assert.match(response.headers.get('x-timestamp') ?? '', /^\d+\.\d{6}$/);
  const body = Buffer.from(await response.arrayBuffer());
  assert.ok(isWholeJpeg(body));
  assert.equal(Number(response.headers.get('content-length')), body.length);
  const { width, height, format } = await sharp(body).metadata();
  assert.deepEqual({ width, height, format }, { width: 320, height: 240, format: 'jpeg' });
});

test('HEAD /stream and HEAD /snapshot answer headers without a body', async () => {
  const stream = await fetch(`${url}/stream`, { method: 'HEAD' });
  assert.equal(stream.status, 200);
  assert.match(stream.headers.get('content-type') ?? '', /^multipart\/x-mixed-replace; boundary=/);
  assert.equal((await stream.arrayBuffer()).byteLength, 0);
  const snapshot = await fetch(`${url}/snapshot`, { method: 'HEAD' });
  assert.equal(snapshot.status, 200);
  assert.equal(snapshot.headers.get('content-type'), 'image/jpeg');
});

test('an HTTP/1.0 client gets an HTTP/1.0 stream', async () => {
  const viewer = connectMjpeg(url, '/stream', 'GET /stream HTTP/1.0\r\n\r\n');
  try {
    const { statusLine } = await viewer.head;
    assert.equal(statusLine, 'HTTP/1.0 200 OK');
    const parts = await viewer.waitForParts(3, HANG_MS);
    assert.ok(parts.every((part) => isWholeJpeg(part.jpeg)));
  } finally {
    viewer.close();
  }
});

test('/healthz answers ok and unknown paths get a JSON 404 naming the endpoints', async () => {
  const health = await fetch(`${url}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  const missing = await fetch(`${url}/nope?x=1`);
  assert.equal(missing.status, 404);
  const body = (await missing.json()) as { error: string; message: string };
  assert.equal(body.error, 'not_found');
  assert.match(body.message, /GET \/nope;.*\/stream/);
});

test('a malformed request gets a 400 and the stream goes on for others', async () => {
  const viewer = connectMjpeg(url);
  try {
    await viewer.waitForParts(2, HANG_MS);
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString('latin1')));
      socket.on('close', () => resolve(text));
      socket.write('GARBAGE\r\n\r\n');
    });
    assert.match(answer, /^HTTP\/1\.1 400/);
    const before = viewer.parts.length;
    await viewer.waitForParts(before + 3, HANG_MS);
  } finally {
    viewer.close();
  }
});
