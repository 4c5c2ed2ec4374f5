import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { BOUNDARY, type Camstream } from '../src/index.js';
import { browserQuirks, engineOf } from '../src/http/browser-quirks.js';
import { encodeJpeg } from './helpers/jpeg-samples.js';
import { PushSource } from './helpers/push-source.js';
import { sleep, startServer } from './helpers/server.js';

const UA = {
  chrome: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36',
  edge: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 Edg/140.0.0.0',
  headless: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36',
  firefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0',
  safari: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15',
  iosChrome: 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/140.0.0.0 Mobile/15E148 Safari/604.1',
  ffmpeg: 'Lavf/59.27.100',
  vlc: 'VLC/3.0.18 LibVLC/3.0.18',
};

test('the engine, and so the quirks, come from the User-Agent; the query overrides them', () => {
  assert.equal(engineOf(UA.chrome), 'blink');
  assert.equal(engineOf(UA.edge), 'blink');
  assert.equal(engineOf(UA.headless), 'blink');
  assert.equal(engineOf(UA.firefox), 'gecko');
  assert.equal(engineOf(UA.safari), 'webkit');
  assert.equal(engineOf(UA.iosChrome), 'webkit', 'every iOS browser is WebKit');
  assert.equal(engineOf(UA.ffmpeg), 'other');
  assert.equal(engineOf(undefined), 'other');
  assert.deepEqual(browserQuirks(UA.chrome), { advanceHeaders: true, dualFinalFrames: false });
  assert.deepEqual(browserQuirks(UA.safari), { advanceHeaders: false, dualFinalFrames: true });
  assert.deepEqual(browserQuirks(UA.firefox), { advanceHeaders: false, dualFinalFrames: false });
  assert.deepEqual(browserQuirks(UA.vlc), { advanceHeaders: false, dualFinalFrames: false });
  assert.deepEqual(browserQuirks(UA.chrome, { advanceHeaders: false, dualFinalFrames: true }), { advanceHeaders: false, dualFinalFrames: true });
});

