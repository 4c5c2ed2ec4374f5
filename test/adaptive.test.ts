import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import sharp from 'sharp';
import { AdaptiveController, DEFAULT_LADDER, FpsGate, ladderFor, type CameraStats } from '../src/index.js';
import { cameraStats, waitForCamera } from './helpers/cameras.js';
import { connectMjpeg } from './helpers/mjpeg-client.js';
import { eventually, sleep, startServer } from './helpers/server.js';

const LEVELS = ladderFor(60);

test('the ladder for a 60 fps camera: frame rate first, then profiles; a 30 fps camera skips the 30 fps rung', () => {
  assert.deepEqual(LEVELS.map((level) => `${level.maxFps ?? 'all'}/${level.profile}`), [
    'all/source', '30/source', '15/source', '15/full-q60', '15/half-q60', '15/quarter-q40', '5/quarter-q40',
  ]);
  assert.deepEqual(ladderFor(30).map((level) => `${level.maxFps ?? 'all'}/${level.profile}`).slice(0, 2), ['all/source', '15/source']);
  assert.equal(ladderFor(undefined).length, DEFAULT_LADDER.length);
});

test('controller: high lag steps down once per cooldown; healthy writes step back up', () => {
  const controller = new AdaptiveController(LEVELS, { lagHighMs: 250, lagLowMs: 80, stepDownCooldownMs: 1000, recoverAfterMs: 2000, probeWindowMs: 3000 });
  assert.equal(controller.written(0, 400), true);
  assert.equal(controller.level, 1);
  assert.equal(controller.written(500, 400), false, 'still cooling down');
  assert.equal(controller.written(1000, 400), true);
  assert.equal(controller.level, 2);
  assert.equal(controller.written(1100, 150), false, 'between the thresholds: stay');
  // Healthy from 1200: one step up after 2 s.
  for (let t = 1200; t < 3200; t += 100) assert.equal(controller.written(t, 10), false, `t=${t}`);
  assert.equal(controller.written(3200, 10), true);
  assert.equal(controller.level, 1);
  assert.deepEqual([controller.stepsDown, controller.stepsUp], [2, 1]);
});

test('controller: two replaced frames are trouble; a step up that fails at once doubles the wait for the next', () => {
  const controller = new AdaptiveController(LEVELS, { stepDownCooldownMs: 1000, recoverAfterMs: 2000, probeWindowMs: 3000 });
  assert.equal(controller.dropped(0), false, 'one drop is jitter');
  assert.equal(controller.dropped(10), true);
  assert.equal(controller.level, 1);
  // Healthy 2 s: step up to 0 at t=2020.
  for (let t = 20; t <= 2010; t += 10) controller.written(t, 5);
  assert.equal(controller.written(2020, 5), true);
  assert.equal(controller.level, 0);
  // Fails at once: back down, and now the next try waits 4 s, not 2.
  controller.dropped(2100);
  assert.equal(controller.dropped(3100), true);
  assert.equal(controller.level, 1);
  for (let t = 3200; t < 7100; t += 100) assert.equal(controller.written(t, 5), false, `no step up at ${t}`);
  assert.equal(controller.written(7200, 5), true);
  assert.equal(controller.level, 0);
});

test('controller: a failed step up goes back down at once, without waiting out the cooldown', () => {
  const controller = new AdaptiveController(LEVELS, { stepDownCooldownMs: 1000, recoverAfterMs: 2000, probeWindowMs: 3000 });
  controller.written(0, 400);
  for (let t = 1000; t <= 3000; t += 100) controller.written(t, 5);
  assert.equal(controller.level, 0, 'stepped back up');
  assert.equal(controller.written(3100, 400), true, 'the probe failed 100 ms later: down at once');
  assert.equal(controller.level, 1);
  assert.equal(controller.written(3200, 400), false, 'and then the cooldown holds again');
});

test('controller: never below the last rung, never above the first', () => {
  const controller = new AdaptiveController(LEVELS, { stepDownCooldownMs: 0 });
  for (let t = 0; t < 20; t++) controller.written(t * 10, 1000);
  assert.equal(controller.level, LEVELS.length - 1);
  const top = new AdaptiveController(LEVELS);
  for (let t = 0; t < 100; t++) assert.equal(top.written(t * 100, 1), false);
  assert.equal(top.level, 0);
});

