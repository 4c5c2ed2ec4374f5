import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { decodeFrameMessage, type FrameMessage } from '../src/http/ws-message.js';
import { VERSION, type Camstream } from '../src/index.js';
import { cameraStats, waitForCamera } from './helpers/cameras.js';
import { connectMjpeg, isWholeJpeg, type MjpegClient } from './helpers/mjpeg-client.js';
import { nowMicros } from './helpers/mjpeg-reader.js';
import { eventually, HANG_MS, startServer } from './helpers/server.js';

let server: Camstream;
let url: string;
/** Before the server started: every frame of it was captured after this. */
let startedMicros: number;

before(async () => {
  startedMicros = nowMicros();
  const small = (id: string) => ({ id, source: 'synthetic:160x120@15' });
  ({ server, url } = await startServer({ cameras: [small('a'), small('b'), small('c'), { id: 'big', source: 'synthetic:640x480@30' }] }));
});
after(() => server.stop());

interface Client {
  ws: WebSocket;
  texts: Record<string, unknown>[];
  frames: (FrameMessage & { receivedMicros: number })[];
  closed: Promise<{ code: number; reason: string }>;
}

/** A ws client that decodes every message; resolves once open. */
async function connect(path: string, userAgent: string, base = url): Promise<Client> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}${path}`, { headers: { 'user-agent': userAgent } });
  const client: Client = { ws, texts: [], frames: [], closed: new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))) };
  ws.on('message', (data: Buffer, isBinary) => {
    if (isBinary) client.frames.push({ ...decodeFrameMessage(data), receivedMicros: nowMicros() });
    else client.texts.push(JSON.parse(data.toString()) as Record<string, unknown>);
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return client;
}

/** The HTTP answer to an upgrade request the server refuses. */
function refused(path: string): Promise<{ status: number; body: { error: string; message: string } }> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}${path}`);
  ws.on('error', () => {});
  return new Promise((resolve) => {
    ws.once('unexpected-response', (_request, response: IncomingMessage) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as { error: string; message: string } }));
    });
  });
}

const sequencesOf = (client: Client, camera: string): number[] => client.frames.filter((frame) => frame.cameraId === camera).map((frame) => frame.sequence);
const mjpegSequences = (viewer: MjpegClient): number[] => viewer.parts.map((part) => Number(part.headers['x-frame-sequence']));

function assertNoGaps(sequences: number[], what: string): void {
  assert.ok(sequences.length > 5, `${what}: only ${sequences.length} frames`);
  for (let i = 1; i < sequences.length; i++) assert.equal(sequences[i], (sequences[i - 1] as number) + 1, `${what}: frame ${sequences[i - 1]} is followed by ${sequences[i]}`);
}

test('one connection carries the cameras it subscribes to, as viewers of each', async () => {
  const client = await connect('/ws', 'ws-test-1');
  try {
    await eventually(() => client.texts.length > 0, 'a first text message');
    const cameras = [...['a', 'b', 'c'].map((id) => ({ id, nominalFps: 15 })), { id: 'big', nominalFps: 30 }];
    assert.deepEqual(client.texts[0], { type: 'hello', version: VERSION, cameras });
    client.ws.send(JSON.stringify({ type: 'subscribe', cameras: ['a', 'b'] }));
    await eventually(() => sequencesOf(client, 'a').length >= 10 && sequencesOf(client, 'b').length >= 10, 'frames of both cameras arrive');
    for (const frame of client.frames) {
      assert.ok(frame.cameraId === 'a' || frame.cameraId === 'b', `a frame of camera '${frame.cameraId}'`);
      // Capture time in µs of the wall clock: after the server started, before it arrived.
      assert.ok(frame.captureMicros >= startedMicros && frame.captureMicros <= frame.receivedMicros, `captured at ${frame.captureMicros} µs; server started at ${startedMicros}, frame arrived at ${frame.receivedMicros}`);
      assert.ok(isWholeJpeg(frame.jpeg), `frame ${frame.sequence} of ${frame.cameraId} is a whole JPEG`);
    }
    for (const id of ['a', 'b']) {
      const sequences = sequencesOf(client, id);
      assert.ok(sequences.every((sequence, i) => i === 0 || sequence > (sequences[i - 1] as number)), `${id}: sequences increase: ${sequences.join(',')}`);
      const stats = await cameraStats(url, id);
      assert.equal(stats.viewerList.filter((viewer) => viewer.userAgent === 'ws-test-1').length, 1, `camera ${id} lists the connection as one viewer`);
    }
    client.ws.send(JSON.stringify({ type: 'unsubscribe', cameras: ['b'] }));
    await waitForCamera(url, 'b', (camera) => camera.viewers === 0);
    assert.equal((await cameraStats(url, 'b')).viewers, 0, "b's viewer is gone");
    // Messages on one connection arrive in order: once a frame of a captured after
    // b's viewer was gone has arrived, so has every frame of b sent before.
    const aNewest = (await cameraStats(url, 'a')).latestFrame?.sequence as number;
    await eventually(() => (sequencesOf(client, 'a').at(-1) as number) > aNewest, `a frame of a after ${aNewest} arrives`);
    const [aBefore, bBefore] = [sequencesOf(client, 'a').length, sequencesOf(client, 'b').length];
    // A second of a's frames later (15 at 15 fps), still nothing more of b.
    await eventually(() => sequencesOf(client, 'a').length >= aBefore + 15, 'a continues');
    assert.equal(sequencesOf(client, 'b').length, bBefore, 'no frame of b after unsubscribing');
  } finally {
    client.ws.terminate();
  }
});

