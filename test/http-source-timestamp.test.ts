/**
 * A relay keeps the origin's capture time: an http source stamps each frame's wall
 * clock capture time (X-Timestamp) with the upstream part's X-Timestamp when it is
 * plausible, and keeps the local arrival time as the monotonic capture time.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { BufferPool, FrameFactory, type Frame, type SourceContext, type SourceError } from '../src/index.js';
import { HttpMjpegSource } from '../src/source/http-mjpeg.js';
import { parseTimestampMicros } from '../src/source/multipart-parser.js';
import { encodeJpeg } from './helpers/jpeg-samples.js';
import { connectMjpeg } from './helpers/mjpeg-client.js';
import { nowMicros } from './helpers/mjpeg-reader.js';
import { eventually, getJson, startServer } from './helpers/server.js';

const BOUNDARY = 'upstreamframe';
const HOUR_MICROS = 3600 * 1e6;
let jpeg: Buffer;

before(async () => {
  jpeg = await encodeJpeg({ width: 64, height: 48, seed: 7 });
});

/** `<sec>.<usec>` with six digits, as mjpg-streamer, µStreamer and camstream write it. */
function timestampText(micros: number): string {
  return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
}

/** One part; `timestamp` undefined sends no X-Timestamp field. */
function part(timestamp: string | undefined, withLength = true): Buffer {
  const header =
    `--${BOUNDARY}\r\nContent-Type: image/jpeg\r\n` +
    (withLength ? `Content-Length: ${jpeg.length}\r\n` : '') +
    (timestamp === undefined ? '' : `X-Timestamp: ${timestamp}\r\n`) +
    '\r\n';
  return Buffer.concat([Buffer.from(header, 'latin1'), jpeg, Buffer.from('\r\n')]);
}

/**
 * A fake MJPEG upstream: after the request head, sends the parts `next()` returns,
 * one every `intervalMs`, until closed.
 */