test('fps gate: a jittery 60 fps stream capped at 30 and 15 passes exactly half and a quarter', () => {
  for (const [cap, share] of [[30, 0.5], [15, 0.25]] as const) {
    const gate = new FpsGate(cap);
    let passed = 0;
    for (let i = 0; i < 600; i++) if (gate.admit(i * (1000 / 60) + Math.sin(i * 7.3) * 3)) passed++;
    assert.ok(Math.abs(passed - 600 * share) <= 2, `cap ${cap}: ${passed} of 600`);
  }
  const open = new FpsGate();
  assert.equal(open.admit(0) && open.admit(1) && open.admit(2), true);
});

test('/stream?fps=&quality=&width=: the viewer gets what it asked for; bad values get a 400 naming the parameter', async () => {
  const { server, url } = await startServer({ source: 'synthetic:320x240@30' });
  try {
    for (const [query, message] of [
      ['fps=0', /^fps=0 is not valid: expected frames per second, 0\.1–240$/],
      ['quality=101', /^quality=101 is not valid: expected JPEG quality, a whole number 1–100$/],
      ['width=abc', /^width=abc is not valid: expected width in pixels/],
      ['fps=5&fps=6', /^fps is given more than once/],
    ] as const) {
      const response = await fetch(`${url}/stream?${query}`);
      assert.equal(response.status, 400, query);
      const body = (await response.json()) as { message: string };
      assert.match(body.message, message);
    }
    const small = connectMjpeg(url, '/stream?width=160&quality=50&fps=10&t=12345');
    const parts = await small.waitForParts(6, 10_000);
    const { width, height } = await sharp(parts.at(-1)?.jpeg).metadata();
    assert.deepEqual({ width, height }, { width: 160, height: 120 });
    const camera = await cameraStats(url, 'default');
    const viewer = camera.viewerList[0];
    assert.equal(viewer?.profile, 'w160-q50');
    assert.equal(viewer?.maxFps, 10);
    assert.ok(camera.profiles['w160-q50'] !== undefined, 'the profile is encoded while watched');
    const sequences = parts.map((part) => Number(part.headers['x-frame-sequence']));
    const span = (sequences.at(-1) as number) - (sequences[0] as number);
    assert.ok(span >= (parts.length - 1) * 2.5, `about every third frame of 30 fps: sequences ${sequences.join(',')}`);
    small.close();
    await eventually(async () => (await cameraStats(url, 'default')).profiles['w160-q50'] === undefined, 'the encoder stops with its last viewer');
  } finally {
    await server.stop();
  }
});

test('a viewer that stops reading is disconnected after viewer-stall-timeout, and counted', async () => {
  const { server, url } = await startServer({ cameras: [{ id: 'c', source: 'synthetic:1280x720@30', viewerStallTimeoutSeconds: 1 }] });
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  socket.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
  socket.pause();
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  try {
    const camera = await waitForCamera(url, 'c', (each) => each.viewersStalled === 1, { ceilingMs: 60_000 });
    assert.equal(camera.viewersStalled, 1);
    assert.equal(camera.viewers, 0);
    socket.resume();
    await closed;
  } finally {
    socket.destroy();
    await server.stop();
  }
});

test('a viewer that pauses for seconds and resumes stays connected and gets current frames again', async () => {
  const { server, url } = await startServer({ source: 'synthetic:640x480@30' });
  const viewer = connectMjpeg(url);
  try {
    await viewer.waitForParts(5);
    viewer.socket.pause();
    await sleep(3000);
    const before = viewer.parts.length;
    viewer.socket.resume();
    await viewer.waitForParts(before + 30, 10_000);
    // What arrives after the pause is current: at most the few frames that sat in
    // socket buffers are old, then the capture times are fresh again.
    const last = viewer.parts.at(-1);
    const lagMs = ((last?.receivedMicros ?? 0) - Number(String(last?.headers['x-timestamp']).replace('.', ''))) / 1000;
    assert.ok(lagMs < 200, `latest part is ${lagMs.toFixed(0)} ms old`);
    const camera = await cameraStats(url, 'default');
    assert.equal(camera.viewers, 1, 'still connected');
    assert.ok((camera.viewerList[0]?.drops.total ?? 0) > 0, 'frames it could not take while paused were dropped, and counted');
  } finally {
    viewer.close();
    await server.stop();
  }
});

