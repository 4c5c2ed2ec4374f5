import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import type { CameraStats, PoolStats, Source } from '../src/index.js';
import { connectMjpeg } from './helpers/mjpeg-client.js';
import { eventually, getJson, sleep, startServer } from './helpers/server.js';

test('after every viewer disconnects, even mid-frame, the pool holds only the latest frame; after stop, nothing', async () => {
  const { server, url } = await startServer({ source: 'synthetic:1280x720@30' });
  try {
    const viewers = [connectMjpeg(url), connectMjpeg(url), connectMjpeg(url)];
    // Two viewers that never read: they hold a frame in flight and one queued.
    const stalled = [0, 1].map(() => {
      const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
      socket.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
      socket.pause();
      return socket;
    });
    await Promise.all(viewers.map((viewer) => viewer.waitForParts(3)));
    await sleep(1500);
    const busy = await getJson<{ pool: PoolStats }>(`${url}/api/stats`);
    assert.ok(busy.pool.inUse >= 2, `frames are held while viewers stream (inUse ${busy.pool.inUse})`);
    // Abrupt disconnects, mid-part for the stalled ones.
    for (const viewer of viewers) viewer.socket.destroy();
    for (const socket of stalled) socket.resetAndDestroy();
    const settled = await eventually(async () => {
      const stats = await getJson<{ cameras: CameraStats[]; pool: PoolStats }>(`${url}/api/stats`);
      return stats.cameras[0]?.viewers === 0 && stats.pool.inUse === 1;
    }, 10_000);
    const stats = await getJson<{ cameras: CameraStats[]; pool: PoolStats }>(`${url}/api/stats`);
    assert.ok(settled, `viewers ${stats.cameras[0]?.viewers}, pool inUse ${stats.pool.inUse} (expected 0 viewers, 1 frame: the latest)`);
  } finally {
    await server.stop();
  }
  // Stopping releases the latest frame; an encode or a write still in flight
  // releases its frame when it completes or fails, a moment later.
  assert.ok(await eventually(() => server.pool.stats().inUse === 0, 2000), `pool inUse ${server.pool.stats().inUse} after stop`);
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
  const { server, url } = await startServer({ source: 'synthetic:1280x720@30' });
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  socket.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
  socket.pause();
  socket.on('error', () => {});
  try {
    const stuck = await eventually(async () => {
      const stats = await getJson<{ cameras: CameraStats[] }>(`${url}/api/stats`);
      return (stats.cameras[0]?.drops.total ?? 0) > 0;
    }, 10_000);
    assert.ok(stuck, 'the viewer stopped keeping up (it is dropping frames)');
    await server.stop();
    assert.ok(await eventually(() => server.pool.stats().inUse === 0, 2000), `pool inUse ${server.pool.stats().inUse} after stop`);
  } finally {
    socket.destroy();
    await server.stop();
  }
});
