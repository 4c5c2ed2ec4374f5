import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { waitForCamera } from '../helpers/cameras.js';
import { connectMjpeg, isWholeJpeg } from '../helpers/mjpeg-client.js';
import { rtspServerMissing, startRtspServer, withCredentials, type RtspServer } from '../helpers/rtsp-server.js';
import { startServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';

const skip = requireTool('ffmpeg', 'ffmpeg') || rtspServerMissing();
let rtsp: RtspServer | undefined;

before(async () => {
  if (!skip) rtsp = await startRtspServer();
});
after(() => rtsp?.stop());

test('rtsp: a real RTSP server\'s H.264 stream is re-encoded to MJPEG and served', { skip }, async () => {
  const server = rtsp as RtspServer;
  const { server: camstream, url } = await startServer({ source: server.url });
  const viewer = connectMjpeg(url);
  try {
    // ffmpeg connects and decodes before the first frame: however long that takes here, only a hang fails.
    const parts = await viewer.waitForParts(15, 60_000);
    assert.ok(parts.every((part) => isWholeJpeg(part.jpeg)));
    const { width, height } = await sharp(parts.at(-1)?.jpeg).metadata();
    assert.deepEqual({ width, height }, { width: 320, height: 240 });
  } finally {
    viewer.close();
    await camstream.stop();
  }
});

test('rtsp: credentials from the URL are used, and the password never shows in /api/stats', { skip }, async () => {
  const server = rtsp as RtspServer;
  const { server: camstream, url } = await startServer({
    cameras: [
      { id: 'right', source: withCredentials(server.authUrl, server.user, server.password), alwaysOn: true },
      { id: 'none', source: server.authUrl, alwaysOn: true },
      { id: 'wrong', source: withCredentials(server.authUrl, server.user, 'not-the-password'), alwaysOn: true },
      { id: 'path', source: `${server.url}-no-such-path`, alwaysOn: true },
    ],
  });
  try {
    const right = await waitForCamera(url, 'right', (camera) => camera.state === 'live', { ceilingMs: 60_000 });
    assert.equal(right.state, 'live');
    assert.ok(!right.source.includes(server.password), right.source);
    assert.match(right.source, /:\*\*\*@/);
    for (const id of ['none', 'wrong']) {
      const camera = await waitForCamera(url, id, (each) => each.restarts >= 1, { ceilingMs: 60_000 });
      assert.equal(camera.reason, '401 Unauthorized: check the user and password in the source URL', id);
    }
    const path = await waitForCamera(url, 'path', (each) => each.restarts >= 1, { ceilingMs: 60_000 });
    assert.equal(path.reason, '404 Not Found: check the path in the source URL');
  } finally {
    await camstream.stop();
  }
});
