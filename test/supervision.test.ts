import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { BufferPool, Camera, reasonFromStderr, SourceError, v4l2Args, qscaleFor, type Source, type SourceContext } from '../src/index.js';
import type { SupervisorClock } from '../src/stream/source-supervisor.js';
import { connectMjpeg } from './helpers/mjpeg-client.js';
import { cameraStats, waitForCamera } from './helpers/cameras.js';
import { eventually, HANG_MS, startServer } from './helpers/server.js';

const silent = pino({ level: 'silent' });

/** A source that fails every start, recording when it was asked. */
class FailingSource implements Source {
  readonly url = 'test:failing';
  readonly nominalFps = undefined;
  readonly starts: number[] = [];
  async start(_context: SourceContext): Promise<void> {
    this.starts.push(performance.now());
    throw new SourceError('camera unplugged');
  }
  async stop(): Promise<void> {}
}

/** Node's clock and timers, noting the delay of every timer the supervisor sets; `now` may be frozen by the test. */
function recordingClock(): { clock: SupervisorClock; delays: number[]; freeze: (at: number | undefined) => void } {
  const delays: number[] = [];
  let frozen: number | undefined;
  const clock: SupervisorClock = {
    now: () => frozen ?? performance.now(),
    setTimeout: (callback, ms) => {
      delays.push(ms);
      return setTimeout(callback, ms);
    },
    clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
  };
  return { clock, delays, freeze: (at) => (frozen = at) };
}

/** A stall timeout no test reaches, so its timer is told apart from the retry timers. */
const NO_STALL_MS = 1e9;

test('restarts back off exponentially with jitter, up to the cap, and count every restart', async () => {
  const source = new FailingSource();
  const { clock, delays } = recordingClock();
  const camera = new Camera({ id: 'c', source, pool: new BufferPool(), log: silent, alwaysOn: true, supervisor: { initialRetryMs: 40, maxRetryMs: 320, stallTimeoutMs: NO_STALL_MS, clock } });
  camera.start();
  await eventually(() => source.starts.length >= 7, () => `seven starts; got ${source.starts.length}`, { stepMs: 10 });
  await camera.stop();
  // The delays the supervisor chose (not how late a busy machine's timers fired):
  // 40, 80, 160, 320, 320, 320 ms, each ±20 %.
  const retries = delays.filter((ms) => ms !== NO_STALL_MS);
  const expected = [40, 80, 160, 320, 320, 320];
  expected.forEach((base, i) => {
    const delay = retries[i] as number;
    assert.ok(delay >= Math.round(base * 0.8) && delay <= Math.round(base * 1.2), `retry ${i + 1} after ${delay} ms, expected ${base} ±20 %; delays ${retries.join(', ')}`);
  });
  assert.ok(retries.slice(0, 6).some((delay, i) => delay !== expected[i]), `jitter: the delays are not exactly the bases: ${retries.join(', ')}`);
  // And the starts wait for them: never sooner (a timer may fire late, never early).
  source.starts.slice(1, 7).forEach((at, i) => {
    const gap = at - (source.starts[i] as number);
    assert.ok(gap >= (retries[i] as number) - 2, `start ${i + 2} came ${gap.toFixed(0)} ms after the one before, the delay was ${retries[i]} ms`);
  });
  const status = camera.sourceStatus();
  assert.equal(status.reason, 'camera unplugged');
  assert.ok(status.restarts >= 6);
  assert.equal(status.state, 'stopped');
});

/** A source whose start finishes when the test says (as the synthetic camera renders its ring), and says whether it runs. */
class SlowStartSource implements Source {
  readonly url = 'test:slow-start';
  readonly nominalFps = undefined;
  running = false;
  starting = false;
  stops = 0;
  finishStart: () => void = () => {};
  async start(_context: SourceContext): Promise<void> {
    this.starting = true;
    await new Promise<void>((resolve) => (this.finishStart = resolve));
    this.running = true;
  }
  async stop(): Promise<void> {
    this.stops++;
    this.running = false;
  }
}

test('a source stopped while it is still starting does not keep running once its start finishes', async () => {
  const source = new SlowStartSource();
  const camera = new Camera({ id: 'c', source, pool: new BufferPool(), log: silent, alwaysOn: true });
  camera.start();
  await eventually(() => source.starting, 'the source is starting');
  const stopping = camera.stop();
  // Its start finishes after the camera was told to stop.
  source.finishStart();
  await stopping;
  await eventually(() => !source.running && source.stops > 0, () => `the late start was stopped (else its clock or process would run forever); running ${source.running}, stops ${source.stops}`);
});

