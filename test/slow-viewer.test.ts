import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import type { Camstream, CameraStats } from '../src/index.js';
import { connectMjpeg } from './helpers/mjpeg-client.js';
import { eventually, getJson, HANG_MS, startServer } from './helpers/server.js';
import { cameraStats, waitForCamera } from './helpers/cameras.js';

const FPS = 30;
let server: Camstream;
let url: string;

before(async () => {
  // 1280x720 frames are ~115 KB: a viewer that stops reading fills the loopback
  // socket buffers within a couple of seconds.
  ({ server, url } = await startServer({ source: `synthetic:1280x720@${FPS}` }));
});
after(() => server.stop());

/** A viewer that sends its request and then never reads a byte. */
function stalledViewer(): net.Socket {
  const { port } = new URL(url);
  const socket = net.connect(Number(port), '127.0.0.1');
  socket.write('GET /stream HTTP/1.1\r\nHost: x\r\nUser-Agent: stalled-viewer\r\n\r\n');
  socket.pause();
  return socket;
}

test('a viewer that stops reading does not slow the others, and its drops are counted', async () => {
  const stalled = stalledViewer();
  const fast = [connectMjpeg(url), connectMjpeg(url), connectMjpeg(url)];
  try {
    await Promise.all(fast.map((viewer) => viewer.waitForParts(5, HANG_MS)));
    // Until the stalled viewer's socket buffers are full: the server replaces its frames.
    const stalledOf = (camera: CameraStats): CameraStats['viewerList'][number] | undefined => camera.viewerList.find((viewer) => viewer.userAgent === 'stalled-viewer');
    await waitForCamera(url, 'default', (camera) => (stalledOf(camera)?.drops.replaced ?? 0) > 0);
    // Then a window of 90 frames by the camera's clock (3 s at 30 fps, longer on a busy machine).
    const start = await cameraStats(url, 'default');
    const end = await waitForCamera(url, 'default', (camera) => camera.framesCaptured >= start.framesCaptured + 3 * FPS);
    const newest = end.latestFrame?.sequence as number;
    for (const [i, viewer] of fast.entries()) {
      // Not slowed: it gets the camera's newest frame, and every one before it, none skipped.
      await eventually(() => Number(viewer.parts.at(-1)?.headers['x-frame-sequence']) >= newest, () => `fast viewer ${i} gets frame ${newest}; it has ${viewer.parts.at(-1)?.headers['x-frame-sequence']}`);
      const sequences = viewer.parts.map((part) => Number(part.headers['x-frame-sequence']));
      const gaps = (sequences.at(-1) as number) - (sequences[0] as number) + 1 - sequences.length;
      assert.equal(gaps, 0, `fast viewer ${i} missed ${gaps} frames`);
    }
    const stats = await getJson<{ cameras: CameraStats[] }>(`${url}/api/stats`);
    const camera = stats.cameras[0] as CameraStats;
    const slow = camera.viewerList.find((viewer) => viewer.userAgent === 'stalled-viewer');
    assert.ok(slow !== undefined, 'the stalled viewer is listed in /api/stats');
    assert.ok(slow.drops.replaced > 30, `stalled viewer dropped ${slow.drops.replaced} frames`);
    assert.equal(camera.drops.replaced, camera.viewerList.reduce((sum, viewer) => sum + viewer.drops.replaced, 0), 'camera drops are the sum of its viewers');
    for (const viewer of camera.viewerList.filter((each) => each.userAgent !== 'stalled-viewer')) {
      assert.equal(viewer.drops.total, 0, `viewer ${viewer.id} that keeps up dropped frames`);
    }
  } finally {
    stalled.destroy();
    for (const viewer of fast) viewer.close();
  }
});
