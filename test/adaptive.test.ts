import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import sharp from 'sharp';
import { AdaptiveController, DEFAULT_LADDER, FpsGate, ladderFor, type CameraStats } from '../src/index.js';
import { cameraStats, waitForCamera } from './helpers/cameras.js';
import { connectMjpeg } from './helpers/mjpeg-client.js';
import { eventually, HANG_MS, startServer } from './helpers/server.js';

const LEVELS = ladderFor(60);

/** A part's X-Timestamp (`<sec>.<usec>`, set by the server when the frame was captured) in ms. */
const captureMs = (headers: Record<string, string>): number => Number(headers['x-timestamp']) * 1000;
const sequenceOf = (headers: Record<string, string>): number => Number(headers['x-frame-sequence']);

test('the ladder for a 60 fps camera: frame rate first, then profiles; a 30 fps camera skips the 30 fps rung', () => {
  assert.deepEqual(LEVELS.map((level) => `${level.maxFps ?? 'all'}/${level.profile}`), [
    'all/source', '30/source', '15/source', '15/third-q60', '15/quarter-q40', '5/quarter-q40',
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
    const parts = await small.waitForParts(6, HANG_MS);
    const { width, height } = await sharp(parts.at(-1)?.jpeg).metadata();
    assert.deepEqual({ width, height }, { width: 160, height: 120 });
    const camera = await cameraStats(url, 'default');
    const viewer = camera.viewerList[0];
    assert.equal(viewer?.profile, 'w160-q50');
    assert.equal(viewer?.maxFps, 10);
    assert.ok(camera.profiles['w160-q50'] !== undefined, 'the profile is encoded while watched');
    // The cap works on capture times (a token bucket holding at most two frames'
    // credit), so n parts span at least n - 2 tenths of a second of the camera's
    // clock, whatever the machine's load; uncapped they would span (n - 1) / 30 s.
    const captures = parts.map((part) => captureMs(part.headers));
    const spanMs = (captures.at(-1) as number) - (captures[0] as number);
    assert.ok(spanMs >= (parts.length - 2) * 100 * 0.95, `capped at 10 fps: ${parts.length} parts captured over ${spanMs.toFixed(0)} ms; sequences ${parts.map((part) => sequenceOf(part.headers)).join(',')}`);
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
  let closed = false;
  socket.once('close', () => (closed = true));
  try {
    const camera = await waitForCamera(url, 'c', (each) => each.viewersStalled === 1, { ceilingMs: 60_000 });
    assert.equal(camera.viewersStalled, 1);
    assert.equal(camera.viewers, 0);
    socket.resume();
    await eventually(() => closed, 'the server closed the stalled viewer\'s connection');
  } finally {
    socket.destroy();
    await server.stop();
  }
});

test('a viewer that pauses for seconds and resumes stays connected and gets current frames again', async () => {
  const { server, url } = await startServer({ source: 'synthetic:640x480@30' });
  const viewer = connectMjpeg(url);
  try {
    await viewer.waitForParts(5, HANG_MS);
    const pausedAt = await cameraStats(url, 'default');
    viewer.socket.pause();
    // Paused until the server notices (frames it cannot take are dropped, and
    // counted), then for 30 more frames of the camera's clock (at least a second).
    const backedUp = await waitForCamera(url, 'default', (camera) => (camera.viewerList[0]?.drops.total ?? 0) > 0);
    const resumedAt = await waitForCamera(url, 'default', (camera) => camera.framesCaptured >= backedUp.framesCaptured + 30);
    const newestAtResume = resumedAt.latestFrame?.sequence as number;
    const before = viewer.parts.length;
    viewer.socket.resume();
    // Frames captured after the resume arrive again...
    await eventually(() => viewer.parts.slice(before).some((part) => sequenceOf(part.headers) > newestAtResume), () => `a part newer than ${newestAtResume} arrives; got ${viewer.parts.slice(before).map((part) => sequenceOf(part.headers)).join(',')}`);
    // ...after at most the few old ones that sat in the socket buffers, not the
    // backlog of the pause (the frames the server captured meanwhile).
    const old = viewer.parts.slice(before).filter((part) => sequenceOf(part.headers) <= newestAtResume).length;
    const capturedWhilePaused = resumedAt.framesCaptured - pausedAt.framesCaptured;
    // Once it was backed up, the server kept only the newest frame for it (one
    // queued behind the one in flight): of the 30+ frames captured since, at most
    // one is old news here. The rest of the old parts were in the socket buffers
    // (or unread when it paused). A backlog would bring every frame of the pause.
    assert.ok(old <= capturedWhilePaused - 15, `${old} old parts after the resume, ${capturedWhilePaused} frames captured while paused: ${viewer.parts.slice(before).map((part) => sequenceOf(part.headers)).join(',')}`);
    // And the viewer keeps up from there: 30 parts later it is within a few frames
    // of the newest (the one being written and the one queued behind it, at most
    // a couple more in transit), not replaying anything.
    const caughtUp = viewer.parts.length;
    await viewer.waitForParts(caughtUp + 30, HANG_MS);
    const camera = await cameraStats(url, 'default');
    const behind = (camera.latestFrame?.sequence as number) - sequenceOf((viewer.parts.at(-1) as (typeof viewer.parts)[number]).headers);
    assert.ok(behind <= 5, `30 parts after catching up, the viewer reads frame ${viewer.parts.at(-1)?.headers['x-frame-sequence']}, ${behind} behind the camera's newest`);
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
    // The first part at once (the latest frame), then three keep-alives.
    const parts = (await viewer.waitForParts(4, HANG_MS)).slice(0, 4);
    for (let i = 1; i < parts.length; i++) {
      const [previous, part] = [parts[i - 1]?.headers, parts[i]?.headers] as Record<string, string>[];
      // By the camera's clock: captured a second after the one sent before (not
      // 50 ms, the camera's rate), and about 20 frames of the 20 fps clock later
      // (not 40 or more: no keep-alive missed; a late file read may add a few).
      const gapMs = captureMs(part as Record<string, string>) - captureMs(previous as Record<string, string>);
      const frames = sequenceOf(part as Record<string, string>) - sequenceOf(previous as Record<string, string>);
      assert.ok(gapMs >= 950, `part ${i} captured ${gapMs.toFixed(0)} ms after the one before (keep-alive once a second)`);
      assert.ok(frames >= 2 && frames <= 30, `part ${i} is ${frames} frames after the one before (20 fps, keep-alive once a second)`);
    }
    // Every frame published between the parts sent was skipped as unchanged.
    const skipped = sequenceOf((parts[3] as (typeof parts)[number]).headers) - sequenceOf((parts[0] as (typeof parts)[number]).headers) - 3;
    const camera = await cameraStats(url, 'still');
    assert.ok(camera.framesUnchanged >= skipped && skipped >= 3, `${camera.framesUnchanged} unchanged frames skipped, ${skipped} of them between the parts sent`);
  } finally {
    viewer.close();
    await server.stop();
  }
});

/** A viewer reading at most `bytesPerSecond`, pausing its socket to keep to it; notes the newest X-Frame-Sequence it read. */
function pacedViewer(url: string, bytesPerSecond: number): { socket: net.Socket; received: () => number; lastSequence: () => number } {
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  socket.write('GET /stream HTTP/1.1\r\nHost: x\r\nUser-Agent: paced-viewer\r\n\r\n');
  let bytes = 0;
  let lastSequence = -1;
  let tail = '';
  // When the bytes read so far are paid for at `bytesPerSecond`: a link's rate at every moment,
  // with no credit saved while less came (a link idle for a second does not then run at double speed).
  let paidUntil = performance.now();
  socket.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    // Part headers only, found in the JPEG bytes' midst (a header split between two chunks is found through the tail).
    const text = tail + chunk.toString('latin1');
    for (const match of text.matchAll(/X-Frame-Sequence: (\d+)\r\n/g)) lastSequence = Math.max(lastSequence, Number(match[1]));
    tail = text.slice(-40);
    const now = performance.now();
    paidUntil = Math.max(paidUntil, now) + (chunk.length / bytesPerSecond) * 1000;
    if (paidUntil > now) {
      socket.pause();
      setTimeout(() => socket.resume(), paidUntil - now);
    }
  });
  socket.on('error', () => {});
  return { socket, received: () => bytes, lastSequence: () => lastSequence };
}

