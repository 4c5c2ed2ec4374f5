import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { BOUNDARY, type Camstream } from '../src/index.js';
import { browserQuirks, engineOf } from '../src/http/browser-quirks.js';
import { encodeJpeg } from './helpers/jpeg-samples.js';
import { PushSource } from './helpers/push-source.js';
import { eventually, startServer } from './helpers/server.js';

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

/** A raw client of `path` (as `userAgent`): what it received so far, as latin1 text. */
interface RawClient {
  text(): string;
  /** Waits until `done(text)` holds (only a hang reaches the ceiling); returns the text then. */
  until(done: (text: string) => boolean, what: string): Promise<string>;
  close(): void;
}

function open(url: string, path: string, userAgent: string | undefined): RawClient {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n${userAgent === undefined ? '' : `User-Agent: ${userAgent}\r\n`}\r\n`);
  const text = (): string => Buffer.concat(chunks).toString('latin1');
  return {
    text,
    async until(done, what) {
      await eventually(() => done(text()), () => `${userAgent ?? 'no User-Agent'} ${path}: ${what}; received ${JSON.stringify(text().slice(-300))}`, { stepMs: 5 });
      return text();
    },
    close: () => socket.destroy(),
  };
}

/** How many whole JPEGs (FF D8 … FF D9; entropy-coded data never holds FF D9) `text` holds. */
function jpegCount(text: string): number {
  return text.split('\xff\xd9').length - 1;
}

/** The X-Frame-Sequence values of a response's parts, in order. */
function sequences(response: string): string[] {
  return parts(response).flatMap((part) => part.headers.filter((line) => line.startsWith('X-Frame-Sequence')));
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
    const client = open(url, '/stream', UA.chrome);
    let response: string;
    try {
      // The latest frame at once, then four more, each pushed once the previous one arrived.
      await client.until((text) => jpegCount(text) >= 1, 'the latest frame');
      for (let i = 2; i <= 5; i++) {
        source.push(frames[1] as Buffer);
        await client.until((text) => jpegCount(text) >= i, `frame ${i}`);
      }
      // Then the stream rests: the newest frame's own part is complete once the next header is there.
      response = await client.until((text) => text.endsWith(`--${BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n`), 'the next part\'s header after the newest frame');
    } finally {
      client.close();
    }
    const received = parts(response);
    assert.equal(received.length, 6, `${received.length} parts: five frames and the next one's header`);
    // The response head already opens the first part, header included.
    assert.ok(response.includes(`\r\n\r\n--${BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8`), 'first part header in the head');
    for (const part of received.slice(0, -1)) {
      assert.deepEqual(part.headers, ['Content-Type: image/jpeg'], 'an advance header knows no length or timestamp yet');
      assert.ok(part.body.startsWith('\xff\xd8') && part.body.endsWith('\xff\xd9\r\n'), 'a whole JPEG, then the line break before the boundary');
    }
    assert.ok(response.endsWith(`\xff\xd9\r\n--${BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n`), 'the stream rests on the next part\'s header');
  });

  test('Firefox, players and ?advance_headers=0: every part has Content-Length and X-Timestamp', async () => {
    for (const [path, agent] of [
      ['/stream', UA.firefox],
      ['/stream', UA.ffmpeg],
      ['/stream?advance_headers=0', UA.chrome],
    ] as const) {
      const client = open(url, path, agent);
      let response: string;
      try {
        // The latest frame, and the boundary that closes its part.
        response = await client.until((text) => jpegCount(text) >= 1 && parts(text).length >= 2, 'a whole part');
      } finally {
        client.close();
      }
      const received = parts(response);
      assert.ok(received.length >= 2, `${agent}: a part`);
      for (const part of received.slice(0, -1)) {
        const length = part.headers.find((line) => line.startsWith('Content-Length: '));
        assert.ok(length !== undefined, `${agent} ${path}: Content-Length in ${part.headers.join(' | ')}`);
        assert.equal(Number(length.slice(16)), part.body.length - 2, 'the length is the JPEG\'s');
        assert.ok(part.headers.some((line) => /^X-Timestamp: \d+\.\d{6}$/.test(line)));
      }
    }
  });

  test('?advance_headers=1 for any client; a bad value is a 400 naming the parameter', async () => {
    const client = open(url, '/stream?advance_headers=1', UA.ffmpeg);
    let forced: string;
    try {
      forced = await client.until((text) => jpegCount(text) >= 1, 'the latest frame');
    } finally {
      client.close();
    }
    assert.ok(forced.includes(`--${BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8`), 'the part\'s header came ahead of its JPEG, without a length');
    const bad = await fetch(`${url}/stream?advance_headers=maybe`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { message: string }).message, /advance_headers=maybe.*1 or 0/);
  });

  test('WebKit (dual final frames): when the stream pauses, the last frame is sent once more; others get it once', async () => {
    source.push(frames[0] as Buffer);
    const safari = open(url, '/stream', UA.safari);
    const firefox = open(url, '/stream', UA.firefox);
    const forced = open(url, '/stream?dual_final_frames=1', UA.ffmpeg);
    const clients = [safari, firefox, forced];
    try {
      await Promise.all(clients.map((client) => client.until((text) => sequences(text).length >= 1, 'the latest frame')));
      // A push source has no nominal rate, and its measured one is low after the pushes
      // stopped: the pause counts after at most 2 s.
      source.push(frames[1] as Buffer); // then nothing: a pause
      for (const [name, client] of [
        ['safari', safari],
        ['dual_final_frames=1', forced],
      ] as const) {
        const seen = sequences(await client.until((text) => sequences(text).length >= 3, 'the new frame, then it again at the pause'));
        assert.equal(seen.length, 3, `${name}: the latest, the new one, the new one again: ${seen.join(', ')}`);
        assert.notEqual(seen[0], seen[1], `${name}: ${seen.join(', ')}`);
        assert.equal(seen[1], seen[2], `${name}: the final frame twice`);
      }
      // The pause has come (the others got the repeat). A newer frame is the witness for
      // Firefox: what it got before that, on the same connection, is all it got for the pause.
      source.push(frames[0] as Buffer);
      const once = sequences(await firefox.until((text) => sequences(text).length >= 3, 'the newer frame after the pause'));
      assert.equal(new Set(once).size, once.length, `firefox: each frame once: ${once.join(', ')}`);
      assert.equal(once.length, 3, `firefox: the latest, the new one, the newer one: ${once.join(', ')}`);
    } finally {
      for (const client of clients) client.close();
    }
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
    const camera = server.cameras[0] as (typeof server.cameras)[number];
    const viewer = (): { framesSent: number; bytesInFlight: number } | undefined => camera.stats().viewerList[0];
    const client = open(url, '/stream', UA.safari);
    try {
      await client.until((text) => sequences(text).length >= 1, 'the latest frame');
      source.push(still);
      await client.until((text) => sequences(text).length >= 2, 'the still frame');
      // Its write is done (the viewer may repeat a frame only then) …
      await eventually(() => viewer()?.framesSent === 2 && viewer()?.bytesInFlight === 0, () => `the still frame's write done: ${JSON.stringify(viewer())}`, { stepMs: 5 });
      // … so the unchanged frame, skipped, starts the repeat in its own publish: the
      // pause begins now, not a timer's 2.5 intervals later.
      source.push(still);
      assert.ok((viewer()?.bytesInFlight ?? 0) > 0, `the repeat is being written at once: ${JSON.stringify(viewer())}`);
      const seen = sequences(await client.until((text) => sequences(text).length >= 3, 'the still frame again'));
      assert.equal(seen.length, 3, seen.join(', '));
      assert.equal(seen[1], seen[2]);
    } finally {
      client.close();
    }
    const stats = (await (await fetch(`${url}/api/stats`)).json()) as { cameras: { framesUnchanged: number }[] };
    assert.equal(stats.cameras[0]?.framesUnchanged, 1);
  });
});
