import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { BOUNDARY, type Camstream } from '../src/index.js';
import { estimateJpegQuality } from '../src/http/compat-routes.js';
import { connectMjpeg, isWholeJpeg } from './helpers/mjpeg-client.js';
import { eventually, getJson, HANG_MS, startServer, WaitTimeoutError } from './helpers/server.js';
import { requireTool } from './helpers/tools.js';

/**
 * The request shapes clients made for µStreamer (PiKVM-style pages) and
 * mjpg-streamer (OctoPrint, Home Assistant's MJPEG camera) send, and the shapes of
 * camstream's answers to them.
 */

const run = promisify(execFile);
let server: Camstream;
let url: string;

before(async () => {
  ({ server, url } = await startServer({
    cameras: [
      { id: 'front', source: 'synthetic:320x240@30' },
      { id: 'side', source: 'synthetic:160x120@10' },
    ],
  }));
});
after(() => server.stop());

/** µStreamer's /state, as its clients read it. */
interface State {
  ok: boolean;
  result: {
    instance_id: string;
    encoder: { type: string; quality: number };
    source: { resolution: { width: number; height: number }; online: boolean; desired_fps: number; captured_fps: number };
    stream: { queued_fps: number; clients: number; clients_stat: Record<string, { fps: number; extra_headers: boolean; advance_headers: boolean; dual_final_frames: boolean; zero_data: boolean; key: string }> };
  };
}

const state = (path = '/state'): Promise<State> => getJson<State>(`${url}${path}`);

async function jpegSize(jpeg: Buffer): Promise<{ width: number | undefined; height: number | undefined }> {
  const { width, height } = await sharp(jpeg).metadata();
  return { width, height };
}