async function fakeUpstream(next: () => Buffer, intervalMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    let timer: NodeJS.Timeout | undefined;
    socket.on('close', () => {
      sockets.delete(socket);
      clearInterval(timer);
    });
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.write(`HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=${BOUNDARY}\r\n\r\n`);
      socket.write(next());
      timer = setInterval(() => socket.write(next()), intervalMs);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/stream`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function fakeContext() {
  const pool = new BufferPool();
  const frames: { frame: Frame; publishedMono: number; publishedWallMicros: number }[] = [];
  const failures: SourceError[] = [];
  const context: SourceContext = {
    frames: new FrameFactory(pool),
    publish: (frame) => void frames.push({ frame, publishedMono: performance.now(), publishedWallMicros: nowMicros() }),
    fail: (error) => void failures.push(error),
    log: pino({ level: 'silent' }),
  };
  return { pool, context, frames, failures };
}

test('parseTimestampMicros reads <sec>.<usec> exactly and refuses anything else', () => {
  assert.equal(parseTimestampMicros('1764034162.213042'), 1764034162213042);
  assert.equal(parseTimestampMicros('1764034162.000001'), 1764034162000001);
  assert.equal(parseTimestampMicros('12.5'), 12500000, 'a short fraction is decimals');
  assert.equal(parseTimestampMicros('12.123456789'), 12123456, 'past µs is dropped');
  assert.equal(parseTimestampMicros('1764034162'), 1764034162000000);
  for (const bad of ['', 'abc', '-5.000000', '1e9', '1764034162.', '.5', '17640 34162.0', '0x10.0', '1.2.3', '1764034162.21304a']) {
    assert.equal(parseTimestampMicros(bad), undefined, JSON.stringify(bad));
  }
});

test('a plausible X-Timestamp becomes the wall clock capture time; the monotonic time stays the arrival', async () => {
  const now = nowMicros();
  // Ten minutes old: plausible (within a day), and far enough from arrival that it cannot be confused with it.
  const oldMicros = now - 10 * 60 * 1e6 + 42;
  const script: (string | undefined)[] = [
    timestampText(oldMicros),
    'not-a-time', // malformed
    undefined, // absent
    timestampText(now + 2 * 24 * HOUR_MICROS), // two days ahead: implausible
    '12345.678901', // seconds since boot, as V4L2 timestamps are: implausible
    timestampText(oldMicros + 1),
  ];
  let sent = 0;
  // When each part was written, on this process's clocks: its arrival can be no earlier.
  const sentAt: { mono: number; wallMicros: number }[] = [];
  const upstream = await fakeUpstream(() => {
    sentAt.push({ mono: performance.now(), wallMicros: nowMicros() });
    return part(script[sent++ % script.length]);
  }, 30);
  const { pool, context, frames, failures } = fakeContext();
  const source = new HttpMjpegSource(upstream.url);
  try {
    await source.start(context);
    await eventually(() => frames.length >= script.length, () => `only ${frames.length} frames`, { stepMs: 10 });
  } finally {
    await source.stop();
    await upstream.close();
  }
  assert.deepEqual(failures, [], 'a bad X-Timestamp never fails the stream');
  const first = frames.slice(0, script.length);
  first.forEach(({ frame, publishedMono, publishedWallMicros }, i) => {
    const sentTimestamp = script[i];
    const { mono: sentMono, wallMicros: sentWallMicros } = sentAt[i] as (typeof sentAt)[number];
    // The monotonic capture time is always the local arrival: after the part was sent, no later than its publish, never ten minutes back.
    assert.ok(frame.capture.monoMs >= sentMono && frame.capture.monoMs <= publishedMono, `part ${i}: monoMs ${frame.capture.monoMs} is the arrival (sent at ${sentMono}, published at ${publishedMono})`);
    if (i === 0) assert.equal(frame.capture.wallMicros, oldMicros, 'part 0 keeps the upstream time, to the µs');
    else if (i === 5) assert.equal(frame.capture.wallMicros, oldMicros + 1);
    else {
      // Between its sending and its publish (1 ms of slack for a clock read at ms resolution).
      const { wallMicros } = frame.capture;
      assert.ok(wallMicros >= sentWallMicros - 1000 && wallMicros <= publishedWallMicros + 1000, `part ${i} (X-Timestamp ${String(sentTimestamp)}) is stamped on arrival: ${wallMicros} µs, sent at ${sentWallMicros}, published at ${publishedWallMicros}`);
    }
  });
  const stats = source.stats;
  assert.ok(stats.upstreamTimestamps >= 2 && stats.implausibleTimestamps >= 2, JSON.stringify(stats));
  for (const { frame } of frames) frame.release();
  assert.equal(pool.stats().inUse, 0);
});

test('a part without Content-Length (cut by the JPEG framer) is stamped on arrival', async () => {
  const oldMicros = nowMicros() - HOUR_MICROS;
  const sentWallMicros: number[] = [];
  const upstream = await fakeUpstream(() => {
    sentWallMicros.push(nowMicros());
    return part(timestampText(oldMicros), false);
  }, 30);
  const { context, frames, failures } = fakeContext();
  const source = new HttpMjpegSource(upstream.url);
  try {
    await source.start(context);
    await eventually(() => frames.length >= 2, '() => frames.length >= 2', { stepMs: 10 });
  } finally {
    await source.stop();
    await upstream.close();
  }
  assert.deepEqual(failures, []);
  frames.forEach(({ frame, publishedWallMicros }, i) => {
    // Between its sending and its publish (1 ms of slack for a clock read at ms resolution).
    const sent = sentWallMicros[i] as number;
    const { wallMicros } = frame.capture;
    assert.ok(wallMicros >= sent - 1000 && wallMicros <= publishedWallMicros + 1000, `arrival time, not the hour-old X-Timestamp: ${wallMicros} µs, sent at ${sent}, published at ${publishedWallMicros}`);
    frame.release();
  });
});

interface CameraFigures {
  cameras: { state: string; acquisition: { maxMs: number | null }; frameInterval: { maxMs: number | null } }[];
}

test('a relay camstream sends the upstream X-Timestamp byte for byte, and its local figures stay local', async () => {
  // An hour old: the relay's acquisition time and stall watchdog must not see that hour.
  const base = nowMicros() - HOUR_MICROS;
  let sent = 0;
  const upstreamTimes: string[] = [];
  const upstream = await fakeUpstream(() => {
    sent++;
    // Every fourth part malformed: the relay stamps it itself and carries on.
    const text = sent % 4 === 0 ? 'garbage' : timestampText(base + sent * 33_333);
    upstreamTimes.push(text);
    return part(text);
  }, 33);
  const relayStartedMono = performance.now();
  const relayStartedMicros = nowMicros();
  const relay = await startServer({ cameras: [{ id: 'relayed', source: upstream.url, alwaysOn: true }] });
  const viewer = connectMjpeg(relay.url);
  try {
    const parts = await viewer.waitForParts(12);
    let fromUpstream = 0;
    for (const received of parts) {
      const stamp = received.headers['x-timestamp'] as string;
      if (upstreamTimes.includes(stamp)) {
        fromUpstream++;
        continue;
      }
      // Not the upstream's: must be the relay's own arrival time for a malformed part, never 'garbage'.
      const micros = parseTimestampMicros(stamp);
      // (The relay, in this process, started after relayStartedMicros and stamped it before the viewer got it.)
      assert.ok(micros !== undefined && micros >= relayStartedMicros - 1000 && micros <= received.receivedMicros + 1000, `relay's own X-Timestamp ${stamp}`);
    }
    assert.ok(fromUpstream >= 6, `${fromUpstream} of ${parts.length} parts carried the upstream's X-Timestamp`);
    const stats = await getJson<CameraFigures>(`${relay.url}/api/stats`);
    const camera = stats.cameras[0];
    assert.equal(camera?.state, 'live');
    // Measured locally, each figure is within the relay's lifetime so far (seconds); the
    // hour-old X-Timestamps would make them an hour.
    const lifetimeMs = performance.now() - relayStartedMono;
    assert.ok((camera?.acquisition.maxMs ?? Infinity) <= lifetimeMs, `acquisition ${camera?.acquisition.maxMs} ms in a relay ${lifetimeMs.toFixed(0)} ms old: measured locally`);
    assert.ok((camera?.frameInterval.maxMs ?? Infinity) <= lifetimeMs, `frame interval ${camera?.frameInterval.maxMs} ms in a relay ${lifetimeMs.toFixed(0)} ms old: measured locally`);
  } finally {
    viewer.close();
    await relay.server.stop();
    await upstream.close();
  }
});
