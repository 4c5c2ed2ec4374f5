import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import type { CameraStats, PoolStats, Source } from '../src/index.js';
import { encodeJpeg } from './helpers/jpeg-samples.js';
import { connectMjpeg } from './helpers/mjpeg-client.js';
import { PushSource, pushEvery } from './helpers/push-source.js';
import { eventually, getJson, HANG_MS, startServer } from './helpers/server.js';
import { waitForCamera } from './helpers/cameras.js';

/** A camera whose every frame is a pooled copy of a 1280x720 JPEG (~100 KB), 30 times a second. */
async function pooledCamera(): Promise<{ source: PushSource; stopPushing: () => void }> {
  const source = new PushSource();
  const jpeg = await encodeJpeg({ width: 1280, height: 720, seed: 5 });
  return { source, stopPushing: pushEvery(source, jpeg, 30) };
}

test('after every viewer disconnects, even mid-frame, the pool holds only the latest frame; after stop, nothing', async () => {
  const { source, stopPushing } = await pooledCamera();
  const { server, url } = await startServer({ source });
  try {
    const viewers = [connectMjpeg(url), connectMjpeg(url), connectMjpeg(url)];
    // Two viewers that never read: they hold a frame in flight and one queued.
    const stalled = [0, 1].map(() => {
      const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
      socket.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
      socket.pause();
      return socket;
    });
    await Promise.all(viewers.map((viewer) => viewer.waitForParts(3, HANG_MS)));
    // Until both stalled viewers are backed up (frames replaced in their queues): each
    // then holds the frame it is writing, besides the camera's latest.
    await waitForCamera(url, 'default', (camera) => camera.viewerList.filter((viewer) => viewer.userAgent === undefined && viewer.drops.replaced > 0).length === 2);
    const busy = await getJson<{ pool: PoolStats }>(`${url}/api/stats`);
    assert.ok(busy.pool.inUse >= 2, `frames are held while viewers stream (inUse ${busy.pool.inUse})`);
    // Abrupt disconnects, mid-part for the stalled ones.
    for (const viewer of viewers) viewer.socket.destroy();
    for (const socket of stalled) socket.resetAndDestroy();
    let stats: { cameras: CameraStats[]; pool: PoolStats } | undefined;
    await eventually(async () => {
      stats = await getJson<{ cameras: CameraStats[]; pool: PoolStats }>(`${url}/api/stats`);
      return stats.cameras[0]?.viewers === 0 && stats.pool.inUse === 1;
    }, () => `0 viewers and 1 frame in use (the latest); got viewers ${stats?.cameras[0]?.viewers}, pool inUse ${stats?.pool.inUse}`);
  } finally {
    stopPushing();
    await server.stop();
  }
  // Stopping releases the latest frame; an encode or a write still in flight
  // releases its frame when it completes or fails, a moment later.
  await eventually(() => server.pool.stats().inUse === 0, () => `pool inUse ${server.pool.stats().inUse} after stop`);
});

test('/snapshot answers 503 with a clear message before the first frame', async () => {
  const silent: Source = { url: 'test:silent', nominalFps: undefined, start: async () => {}, stop: async () => {} };
  const { server, url } = await startServer({ source: silent, snapshotTimeoutMs: 300 });
  try {
    const response = await fetch(`${url}/snapshot`);
    assert.equal(response.status, 503);
    assert.equal(response.headers.get('retry-after'), '1');
    const body = (await response.json()) as { error: string; message: string };
    assert.equal(body.error, 'no_frame_yet');
    assert.match(body.message, /camera 'default' has not delivered a frame yet \(source starting\)/);
  } finally {
    await server.stop();
  }
});

test('stopping the server with a viewer that stopped reading mid-frame releases every buffer', async () => {
  const { source, stopPushing } = await pooledCamera();
  const { server, url } = await startServer({ source });
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  socket.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
  socket.pause();
  socket.on('error', () => {});
  try {
    await eventually(async () => {
      const stats = await getJson<{ cameras: CameraStats[] }>(`${url}/api/stats`);
      return (stats.cameras[0]?.drops.total ?? 0) > 0;
    }, 'the viewer stopped keeping up (it is dropping frames)');
    await server.stop();
    await eventually(() => server.pool.stats().inUse === 0, () => `pool inUse ${server.pool.stats().inUse} after stop`);
  } finally {
    stopPushing();
    socket.destroy();
    await server.stop();
  }
});

test('the synthetic camera sends its ring without copying while its viewers keep up', async () => {
  const { server, url } = await startServer({ source: 'synthetic:640x360@30' });
  try {
    const viewers = [connectMjpeg(url), connectMjpeg(url), connectMjpeg(url)];
    await Promise.all(viewers.map((viewer) => viewer.waitForParts(60, HANG_MS)));
    for (const viewer of viewers) viewer.close();
    // A ring frame is copied into a pooled buffer only when it is still being sent
    // a whole lap (30 frames) later, which viewers that keep up never cause.
    const { hits, misses } = server.pool.stats();
    assert.equal(hits + misses, 0, `pooled copies made: ${hits + misses}`);
  } finally {
    await server.stop();
  }
});