/** Everything a raw client receives from `path` (as `userAgent`) within `ms`. */
async function receive(url: string, path: string, userAgent: string | undefined, ms: number): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n${userAgent === undefined ? '' : `User-Agent: ${userAgent}\r\n`}\r\n`);
  await sleep(ms);
  socket.destroy();
  return Buffer.concat(chunks).toString('latin1');
}

/** The parts of a stream body: [headers, body] per part, split at the boundary lines. */
function parts(response: string): { head: string; headers: string[]; body: string }[] {
  const bodyStart = response.indexOf('\r\n\r\n') + 4;
  const chunks = response.slice(bodyStart).split(`--${BOUNDARY}\r\n`).slice(1);
  return chunks.map((chunk) => {
    const end = chunk.indexOf('\r\n\r\n');
    return { head: response.slice(0, bodyStart), headers: chunk.slice(0, end).split('\r\n'), body: chunk.slice(end + 4) };
  });
}

describe('the stream a browser gets', () => {
  let server: Camstream;
  let url: string;
  const source = new PushSource();
  let frames: Buffer[] = [];
  before(async () => {
    frames = await Promise.all([encodeJpeg({ width: 64, height: 48, seed: 10 }), encodeJpeg({ width: 64, height: 48, seed: 200 })]);
    ({ server, url } = await startServer({ cameras: [{ id: 'push', source, alwaysOn: true, adaptive: false }] }));
    source.push(frames[0] as Buffer);
  });
  after(() => server.stop());

  test('Chromium: each JPEG is followed by the boundary and the next part\'s header, so it shows at once', async () => {
    const pushing = setInterval(() => source.push(frames[1] as Buffer), 50);
    const response = await receive(url, '/stream', UA.chrome, 400).finally(() => clearInterval(pushing));
    const received = parts(response);
    assert.ok(received.length >= 4, `${received.length} parts`);
    // The response head already opens the first part, header included.
    assert.ok(response.includes(`\r\n\r\n--${BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8`), 'first part header in the head');
    for (const part of received.slice(0, -1)) {
      assert.deepEqual(part.headers, ['Content-Type: image/jpeg'], 'an advance header knows no length or timestamp yet');
      assert.ok(part.body.startsWith('\xff\xd8') && part.body.endsWith('\xff\xd9\r\n'), 'a whole JPEG, then the line break before the boundary');
    }
    // The newest frame's own part is complete: the next header is already there.
    assert.ok(response.endsWith(`\xff\xd9\r\n--${BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n`), 'the stream rests on the next part\'s header');
  });

  test('Firefox, players and ?advance_headers=0: every part has Content-Length and X-Timestamp', async () => {
    for (const [path, agent] of [
      ['/stream', UA.firefox],
      ['/stream', UA.ffmpeg],
      ['/stream?advance_headers=0', UA.chrome],
    ] as const) {
      const received = parts(await receive(url, path, agent, 150));
      assert.ok(received.length >= 1, `${agent}: a part`);
      for (const part of received.slice(0, -1)) {
        const length = part.headers.find((line) => line.startsWith('Content-Length: '));
        assert.ok(length !== undefined, `${agent} ${path}: Content-Length in ${part.headers.join(' | ')}`);
        assert.equal(Number(length.slice(16)), part.body.length - 2, 'the length is the JPEG\'s');
        assert.ok(part.headers.some((line) => /^X-Timestamp: \d+\.\d{6}$/.test(line)));
      }
    }
  });

  test('?advance_headers=1 for any client; a bad value is a 400 naming the parameter', async () => {
    const forced = await receive(url, '/stream?advance_headers=1', UA.ffmpeg, 150);
    assert.ok(forced.includes(`--${BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8`));
    const bad = await fetch(`${url}/stream?advance_headers=maybe`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { message: string }).message, /advance_headers=maybe.*1 or 0/);
  });

  test('WebKit (dual final frames): when the stream pauses, the last frame is sent once more; others get it once', async () => {
    source.push(frames[0] as Buffer);
    // A push source has no nominal rate, and its measured one is low after the pushes
    // stopped: the pause counts after at most 2 s.
    const window = 2600;
    const pending = [receive(url, '/stream', UA.safari, window), receive(url, '/stream', UA.firefox, window), receive(url, '/stream?dual_final_frames=1', UA.ffmpeg, window)];
    await sleep(100);
    source.push(frames[1] as Buffer); // then nothing: a pause
    const [safari, firefox, forced] = await Promise.all(pending);
    const sequences = (response: string): string[] => parts(response).flatMap((part) => part.headers.filter((line) => line.startsWith('X-Frame-Sequence')));
    for (const [name, response] of [
      ['safari', safari],
      ['dual_final_frames=1', forced],
    ] as const) {
      const seen = sequences(response as string);
      assert.equal(seen.length, 3, `${name}: the latest, the new one, the new one again: ${seen.join(', ')}`);
      assert.equal(seen[1], seen[2], `${name}: the final frame twice`);
    }
    const once = sequences(firefox as string);
    assert.equal(once.length, 2, `firefox: each frame once: ${once.join(', ')}`);
    assert.notEqual(once[0], once[1]);
  });
});

describe('dual final frames with drop-same-frames', () => {
  let server: Camstream;
  let url: string;
  const source = new PushSource();
  before(async () => {
    ({ server, url } = await startServer({ cameras: [{ id: 'same', source, alwaysOn: true, adaptive: false, dropSameFrames: true }] }));
  });
  after(() => server.stop());

  test('the first unchanged frame (the picture stopped) sends the last one again at once', async () => {
    const still = await encodeJpeg({ width: 64, height: 48, seed: 90 });
    source.push(await encodeJpeg({ width: 64, height: 48, seed: 30 }));
    const pending = receive(url, '/stream', UA.safari, 400);
    await sleep(100);
    source.push(still);
    await sleep(30);
    source.push(still); // unchanged: skipped, and the pause begins now (well before 2.5 intervals of a timer)
    const sequences = parts(await pending).flatMap((part) => part.headers.filter((line) => line.startsWith('X-Frame-Sequence')));
    assert.equal(sequences.length, 3, sequences.join(', '));
    assert.equal(sequences[1], sequences[2]);
    const stats = (await (await fetch(`${url}/api/stats`)).json()) as { cameras: { framesUnchanged: number }[] };
    assert.equal(stats.cameras[0]?.framesUnchanged, 1);
  });
});
