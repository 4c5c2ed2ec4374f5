import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { parseSource, ProcessSource } from '../src/index.js';
import { cameraStats, waitForCamera } from './helpers/cameras.js';
import { connectMjpeg, isWholeJpeg } from './helpers/mjpeg-client.js';
import { eventually, HANG_MS, startServer } from './helpers/server.js';
import { requireTool } from './helpers/tools.js';

const noFfmpeg = requireTool('ffmpeg', 'ffmpeg');

/** A web server answering every request with an HTML page, as a misconfigured camera URL would. */
const pageServer = await new Promise<{ url: string; server: http.Server }>((resolve) => {
  const server = http.createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>'));
  server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
});
after(() => pageServer.server.close());
const dir = mkdtempSync(join(tmpdir(), 'camstream-sources-'));
const emptyVideo = join(dir, 'empty.mp4');
writeFileSync(emptyVideo, '');
const TESTSRC = 'ffmpeg -v error -re -f lavfi -i testsrc2=s=320x240:r=15 -c:v mjpeg -q:v 5 -f mjpeg -';

test('exec: a command printing MJPEG is served as it comes', { skip: noFfmpeg }, async () => {
  const { server, url } = await startServer({ source: `exec:${TESTSRC}` });
  const viewer = connectMjpeg(url);
  try {
    const parts = await viewer.waitForParts(20, HANG_MS);
    assert.ok(parts.every((part) => isWholeJpeg(part.jpeg)));
    const { width, height } = await sharp(parts.at(-1)?.jpeg).metadata();
    assert.deepEqual({ width, height }, { width: 320, height: 240 });
    const camera = await cameraStats(url, 'default');
    assert.equal(camera.state, 'live');
    // ffmpeg -re paces itself to 15 fps at most (slower on a busy machine): the
    // rate measured from arrivals is there and never above what the command makes.
    assert.ok(camera.fps > 0 && camera.fps <= 15 * 1.3, `measured ${camera.fps} fps from a 15 fps command`);
    assert.ok(camera.framesCaptured >= 20 && camera.frameInterval.count === camera.framesCaptured - 1, `${camera.framesCaptured} frames, ${camera.frameInterval.count} intervals`);
  } finally {
    viewer.close();
    await server.stop();
  }
});

test('file: a video file made by ffmpeg plays at its own rate and loops', { skip: noFfmpeg }, async () => {
  const video = join(dir, 'clip.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=160x120:r=20', '-t', '1', '-c:v', 'mpeg4', video]);
  const { server, url } = await startServer({ source: `file://${video}?loop=1` });
  const viewer = connectMjpeg(url);
  try {
    // 1 s of video at 20 fps: 40 parts means it looped.
    const parts = await viewer.waitForParts(40, HANG_MS);
    assert.ok(parts.every((part) => isWholeJpeg(part.jpeg)));
    const camera = await cameraStats(url, 'default');
    assert.equal(camera.restarts, 0, 'looping is ffmpeg\'s, not a restart');
  } finally {
    viewer.close();
    await server.stop();
  }
});

test('jpegdir: a folder of JPEGs replays in name order, skipping files that are not JPEGs', async () => {
  const folder = mkdtempSync(join(dir, 'frames-'));
  const jpegs = await Promise.all(
    ['#ff0000', '#00ff00', '#0000ff'].map((background) => sharp({ create: { width: 32, height: 32, channels: 3, background } }).jpeg().toBuffer()),
  );
  jpegs.forEach((jpeg, i) => writeFileSync(join(folder, `frame-${i}.jpg`), jpeg));
  writeFileSync(join(folder, 'frame-1b.jpg'), 'not a jpeg');
  writeFileSync(join(folder, 'notes.txt'), 'ignored');
  const { server, url } = await startServer({ source: `jpegdir:${folder}?fps=20` });
  const viewer = connectMjpeg(url);
  try {
    const parts = await viewer.waitForParts(7, HANG_MS);
    const order = parts.map((part) => jpegs.findIndex((jpeg) => jpeg.equals(part.jpeg)));
    assert.ok(!order.includes(-1), 'every part is one of the files, byte for byte');
    for (let i = 1; i < order.length; i++) assert.equal(order[i], ((order[i - 1] as number) + 1) % 3, `name order: ${order.join(',')}`);
  } finally {
    viewer.close();
    await server.stop();
  }
});