/** A raw stream request that keeps what arrives (latin1) until `done` says so; the socket stays open. */
async function openRaw(path: string, done: (text: string) => boolean): Promise<{ text: string; socket: net.Socket }> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nUser-Agent: camstream-test\r\n\r\n`);
  let text = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new WaitTimeoutError(`${path} sends what the test waits for (${text.length} bytes so far)`, HANG_MS)), HANG_MS);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (done(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { text, socket };
}

test('mjpg-streamer /?action=stream (OctoPrint, Home Assistant) is the first camera\'s multipart MJPEG stream', async () => {
  const viewer = connectMjpeg(url, '/?action=stream');
  try {
    const { statusLine, headers } = await viewer.head;
    assert.equal(statusLine, 'HTTP/1.1 200 OK');
    assert.match(headers['content-type'] as string, /^multipart\/x-mixed-replace; boundary=/);
    const parts = await viewer.waitForParts(3);
    for (const part of parts) {
      assert.ok(isWholeJpeg(part.jpeg), 'each part is one whole JPEG');
      assert.equal(Number(part.headers['content-length']), part.jpeg.length);
      assert.match(part.headers['x-timestamp'] as string, /^\d{10}\.\d{6}$/);
    }
    assert.deepEqual(await jpegSize(parts[0]?.jpeg as Buffer), { width: 320, height: 240 });
  } finally {
    viewer.close();
  }
});

test('mjpg-streamer /?action=snapshot is one whole JPEG of the first camera', async () => {
  const response = await fetch(`${url}/?action=snapshot`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'image/jpeg');
  assert.match(response.headers.get('x-timestamp') ?? '', /^\d{10}\.\d{6}$/);
  const jpeg = Buffer.from(await response.arrayBuffer());
  assert.ok(isWholeJpeg(jpeg), 'FFD8 … FFD9');
  assert.deepEqual(await jpegSize(jpeg), { width: 320, height: 240 });
});

test('mjpg-streamer\'s input suffix: action=stream_1 and snapshot_1 are the second camera; a camera not there is a 404', async () => {
  const viewer = connectMjpeg(url, '/?action=stream_1');
  try {
    const [part] = await viewer.waitForParts(1);
    assert.deepEqual(await jpegSize(part?.jpeg as Buffer), { width: 160, height: 120 });
  } finally {
    viewer.close();
  }
  const snapshot = await fetch(`${url}/?action=snapshot_1`);
  assert.equal(snapshot.status, 200);
  assert.deepEqual(await jpegSize(Buffer.from(await snapshot.arrayBuffer())), { width: 160, height: 120 });
  const missing = await fetch(`${url}/?action=stream_2`);
  assert.equal(missing.status, 404);
  assert.match(((await missing.json()) as { message: string }).message, /no camera 2.*front, side/);
});

test('an unknown action is a 400 naming the supported ones', async () => {
  for (const action of ['command', 'take', '', 'stream&action=snapshot']) {
    const response = await fetch(`${url}/?action=${action}`);
    assert.equal(response.status, 400, `action=${action}`);
    const body = (await response.json()) as { error: string; message: string };
    assert.equal(body.error, 'unknown_action');
    assert.match(body.message, /action=stream, action=snapshot/);
  }
});

test('/ without an action is still the dashboard; HEAD /?action=stream answers the stream\'s headers and ends', async () => {
  for (const path of ['/', '/?t=1700000000']) {
    const page = await fetch(`${url}${path}`);
    assert.equal(page.status, 200, path);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/, path);
    assert.match(await page.text(), /<html/i, path);
  }
  // A raw socket, to see that no frame follows the head (a client library would hide it).
  // A second request pipelined behind the HEAD is the witness that the HEAD's answer
  // ended: its answer comes next on the connection, and a stream would never let it.
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  socket.write(`HEAD /?action=stream HTTP/1.1\r\nHost: ${hostname}\r\n\r\nGET /healthz HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`);
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  try {
    await eventually(() => answer.includes('{"status":"ok"}') || answer.includes('\xff\xd8'), () => `the pipelined /healthz is answered; so far: ${JSON.stringify(answer)}`, { stepMs: 10 });
  } finally {
    socket.destroy();
  }
  assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(answer, /\r\ncontent-type: multipart\/x-mixed-replace; boundary=/i);
  assert.ok(!answer.includes('\xff\xd8'), 'headers only, no JPEG');
  const headEnd = answer.indexOf('\r\n\r\n') + 4;
  assert.equal(answer.indexOf('HTTP/1.1 ', 1), headEnd, 'the next answer follows the head at once: no body between');
});

test('µStreamer /snapshot headers: X-UStreamer-Online, -Width, -Height and X-Timestamp', async () => {
  const response = await fetch(`${url}/snapshot`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-ustreamer-online'), 'true');
  assert.equal(response.headers.get('x-ustreamer-width'), '320');
  assert.equal(response.headers.get('x-ustreamer-height'), '240');
  assert.match(response.headers.get('x-timestamp') ?? '', /^\d{10}\.\d{6}$/);
  await response.arrayBuffer();
});

test('µStreamer /state has its field names and types, from the live camera', async () => {
  // The earlier tests' viewers are gone.
  await eventually(async () => (await state()).result.stream.clients === 0, 'no viewers left');
  const apiFps = async (): Promise<number> => (await getJson<{ cameras: { id: string; fps: number }[] }>(`${url}/api/stats`)).cameras.find((camera) => camera.id === 'front')?.fps ?? NaN;
  const fpsBefore = await apiFps();
  const body = await state();
  assert.equal(body.ok, true);
  assert.deepEqual(Object.keys(body.result).sort(), ['encoder', 'instance_id', 'source', 'stream']);
  const { instance_id, encoder, source, stream } = body.result;
  assert.equal(instance_id, 'front');
  // The synthetic camera's JPEGs are rendered here by libvips at quality 85.
  assert.deepEqual(encoder, { type: 'CPU', quality: 85 });
  assert.deepEqual(Object.keys(source).sort(), ['captured_fps', 'desired_fps', 'online', 'resolution']);
  assert.deepEqual(source.resolution, { width: 320, height: 240 });
  assert.equal(source.online, true);
  assert.equal(source.desired_fps, 30);
  // The rate measured from the live camera's frames, as /api/stats has it (read just
  // before and after: it moves), not the desired one nor another unit; how high it is
  // depends on how busy the machine is, so no fixed range.
  const measured = [fpsBefore, await apiFps()];
  assert.ok(Number.isInteger(source.captured_fps) && source.captured_fps > 0, `captured_fps ${source.captured_fps}`);
  assert.ok(
    source.captured_fps >= Math.floor(Math.min(...measured) * 0.8) && source.captured_fps <= Math.ceil(Math.max(...measured) * 1.25),
    `captured_fps ${source.captured_fps}, /api/stats fps ${measured.join(' then ')}`,
  );
  assert.deepEqual(Object.keys(stream).sort(), ['clients', 'clients_stat', 'queued_fps']);
  assert.deepEqual(stream.clients_stat, {});
  assert.equal(stream.queued_fps, 0, 'nothing queued without viewers');

  const side = await state('/cam/side/state');
  assert.equal(side.result.instance_id, 'side');
  assert.deepEqual(side.result.source.resolution, { width: 160, height: 120 });
  assert.equal((await fetch(`${url}/cam/nope/state`)).status, 404);
});

test('µStreamer /stream?key=…&extra_headers=…&zero_data=…: accepted, and each viewer is in /state\'s clients_stat with its key', async () => {
  // PiKVM's shape of request; advance headers on, so parts end at the boundary (no Content-Length).
  const keyed = await openRaw('/stream?key=abc&extra_headers=1&zero_data=0&advance_headers=1&dual_final_frames=0', (text) => text.split('\xff\xd9\r\n--').length > 2);
  const plain = connectMjpeg(url, '/?action=stream');
  try {
    assert.match(keyed.text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(keyed.text, /\r\nContent-Type: multipart\/x-mixed-replace; boundary=/);
    assert.ok(keyed.text.includes(`--${BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8`), 'JPEG parts after advance headers');
    await plain.waitForParts(2);

    let last: State | undefined;
    await eventually(async () => {
      last = await state();
      return last.result.stream.clients === 2 && Object.values(last.result.stream.clients_stat).every((client) => client.fps > 0);
    }, () => `both viewers with a frame rate: ${JSON.stringify(last?.result.stream)}`);
    const stream = (last as State).result.stream;
    assert.ok(stream.queued_fps > 0);
    const clients = Object.entries(stream.clients_stat);
    for (const [id, client] of clients) {
      assert.match(id, /^[0-9a-f]+$/, 'ids in hex, as µStreamer\'s');
      assert.ok(Number.isInteger(client.fps));
      assert.deepEqual(Object.keys(client).sort(), ['advance_headers', 'dual_final_frames', 'extra_headers', 'fps', 'key', 'zero_data']);
    }
    const byKey = Object.fromEntries(clients.map(([, client]) => [client.key, client]));
    // Its own quirks as asked; extra_headers and zero_data are accepted and not applied.
    assert.deepEqual({ ...byKey.abc, fps: 0 }, { fps: 0, extra_headers: false, advance_headers: true, dual_final_frames: false, zero_data: false, key: 'abc' });
    // No key: "0", as µStreamer says; a player's User-Agent gets no quirks.
    assert.deepEqual({ ...byKey['0'], fps: 0 }, { fps: 0, extra_headers: false, advance_headers: false, dual_final_frames: false, zero_data: false, key: '0' });
  } finally {
    keyed.socket.destroy();
    plain.close();
  }
  await eventually(async () => Object.keys((await state()).result.stream.clients_stat).length === 0, 'gone from clients_stat once disconnected');
});

test('/state\'s encoder quality is read back from a JPEG\'s luminance table', async () => {
  const image = sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 40, g: 120, b: 200 } } });
  for (const quality of [30, 50, 75, 85, 95]) {
    assert.equal(estimateJpegQuality(await image.clone().jpeg({ quality }).toBuffer()), quality);
  }
  assert.equal(estimateJpegQuality(Buffer.from('not a jpeg')), undefined);
});

test('ffprobe reads /?action=stream as Home Assistant\'s ffmpeg camera does, and decodes its frames', { skip: requireTool('ffprobe', 'ffmpeg') }, async () => {
  const { stdout } = await run(
    'ffprobe',
    ['-v', 'error', '-select_streams', 'v:0', '-read_intervals', '%+#5', '-count_frames', '-show_entries', 'stream=codec_name,width,height,nb_read_frames', '-of', 'json', `${url}/?action=stream`],
    { timeout: HANG_MS },
  );
  const probed = JSON.parse(stdout) as { streams: { codec_name: string; width: number; height: number; nb_read_frames: string }[] };
  const [video] = probed.streams;
  assert.deepEqual({ ...video, nb_read_frames: undefined }, { codec_name: 'mjpeg', width: 320, height: 240, nb_read_frames: undefined });
  assert.ok(Number(video?.nb_read_frames) >= 5, `${video?.nb_read_frames} frames decoded`);
});
