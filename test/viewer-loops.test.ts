import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { CamstreamError, type Camstream, type CameraStats } from '../src/index.js';
import { createCamstream } from '../src/index.js';
import { cameraStats, waitForCamera } from './helpers/cameras.js';
import { encodeJpeg } from './helpers/jpeg-samples.js';
import { connectMjpeg } from './helpers/mjpeg-client.js';
import { PushSource } from './helpers/push-source.js';
import { eventually, getJson, HANG_MS, startServer } from './helpers/server.js';

/** Viewer ids from loop 1 (src/http/viewer-loop.ts). */
const LOOP_ONE_IDS = 1_000_000;

let server: Camstream;
let url: string;
const source = new PushSource();
let jpegs: Buffer[];

before(async () => {
  jpegs = await Promise.all([1, 2, 3].map((seed) => encodeJpeg({ width: 320, height: 240, seed })));
  ({ server, url } = await startServer({ cameras: [{ id: 'push', source, alwaysOn: true }], workers: 1 }));
});
after(() => server.stop());

async function pool(): Promise<{ inUse: number }> {
  return (await getJson<{ pool: { inUse: number } }>(`${url}/api/stats`)).pool;
}

test('viewers are shared between the main thread and a viewer loop, and all get the same bytes', async () => {
  const viewers = [0, 1, 2, 3].map(() => connectMjpeg(url, '/cam/push/stream'));
  try {
    await Promise.all(viewers.map((viewer) => viewer.head));
    const camera = await waitForCamera(url, 'push', (each) => each.viewers === 4);
    const loopIds = camera.viewerList.filter((viewer) => viewer.id >= LOOP_ONE_IDS);
    assert.equal(loopIds.length, 2, `two of four viewers in the loop; ids ${camera.viewerList.map((viewer) => viewer.id).join(', ')}`);

    // One frame at a time, the next once every viewer has this one: no viewer can
    // lose a frame to a slow moment, so one lost is a bug.
    for (let i = 0; i < 30; i++) {
      source.push(jpegs[i % jpegs.length] as Buffer);
      await eventually(() => viewers.every((viewer) => viewer.parts.length > i), () => `every viewer gets frame ${i + 1}; they have ${viewers.map((viewer) => viewer.parts.length).join(', ')}`, { stepMs: 5 });
    }
    const received = await Promise.all(viewers.map((viewer) => viewer.waitForParts(30, HANG_MS)));
    const expected = received[0]?.map((part) => part.headers['x-frame-sequence']);
    for (const parts of received) {
      assert.deepEqual(parts.map((part) => part.headers['x-frame-sequence']), expected, 'every viewer gets every frame, same sequence');
      parts.forEach((part, i) => assert.ok(part.jpeg.equals(jpegs[i % jpegs.length] as Buffer), `part ${i} is the JPEG pushed`));
    }
    const after = await cameraStats(url, 'push');
    assert.equal(after.framesSent, 4 * 30, 'frames sent counts both loops');
    assert.equal(after.drops.total, 0);
  } finally {
    for (const viewer of viewers) viewer.close();
  }
  // The loop gives its frames back to the main thread's pool: what stays in use
  // is the camera's latest frame.
  await eventually(async () => (await pool()).inUse === 1, async () => `pool in use ${(await pool()).inUse}, expected 1`);
  await eventually(async () => (await cameraStats(url, 'push')).viewers === 0, 'the push camera has no viewers left');
});

test('a stalled viewer in the loop drops frames without slowing the others', async () => {
  const { port } = new URL(url);
  // The main thread takes the first viewer, the loop the second.
  const first = connectMjpeg(url, '/cam/push/stream');
  await first.head;
  const stalled = net.connect(Number(port), '127.0.0.1');
  stalled.write('GET /cam/push/stream HTTP/1.1\r\nHost: x\r\nUser-Agent: stalled-viewer\r\n\r\n');
  stalled.pause();
  try {
    const camera = await waitForCamera(url, 'push', (each) => each.viewers === 2);
    const inLoop = camera.viewerList.find((viewer) => viewer.userAgent === 'stalled-viewer');
    assert.ok(inLoop !== undefined && inLoop.id >= LOOP_ONE_IDS, 'the stalled viewer is served by the loop');
    const big = await encodeJpeg({ width: 1280, height: 720, seed: 9 });
    const already = first.parts.length;
    // Each frame once the reading viewer has the one before: it never has reason to drop one.
    for (let i = 0; i < 60; i++) {
      source.push(big);
      await eventually(() => first.parts.length > already + i, () => `the reading viewer gets frame ${i + 1}; it has ${first.parts.length - already}`, { stepMs: 5 });
    }
    await first.waitForParts(already + 60, HANG_MS);
    const stats: CameraStats = await cameraStats(url, 'push');
    const slow = stats.viewerList.find((viewer) => viewer.userAgent === 'stalled-viewer');
    assert.ok(slow !== undefined && slow.drops.total > 10, `the stalled viewer's drops are counted: ${JSON.stringify(slow?.drops)}`);
    const fast = stats.viewerList.find((viewer) => viewer.userAgent === 'camstream-test');
    assert.equal(fast?.drops.total, 0, 'the reading viewer lost nothing');
  } finally {
    first.close();
    stalled.destroy();
  }
});

test('stop() ends the streams of the loop viewers too', async () => {
  const local = await startServer({ source: 'synthetic:160x120@30', workers: 1 });
  const viewers = [connectMjpeg(local.url), connectMjpeg(local.url)];
  let closed = 0;
  try {
    await Promise.all(viewers.map((viewer) => viewer.waitForParts(3, HANG_MS)));
    const camera = await waitForCamera(local.url, 'default', (each) => each.viewers === 2);
    assert.equal(camera.viewerList.filter((viewer) => viewer.id >= LOOP_ONE_IDS).length, 1, 'one of the two is a loop viewer');
    for (const viewer of viewers) viewer.socket.once('close', () => closed++);
    await local.server.stop();
    // A loop viewer left open would keep its socket forever: fail, naming it, rather than hang.
    await eventually(() => closed === viewers.length, () => `both streams end; ${closed} of ${viewers.length} closed`);
    assert.equal(closed, 2);
  } finally {
    for (const viewer of viewers) viewer.close();
    await local.server.stop();
  }
});

test('workers must be a whole number 0–16', () => {
  assert.throws(() => createCamstream({ workers: -1 }), (error: unknown) => error instanceof CamstreamError && /workers must be a whole number 0–16, got -1/.test(error.message));
});