test('kill -9 of the ffmpeg child: viewers stay connected and frames resume after the restart', { skip: noFfmpeg }, async () => {
  const video = join(dir, 'long.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=160x120:r=20', '-t', '2', '-c:v', 'mpeg4', video]);
  const { server, url } = await startServer({ source: video });
  const viewer = connectMjpeg(url);
  try {
    await viewer.waitForParts(10, HANG_MS);
    const source = server.cameras[0]?.source as ProcessSource;
    const pid = source.pid as number;
    process.kill(pid, 'SIGKILL');
    const down = await waitForCamera(url, 'default', (camera) => camera.restarts === 1);
    assert.match(down.reason ?? '', /killed by SIGKILL/);
    const before = viewer.parts.length;
    await viewer.waitForParts(before + 10, HANG_MS);
    const camera = await waitForCamera(url, 'default', (each) => each.state === 'live');
    assert.equal(camera.state, 'live');
    assert.notEqual(source.pid, pid, 'a new ffmpeg runs');
    assert.equal(viewer.socket.destroyed, false, 'the viewer kept its connection');
    const sequences = viewer.parts.map((part) => Number(part.headers['x-frame-sequence']));
    assert.ok(sequences.every((sequence, i) => i === 0 || sequence > (sequences[i - 1] as number)), 'sequence numbers go on increasing across the restart');
  } finally {
    viewer.close();
    await server.stop();
  }
});

test('a source that stops delivering is restarted after stall-timeout, and says why', async () => {
  const jpeg = join(dir, 'one.jpg');
  writeFileSync(jpeg, await sharp({ create: { width: 16, height: 16, channels: 3, background: '#888' } }).jpeg().toBuffer());
  const { server, url } = await startServer({ cameras: [{ id: 'stuck', source: `exec:cat ${jpeg}; sleep 60`, stallTimeoutSeconds: 0.5, alwaysOn: true }] });
  try {
    const camera = await waitForCamera(url, 'stuck', (each) => each.restarts >= 1);
    assert.equal(camera.reason, 'no frame for 0.5 s (stall-timeout)');
    assert.ok(camera.state === 'retrying' || camera.state === 'starting' || camera.state === 'live', camera.state);
  } finally {
    await server.stop();
  }
});

/** Each bad source, next to a good camera whose viewer must not notice. */
const badSources: [string, string | (() => ReturnType<typeof parseSource>), RegExp][] = [
  ['a missing file', '/nonexistent/video.mp4', /^No such file or directory: \/nonexistent\/video\.mp4$/],
  ['a missing device', 'v4l2:///dev/video99', /^No such file or directory: \/dev\/video99$/],
  ['a missing folder', 'jpegdir:/nonexistent/frames', /^No such file or directory: folder \/nonexistent\/frames does not exist$/],
  ['an empty folder', `jpegdir:${mkdtempSync(join(tmpdir(), 'camstream-empty-'))}`, /^no \.jpg or \.jpeg files in /],
  ['a command that exits at once', 'exec:exit 3', /^\/bin\/sh exited with code 3$/],
  ['a command that does not exist', 'exec:no-such-camera-program --mjpeg', /^command not found: check the program name/],
  ['ffmpeg not installed', () => parseSource(emptyVideo, { ffmpegPath: '/nonexistent/ffmpeg' }), /^ffmpeg is not installed: install it \(Debian\/Ubuntu: apt-get install ffmpeg\)/],
  ['an http upstream that refuses', 'http://127.0.0.1:1/stream', /^connection refused by 127\.0\.0\.1:1: is the camera on and the URL right\?$/],
  ['an http upstream that is a web page', () => parseSource(`${pageServer.url}/index.html`), /^upstream answered text\/html, not an MJPEG stream \(multipart\/x-mixed-replace\)$/],
  ['garbage bytes, then exit', 'exec:yes not-a-jpeg | head -c 200000', /^\/bin\/sh ended without printing a JPEG \(200000 bytes of something else\): does it write MJPEG to stdout\?$/],
];

for (const [what, source, reason] of badSources) {
  test(`bad input: ${what} gives a clear reason in /api/stats, and the other camera streams on`, async () => {
    const { server, url } = await startServer({
      cameras: [
        { id: 'good', source: 'synthetic:64x64@20' },
        { id: 'bad', source: typeof source === 'function' ? source() : source, alwaysOn: true },
      ],
    });
    const viewer = connectMjpeg(url, '/cam/good/stream');
    try {
      const bad = await waitForCamera(url, 'bad', (camera) => camera.restarts >= 1);
      assert.match(bad.reason ?? '', reason);
      assert.equal(bad.framesCaptured, 0);
      const before = viewer.parts.length;
      await viewer.waitForParts(before + 4, HANG_MS);
    } finally {
      viewer.close();
      await server.stop();
    }
  });
}