test('a viewer on a slow link is adapted down (frame rate, then profile) and the others lose nothing', async () => {
  // 1280x720@30: ~115 KB frames, 3.5 MB/s; the paced viewer takes 1 MB/s.
  const { server, url } = await startServer({ source: 'synthetic:1280x720@30' });
  const fast = [connectMjpeg(url), connectMjpeg(url)];
  const slow = pacedViewer(url, 1_000_000);
  const pacedOf = (camera: CameraStats): CameraStats['viewerList'][number] | undefined => camera.viewerList.find((viewer) => viewer.userAgent === 'paced-viewer');
  try {
    await Promise.all(fast.map((viewer) => viewer.waitForParts(3, HANG_MS)));
    const adapted = await waitForCamera(url, 'default', (camera) => (pacedOf(camera)?.level ?? 0) >= 2, { ceilingMs: 60_000 });
    const slowStats = pacedOf(adapted) as CameraStats['viewerList'][number];
    assert.ok(slowStats.level >= 2, `slow viewer at level ${slowStats.level}`);
    assert.ok(slowStats.drops.total > 0 && slowStats.drops.total === slowStats.drops.replaced + slowStats.drops.adapted + slowStats.drops.encoder_busy + slowStats.drops.draining, JSON.stringify(slowStats.drops));
    // A window of 90 frames by the camera's clock (3 s at 30 fps; longer, never
    // shorter, on a busy machine).
    const before = fast.map((viewer) => viewer.parts.length);
    const start = await cameraStats(url, 'default');
    const slowBehindAtStart = (start.latestFrame?.sequence as number) - slow.lastSequence();
    const end = await waitForCamera(url, 'default', (camera) => camera.framesCaptured >= start.framesCaptured + 90);
    const windowFrames = end.framesCaptured - start.framesCaptured;
    const newest = end.latestFrame?.sequence as number;
    const slowBehind = newest - slow.lastSequence();
    // The fast viewers got every frame of the window, in order, none skipped
    // (by sequence number: the rate they read at is the machine's business).
    for (const [i, viewer] of fast.entries()) {
      await viewer.waitForParts(1 + (before[i] as number), HANG_MS);
      await eventually(() => Number(viewer.parts.at(-1)?.headers['x-frame-sequence']) >= newest, () => `fast viewer ${i} gets frame ${newest}; it has ${viewer.parts.at(-1)?.headers['x-frame-sequence']}`);
      const sequences = viewer.parts.slice(before[i] as number).map((part) => sequenceOf(part.headers));
      const skipped = sequences.filter((sequence, k) => k > 0 && sequence !== (sequences[k - 1] as number) + 1).length;
      assert.equal(skipped, 0, `fast viewer ${i} skipped frames: ${sequences.join(',')}`);
    }
    const camera = await cameraStats(url, 'default');
    for (const viewer of camera.viewerList.filter((each) => each.userAgent !== 'paced-viewer')) assert.equal(viewer.drops.total, 0, `fast viewer ${viewer.id} dropped frames`);
    // The slow viewer is adapted, not starved: over the window it was sent more than
    // the last rung's 5 of 30 frames (8 of 30 was measured on a quiet machine;
    // a 15 fps rung that fits gives 15 of 30)...
    const paced = pacedOf(camera);
    const pacedStart = pacedOf(start);
    const pacedEnd = pacedOf(end);
    assert.ok(paced !== undefined && pacedStart !== undefined && pacedEnd !== undefined, 'the paced viewer stays connected');
    const share = (pacedEnd.framesSent - pacedStart.framesSent) / windowFrames;
    assert.ok(share > 0.2, `slow viewer was sent ${pacedEnd.framesSent - pacedStart.framesSent} of ${windowFrames} frames`);
    assert.ok(paced.level < ladderFor(30).length - 1, `slow viewer at level ${paced.level}, the last rung of a 30 fps camera`);
    // ...and what it reads is current: it is a bounded number of frames behind the
    // camera (the frame in flight, the one queued, what sits in the socket buffers),
    // not falling further behind with every frame as a backlog would.
    assert.ok(slowBehind <= 15, `the slow viewer reads frame ${slow.lastSequence()}, ${slowBehind} behind the camera's ${newest} (${slowBehindAtStart} at the window's start)`);
  } finally {
    slow.socket.destroy();
    for (const viewer of fast) viewer.close();
    await server.stop();
  }
});