test('drop-same-frames: an unchanging picture is sent once a second, not at the camera rate', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const folder = mkdtempSync(join(tmpdir(), 'camstream-same-'));
  writeFileSync(join(folder, 'still.jpg'), await sharp({ create: { width: 32, height: 32, channels: 3, background: '#444' } }).jpeg().toBuffer());
  const { server, url } = await startServer({ cameras: [{ id: 'still', source: `jpegdir:${folder}?fps=20`, dropSameFrames: true }] });
  const viewer = connectMjpeg(url, '/cam/still/stream');
  try {
    await viewer.waitForParts(1);
    const start = viewer.parts.length;
    await sleep(2600);
    const sent = viewer.parts.length - start;
    assert.ok(sent >= 2 && sent <= 3, `${sent} parts in 2.6 s (keep-alive once a second)`);
    const camera = await cameraStats(url, 'still');
    assert.ok(camera.framesUnchanged >= 40, `${camera.framesUnchanged} unchanged frames skipped`);
  } finally {
    viewer.close();
    await server.stop();
  }
});

/** A viewer reading at most `bytesPerSecond`, pausing its socket to keep to it. */
function pacedViewer(url: string, bytesPerSecond: number): { socket: net.Socket; received: () => number } {
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  socket.write('GET /stream HTTP/1.1\r\nHost: x\r\nUser-Agent: paced-viewer\r\n\r\n');
  let bytes = 0;
  const started = performance.now();
  socket.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    const ahead = bytes / bytesPerSecond - (performance.now() - started) / 1000;
    if (ahead > 0) {
      socket.pause();
      setTimeout(() => socket.resume(), ahead * 1000);
    }
  });
  socket.on('error', () => {});
  return { socket, received: () => bytes };
}

test('a viewer on a slow link is adapted down (frame rate, then profile) and the others lose nothing', async () => {
  // 1280x720@30: ~115 KB frames, 3.5 MB/s; the paced viewer takes 1 MB/s.
  const { server, url } = await startServer({ source: 'synthetic:1280x720@30' });
  const fast = [connectMjpeg(url), connectMjpeg(url)];
  const slow = pacedViewer(url, 1_000_000);
  try {
    await Promise.all(fast.map((viewer) => viewer.waitForParts(3)));
    const adapted = await waitForCamera(url, 'default', (camera) => (camera.viewerList.find((viewer) => viewer.userAgent === 'paced-viewer')?.level ?? 0) >= 2, { ceilingMs: 60_000 });
    const slowStats = adapted.viewerList.find((viewer) => viewer.userAgent === 'paced-viewer') as CameraStats['viewerList'][number];
    assert.ok(slowStats.level >= 2, `slow viewer at level ${slowStats.level}`);
    assert.ok(slowStats.drops.total > 0 && slowStats.drops.total === slowStats.drops.replaced + slowStats.drops.adapted + slowStats.drops.encoder_busy, JSON.stringify(slowStats.drops));
    const before = fast.map((viewer) => viewer.parts.length);
    await sleep(3000);
    const camera = await cameraStats(url, 'default');
    for (const [i, viewer] of fast.entries()) {
      const fps = (viewer.parts.length - (before[i] as number)) / 3;
      assert.ok(fps >= 0.95 * 30, `fast viewer ${i}: ${fps.toFixed(1)} fps`);
    }
    for (const viewer of camera.viewerList.filter((each) => each.userAgent !== 'paced-viewer')) assert.equal(viewer.drops.total, 0, `fast viewer ${viewer.id} dropped frames`);
    const paced = camera.viewerList.find((viewer) => viewer.userAgent === 'paced-viewer');
    assert.ok(paced !== undefined && paced.fps >= 8, `slow viewer gets ${paced?.fps} fps`);
    assert.ok(paced.lastLatencyMs < 500, `slow viewer's server-side lag ${paced.lastLatencyMs} ms`);
  } finally {
    slow.socket.destroy();
    for (const viewer of fast) viewer.close();
    await server.stop();
  }
});