test('a JPEG cut in half is dropped, the whole ones around it are served', async () => {
  const whole = await sharp({ create: { width: 48, height: 48, channels: 3, background: '#123456' } }).jpeg().toBuffer();
  const path = join(dir, 'cut.mjpeg');
  writeFileSync(path, Buffer.concat([whole, whole.subarray(0, whole.length >> 1), whole]));
  // No stall restart (which would cat the file again) however long a busy machine takes.
  const { server, url } = await startServer({ cameras: [{ id: 'default', source: `exec:cat ${path}; sleep 60`, stallTimeoutSeconds: 3600 }] });
  const viewer = connectMjpeg(url);
  try {
    // The half comes between the two whole ones, and parts arrive in order: the
    // second whole one arriving as the second part means the half was not served.
    const parts = await viewer.waitForParts(2, HANG_MS);
    assert.ok(parts.slice(0, 2).every((part) => part.jpeg.equals(whole)), 'the half JPEG was not served');
    assert.equal((await cameraStats(url, 'default')).framesCaptured, 2, 'nor counted as a frame (the command then prints nothing more)');
    assert.equal(viewer.parts.length, 2);
  } finally {
    viewer.close();
    await server.stop();
  }
});

test('the other cameras\' routes: /cam/<id>/stream and /snapshot, unknown id is a JSON 404', async () => {
  const { server, url } = await startServer({ cameras: [{ id: 'a', source: 'synthetic:64x48@10' }, { id: 'b', source: 'synthetic:96x64@10' }] });
  try {
    const snapshot = await fetch(`${url}/cam/b/snapshot`);
    assert.equal(snapshot.status, 200);
    assert.deepEqual(await sharp(Buffer.from(await snapshot.arrayBuffer())).metadata().then(({ width, height }) => ({ width, height })), { width: 96, height: 64 });
    const first = await fetch(`${url}/snapshot`);
    assert.deepEqual(await sharp(Buffer.from(await first.arrayBuffer())).metadata().then(({ width, height }) => ({ width, height })), { width: 64, height: 48 }, '/snapshot is the first camera');
    const viewer = connectMjpeg(url, '/cam/a/stream');
    assert.equal((await viewer.waitForParts(2, HANG_MS)).length >= 2, true);
    viewer.close();
    const missing = await fetch(`${url}/cam/zzz/stream`);
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { error: 'unknown_camera', message: "no camera 'zzz'; cameras: a, b" });
  } finally {
    await server.stop();
  }
});

test('while the source is down, viewers keep their connection and get "no signal" cards of the same size until it returns', async () => {
  const real = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#f0f0f0' } }).jpeg().toBuffer();
  const path = join(dir, 'real.jpg');
  writeFileSync(path, real);
  const { server, url } = await startServer({
    cameras: [{ id: 'flaky', source: `exec:cat ${path}; sleep 60`, stallTimeoutSeconds: 0.5, noSignalAfterSeconds: 0.5 }],
  });
  const viewer = connectMjpeg(url, '/cam/flaky/stream');
  try {
    // The real frame, a card, then the real frame again once the source restarted.
    await viewer.waitForParts(1, HANG_MS);
    const kindsOf = (): string[] => viewer.parts.map((part) => (part.jpeg.equals(real) ? 'real' : 'card'));
    await eventually(() => {
      const kinds = kindsOf();
      return kinds.join(',').includes('real,card') && kinds.lastIndexOf('real') > kinds.indexOf('card');
    }, () => `a real frame, a card, then a real frame again; got ${kindsOf().join(',')}`);
    const card = viewer.parts.find((part) => !part.jpeg.equals(real));
    assert.ok(card !== undefined, 'a no-signal card arrived');
    const metadata = await sharp(card.jpeg).metadata();
    assert.deepEqual({ width: metadata.width, height: metadata.height }, { width: 200, height: 100 }, 'the card has the camera\'s frame size');
    const { channels } = await sharp(card.jpeg).stats();
    assert.ok((channels[0]?.mean ?? 255) < 128, 'a dark card, not the light camera frame');
    const kinds = viewer.parts.map((part) => (part.jpeg.equals(real) ? 'real' : 'card'));
    assert.ok(kinds.lastIndexOf('real') > kinds.indexOf('card'), `frames resume after the cards: ${kinds.join(',')}`);
    const camera = await cameraStats(url, 'flaky');
    assert.ok(camera.noSignalFrames >= 1);
    assert.ok(camera.restarts >= 1);
    assert.equal(viewer.socket.destroyed, false);
  } finally {
    viewer.close();
    await server.stop();
  }
});