test('retrying shows the reason and seconds until the next attempt', async () => {
  const { clock, delays, freeze } = recordingClock();
  const camera = new Camera({ id: 'c', source: new FailingSource(), pool: new BufferPool(), log: silent, alwaysOn: true, supervisor: { initialRetryMs: 5000, stallTimeoutMs: NO_STALL_MS, clock } });
  // Time stands still for the supervisor until the test moves it: the seconds left are the whole delay it chose.
  const at = performance.now();
  freeze(at);
  camera.start();
  await eventually(() => camera.sourceStatus().state === 'retrying', () => `state retrying; got ${camera.sourceStatus().state}`, { stepMs: 5 });
  const delay = delays.filter((ms) => ms !== NO_STALL_MS)[0] as number;
  const status = camera.sourceStatus();
  assert.equal(status.state, 'retrying');
  assert.equal(status.reason, 'camera unplugged');
  assert.ok(delay >= 4000 && delay <= 6000, `first retry after ${delay} ms, 5 s ±20 %`);
  assert.equal(status.retryInSeconds, Math.round(delay / 100) / 10, `retry in ${status.retryInSeconds} s of ${delay} ms (to a tenth)`);
  freeze(at + 1000);
  assert.equal(camera.sourceStatus().retryInSeconds, Math.round((delay - 1000) / 100) / 10, 'a second later, a second less');
  await camera.stop();
});

test('on demand: the source starts with the first viewer and stops after the idle timeout; always-on runs regardless', async () => {
  const { server, url } = await startServer({
    cameras: [
      { id: 'lazy', source: 'synthetic:64x64@20', idleTimeoutSeconds: 0.3 },
      { id: 'eager', source: 'synthetic:64x64@20', alwaysOn: true },
    ],
  });
  try {
    assert.equal((await cameraStats(url, 'lazy')).state, 'idle');
    assert.ok((await waitForCamera(url, 'eager', (camera) => camera.state === 'live')).framesCaptured > 0, 'always-on camera runs with no viewer');
    const viewer = connectMjpeg(url, '/cam/lazy/stream');
    await viewer.waitForParts(3, HANG_MS);
    assert.equal((await cameraStats(url, 'lazy')).state, 'live');
    viewer.close();
    const idle = await waitForCamera(url, 'lazy', (camera) => camera.state === 'idle');
    assert.equal(idle.state, 'idle');
    assert.equal(idle.latestFrame, undefined, 'an idle camera holds no frame');
    // A snapshot starts it again and waits for a fresh frame.
    const snapshot = await fetch(`${url}/cam/lazy/snapshot`);
    assert.equal(snapshot.status, 200);
    assert.equal((await cameraStats(url, 'eager')).state, 'live');
  } finally {
    await server.stop();
  }
});

test('v4l2 arguments: MJPEG cameras are copied (Huffman tables restored), others encoded at the quality asked', () => {
  assert.deepEqual(v4l2Args({ device: '/dev/video0', size: { width: 1280, height: 720 }, fps: 30, format: 'mjpeg', quality: 85 }), [
    '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error',
    '-f', 'v4l2', '-input_format', 'mjpeg', '-video_size', '1280x720', '-framerate', '30', '-i', '/dev/video0',
    '-an', '-c:v', 'copy', '-bsf:v', 'mjpeg2jpeg', '-f', 'mjpeg', 'pipe:1',
  ]);
  const raw = v4l2Args({ device: '/dev/video2', size: undefined, fps: undefined, format: 'yuyv422', quality: 60 });
  assert.deepEqual(raw.slice(raw.indexOf('-f')), ['-f', 'v4l2', '-input_format', 'yuyv422', '-i', '/dev/video2', '-an', '-c:v', 'mjpeg', '-pix_fmt', 'yuvj420p', '-q:v', String(qscaleFor(60)), '-f', 'mjpeg', 'pipe:1']);
  assert.deepEqual([qscaleFor(100), qscaleFor(1), qscaleFor(85)], [2, 31, 6]);
});

test('ffmpeg\'s stderr becomes one line a user can act on', () => {
  const cases: [string[], string][] = [
    [['[rtsp @ 0x55d1] method DESCRIBE failed: 401 Unauthorized', 'rtsp://u:p@h/s: Server returned 401 Unauthorized (authorization failed)'], '401 Unauthorized: check the user and password in the source URL'],
    [['[tcp @ 0x1] Connection to tcp://127.0.0.1:9?timeout=0 failed: Connection refused', 'rtsp://127.0.0.1:9/x: Connection refused'], 'Connection refused: is the camera on, and the host and port in the URL right?'],
    [['/videos/x.mp4: No such file or directory'], 'No such file or directory: check the path'],
    [['[in#0 @ 0x1] Error opening input: Something odd'], 'Error opening input: Something odd (ffmpeg exited with code 1)'],
    [[], 'ffmpeg exited with code 1'],
  ];
  for (const [lines, reason] of cases) assert.equal(reasonFromStderr(lines, 'ffmpeg exited with code 1'), reason);
});