test('the query string subscribes and limits the rate; bad queries are refused before the upgrade', async () => {
  const client = await connect('/ws?cameras=a&fps=5', 'ws-test-2');
  try {
    await eventually(() => client.frames.length >= 8, () => `eight frames; got ${client.frames.length}`);
    // By the camera's clock: at most one frame per 200 ms of capture time (the
    // gate holds at most two frames' credit), about every third of the 15 fps
    // camera's frames (fewer on a busy machine whose camera skips ticks, never more).
    const frames = client.frames.slice(0, 8);
    const spanMs = ((frames.at(-1) as Client['frames'][number]).captureMicros - (frames[0] as Client['frames'][number]).captureMicros) / 1000;
    const steps = (frames.at(-1) as Client['frames'][number]).sequence - (frames[0] as Client['frames'][number]).sequence;
    assert.ok(spanMs >= 6 * 200 * 0.95, `8 frames captured over ${spanMs.toFixed(0)} ms with fps=5`);
    assert.ok(steps <= 7 * 4, `8 frames span ${steps} of the camera's frames with fps=5 of 15: ${frames.map((frame) => frame.sequence).join(',')}`);
    const viewer = (await cameraStats(url, 'a')).viewerList.find((each) => each.userAgent === 'ws-test-2');
    assert.equal(viewer?.maxFps, 5);
    assert.equal(viewer?.drops.adapted, 0, 'the requested rate is not counted as adapted drops');
  } finally {
    client.ws.terminate();
  }
  const unknown = await refused('/ws?cameras=a,nope');
  assert.equal(unknown.status, 404);
  assert.match(unknown.body.message, /no camera 'nope'; cameras: a, b, c, big/);
  const badFps = await refused('/ws?fps=abc');
  assert.equal(badFps.status, 400);
  assert.match(badFps.body.message, /fps=abc/);
  assert.equal((await refused('/elsewhere')).status, 404);
  const plain = await fetch(`${url}/ws`);
  assert.equal(plain.status, 426, 'a GET without Upgrade is told to upgrade');
});

test('a client that stops reading holds a bounded number of frames and slows nobody', async () => {
  const sockets: Socket[] = [];
  const capture = (request: IncomingMessage, socket: Socket): void => {
    if (request.headers['user-agent'] === 'ws-stalled') sockets.push(socket);
  };
  server.http.server.on('upgrade', capture);
  const mjpeg = connectMjpeg(url, '/cam/big/stream');
  await mjpeg.waitForParts(5, HANG_MS);
  const stalled = await connect('/ws?cameras=big', 'ws-stalled');
  server.http.server.off('upgrade', capture);
  // Stops reading: the kernel buffers fill, then the server's sends stop completing.
  (stalled.ws as unknown as { _socket: Socket })._socket.pause();
  const serverSocket = sockets[0] as Socket;
  const firstPart = mjpeg.parts.length;
  let maxInUse = 0;
  let maxBuffered = 0;
  let maxFrameBytes = 0;
  const sample = setInterval(() => {
    maxInUse = Math.max(maxInUse, server.pool.stats().inUse);
    maxBuffered = Math.max(maxBuffered, serverSocket.writableLength);
  }, 50);
  try {
    // Backed up (the server replaces the frames it cannot send), and then for 30
    // more replaced frames (two seconds of the camera's clock at least).
    const early = (await waitForCamera(url, 'big', (camera) => (camera.viewerList.find((viewer) => viewer.userAgent === 'ws-stalled')?.drops.replaced ?? 0) > 0)).viewerList.find((viewer) => viewer.userAgent === 'ws-stalled');
    assert.ok(early !== undefined, 'the stalled connection is a viewer of big');
    const stats = await waitForCamera(url, 'big', (camera) => (camera.viewerList.find((viewer) => viewer.userAgent === 'ws-stalled')?.drops.replaced ?? 0) >= early.drops.replaced + 30);
    maxFrameBytes = stats.latestFrame?.bytes ?? 0;
    const late = stats.viewerList.find((viewer) => viewer.userAgent === 'ws-stalled');
    assert.ok(late !== undefined, 'the stalled connection is still a viewer of big');
    assert.ok(late.queued <= 1, `${late.queued} frames queued`);
    assert.ok(maxInUse <= 6, `pool inUse reached ${maxInUse}`);
    // ws's buffer is the socket's: one message in flight at most (frame sizes vary a little, hence 2x).
    assert.ok(maxBuffered <= 2 * maxFrameBytes + 1024, `${maxBuffered} bytes buffered in user space, frames are ~${maxFrameBytes}`);
    assertNoGaps(mjpegSequences(mjpeg).slice(firstPart - 1), 'the MJPEG viewer beside the stalled one');
  } finally {
    clearInterval(sample);
    stalled.ws.terminate();
  }
  await waitForCamera(url, 'big', (camera) => camera.viewers === 1);
  mjpeg.close();
  await waitForCamera(url, 'big', (camera) => camera.viewers === 0);
  await eventually(() => server.pool.stats().inUse <= 1, () => `pool inUse back down: ${server.pool.stats().inUse}`);
});

test('a /ws viewer is judged by its connection\'s TCP state, as an MJPEG one is', async () => {
  const client = await connect('/ws?cameras=big', 'ws-linked');
  try {
    await eventually(() => client.frames.length > 0, 'a first frame');
    const stats = await waitForCamera(url, 'big', (camera) => camera.viewerList.find((viewer) => viewer.userAgent === 'ws-linked')?.link != null);
    const link = stats.viewerList.find((viewer) => viewer.userAgent === 'ws-linked')?.link;
    assert.ok(link != null && Number.isFinite(link.backlogMs) && Number.isFinite(link.pendingBytes), JSON.stringify(link));
    assert.equal(link.draining, false, 'a reader that keeps up is not drained');
  } finally {
    client.ws.terminate();
  }
  await waitForCamera(url, 'big', (camera) => camera.viewers === 0);
});

test('a malformed message closes only its own connection', async () => {
  const watcher = await connect('/ws?cameras=a', 'ws-watcher');
  const mjpeg = connectMjpeg(url, '/cam/a/stream');
  try {
    await mjpeg.waitForParts(2, HANG_MS);
    const cases: [string | Buffer, number, RegExp][] = [
      ['hello', 1008, /not JSON/],
      ['{"type":"subscribe","cameras":"a"}', 1008, /cameras must be an array/],
      [JSON.stringify({ type: 'subscribe', cameras: Array.from({ length: 65 }, (_, i) => `cam${i}`) }), 1008, /more than 64/],
      [Buffer.from([1, 2, 3]), 1003, /binary messages are not accepted/],
      ['x'.repeat(65 * 1024), 1009, /^$/],
    ];
    for (const [message, code, reason] of cases) {
      const client = await connect('/ws?cameras=a', 'ws-malformed');
      client.ws.send(message);
      const closed = await client.closed;
      assert.equal(closed.code, code, `${String(message).slice(0, 40)} → close ${closed.code} ${closed.reason}`);
      assert.match(closed.reason, reason);
    }
    const partial = await connect('/ws', 'ws-partial');
    partial.ws.send(JSON.stringify({ type: 'subscribe', cameras: ['nope', 'b'] }));
    await eventually(() => sequencesOf(partial, 'b').length >= 5, 'the known camera is subscribed');
    assert.deepEqual(partial.texts[1], { type: 'error', message: "no camera 'nope'; cameras: a, b, c, big" });
    assert.equal(partial.ws.readyState, WebSocket.OPEN);
    partial.ws.terminate();
    assert.equal((await cameraStats(url, 'a')).viewerList.filter((viewer) => viewer.userAgent === 'ws-malformed').length, 0, 'closed connections left no viewers');
    // The bystanders have watched all along; ten frames longer so a gap would show.
    const [watched, read] = [sequencesOf(watcher, 'a').length, mjpeg.parts.length];
    await eventually(() => sequencesOf(watcher, 'a').length >= watched + 10 && mjpeg.parts.length >= read + 10, 'the bystanders get ten more frames');
    assertNoGaps(sequencesOf(watcher, 'a'), 'the other WebSocket client');
    assertNoGaps(mjpegSequences(mjpeg), 'the MJPEG viewer');
  } finally {
    watcher.ws.terminate();
    mjpeg.close();
  }
});

test('stopping the server closes WebSocket connections with 1001, promptly', async () => {
  const own = await startServer({ cameras: [{ id: 'a', source: 'synthetic:160x120@15' }] });
  const watching = await connect('/ws?cameras=a', 'ws-shutdown', own.url);
  const idle = await connect('/ws', 'ws-shutdown-idle', own.url);
  await eventually(() => watching.frames.length > 0, 'a first frame');
  // A shutdown that waits for upgraded sockets to go away by themselves never
  // ends: that fails here, naming it, instead of hanging the run.
  let stopped = false;
  void own.server.stop().then(() => (stopped = true));
  await eventually(() => stopped, 'server.stop() resolves with two WebSocket connections open');
  // Closed by the server's close handshake, not torn down by a fallback timer (1006).
  for (const client of [watching, idle]) assert.deepEqual(await client.closed, { code: 1001, reason: 'server shutting down' });
});
