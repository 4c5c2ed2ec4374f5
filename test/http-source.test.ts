import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { pino } from 'pino';
import sharp from 'sharp';
import { BufferPool, FrameFactory, type Camstream, type Frame, type SourceContext, type SourceError } from '../src/index.js';
import { JpegFramer } from '../src/frame/jpeg-framer.js';
import { HttpMjpegSource } from '../src/source/http-mjpeg.js';
import { HttpResponseParser } from '../src/source/http-response-parser.js';
import { MultipartParser, newMultipartCounters, parseBoundary } from '../src/source/multipart-parser.js';
import { encodeJpeg } from './helpers/jpeg-samples.js';
import { connectMjpeg, isWholeJpeg } from './helpers/mjpeg-client.js';
import { eventually, startServer } from './helpers/server.js';
import { requireTool } from './helpers/tools.js';

let jpegs: Buffer[] = [];
let upstreamCamstream: Camstream;
let upstreamUrl: string;

before(async () => {
  jpegs = await Promise.all([1, 2, 3].map((seed) => encodeJpeg({ width: 64, height: 48, seed })));
  // Always on: the idle-timeout test below must not wait for an on-demand start.
  ({ server: upstreamCamstream, url: upstreamUrl } = await startServer({ cameras: [{ id: 'upstream', source: 'synthetic:320x240@15', alwaysOn: true }] }));
  await (await fetch(`${upstreamUrl}/snapshot`)).arrayBuffer();
});
after(() => upstreamCamstream.stop());

/** A SourceContext on a real pool that keeps what it is given. */
function fakeContext() {
  const pool = new BufferPool();
  const frames: Frame[] = [];
  const failures: SourceError[] = [];
  const context: SourceContext = {
    frames: new FrameFactory(pool),
    publish: (frame) => void frames.push(frame),
    fail: (error) => void failures.push(error),
    log: pino({ level: 'silent' }),
  };
  const releaseAll = (): void => {
    for (const frame of frames.splice(0)) frame.release();
  };
  return { pool, context, frames, failures, releaseAll };
}

interface Upstream {
  url: string;
  hostPort: string;
  /** Request heads received, without the final empty line. */
  requests: string[];
  /** Connections not yet closed on both sides. */
  connections(): number;
  close(): Promise<void>;
}

/** A hand-written upstream: `respond` gets each connection once its request head is in. */
async function upstream(respond: (socket: net.Socket, request: string) => void, tlsOptions?: tls.TlsOptions): Promise<Upstream> {
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const onConnection = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      requests.push(head.slice(0, end));
      respond(socket, head.slice(0, end));
    };
    socket.on('data', onData);
  };
  const server = tlsOptions === undefined ? net.createServer(onConnection) : tls.createServer(tlsOptions, onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `${tlsOptions === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    hostPort: `127.0.0.1:${port}`,
    requests,
    connections: () => sockets.size,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const B = 'frame';
const streamHead = (extra = '', contentType = `multipart/x-mixed-replace; boundary=${B}`): string =>
  `HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\n${extra}\r\n`;
function part(bytes: Buffer, withLength = true): Buffer {
  const header = `--${B}\r\nContent-Type: image/jpeg\r\n${withLength ? `Content-Length: ${bytes.length}\r\n` : ''}\r\n`;
  return Buffer.concat([Buffer.from(header, 'latin1'), bytes, Buffer.from('\r\n')]);
}
/** `body` in chunked transfer coding, chunk sizes cycling through `sizes`, one chunk with an extension. */
function chunked(body: Buffer, sizes: number[]): Buffer {
  const pieces: Buffer[] = [];
  for (let pos = 0, i = 0; pos < body.length; i++) {
    const size = Math.min(sizes[i % sizes.length] as number, body.length - pos);
    pieces.push(Buffer.from(`${size.toString(16)}${i === 1 ? ';ext=1' : ''}\r\n`), body.subarray(pos, pos + size), Buffer.from('\r\n'));
    pos += size;
  }
  pieces.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(pieces);
}
async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as SourceError).reason;
  }
  throw new Error('expected a rejection');
}

/**
 * Once a source failed on a connection the upstream ended: waits until that
 * connection is closed on both sides (and a turn of the event loop more), after which
 * no event of it can report another failure.
 */
async function connectionGone(up: Upstream): Promise<void> {
  await eventually(() => up.connections() === 0, () => `the upstream's connection closed; ${up.connections()} open`, { stepMs: 10 });
  await new Promise((resolve) => setImmediate(resolve));
}

test('URL password is masked for display; boundaries are read quoted, unquoted, with a leading --', () => {
  assert.equal(new HttpMjpegSource('http://admin:p%40ss@cam.local:8081/video?x=1').url, 'http://admin:***@cam.local:8081/video?x=1');
  assert.equal(new HttpMjpegSource('https://viewer@cam.local/a:b@c').url, 'https://viewer@cam.local/a:b@c');
  assert.equal(parseBoundary('multipart/x-mixed-replace;boundary=abc'), 'abc');
  assert.equal(parseBoundary('multipart/x-mixed-replace; boundary="a b"; x=1'), 'a b');
  assert.equal(parseBoundary('multipart/x-mixed-replace; boundary=--myboundary'), 'myboundary');
  assert.equal(parseBoundary('multipart/x-mixed-replace'), undefined);
});

test('parsers: every chunking, identity or chunked, through one reused read buffer, gives the same frames and counters', () => {
  const [a, b, c] = jpegs as [Buffer, Buffer, Buffer];
  const body = Buffer.concat([
    Buffer.from('\r\n'), // a line break before the first boundary: not garbage
    part(a),
    Buffer.from('JUNK!\r\n'), // 7 bytes between parts
    part(b, false), // no Content-Length: the framer finds the JPEG
    part(Buffer.from('not a jpeg')), // dropped: not FF D8
    part(Buffer.from('<html>'), false), // dropped: not FF D8
    part(a.subarray(0, 100), false), // no whole JPEG before the next boundary
    part(c),
    Buffer.from(`--${B}--\r\n`),
  ]);
  const variants = [
    Buffer.concat([Buffer.from(streamHead()), body]),
    Buffer.concat([Buffer.from(streamHead('Transfer-Encoding: chunked\r\n')), chunked(body, [1, 7, 300, 5000])]),
  ];
  // Stale bytes past each read are delimiters, as a reused buffer may hold.
  const readBuffer = Buffer.alloc(64 * 1024);
  for (let i = 0; i < readBuffer.length; i += B.length + 2) readBuffer.write(`--${B}`, i, 'latin1');
  for (const stream of variants) {
    for (const size of [1, 2, 3, 5, 8, 13, 100, 1000, 65536]) {
      const pool = new BufferPool();
      const factory = new FrameFactory(pool);
      const frames: Frame[] = [];
      const events: string[] = [];
      const counters = newMultipartCounters();
      const framer = new JpegFramer(factory, (frame) => void frames.push(frame));
      const multipart = new MultipartParser(B, factory, framer, {
        frame: (frame) => void frames.push(frame),
        close: () => void events.push('close'),
        error: (reason) => void events.push(reason),
        discard: (reason) => void events.push(`discard ${reason}`),
      }, counters, 1 << 20);
      const response = new HttpResponseParser({
        onHead: (head) => (events.push(`head ${head.statusCode}`), true),
        onBody: (data, start, end) => multipart.push(data, start, end),
        onEnd: () => void events.push('end'),
        onError: (reason) => void events.push(reason),
      });
      for (let pos = 0; pos < stream.length; pos += size) {
        const count = stream.copy(readBuffer, 0, pos, pos + size);
        response.push(readBuffer, 0, count);
      }
      const label = `chunk size ${size}, ${stream === variants[0] ? 'identity' : 'chunked'}`;
      const discards = events.filter((event) => event.startsWith('discard'));
      assert.deepEqual(discards, ['discard not_jpeg', 'discard not_jpeg'], label);
      assert.deepEqual(events.filter((event) => !event.startsWith('discard')), stream === variants[0] ? ['head 200', 'close'] : ['head 200', 'close', 'end'], label);
      assert.deepEqual(frames.map((frame) => frame.jpeg.equals(a) ? 'a' : frame.jpeg.equals(b) ? 'b' : frame.jpeg.equals(c) ? 'c' : '?'), ['a', 'b', 'c'], label);
      assert.deepEqual(counters, { parts: 6, bytesSkipped: 7, notJpeg: 2, oversize: 0, incomplete: 1 }, label);
      assert.equal(framer.stats.frames, 1, label);
      for (const frame of frames) frame.release();
      assert.equal(pool.stats().inUse, 0, label);
    }
  }
});

test('a camstream upstream: every one of its frames, whole; nothing after stop; the pool is empty after stop and release', async () => {
  const { pool, context, frames, failures, releaseAll } = fakeContext();
  const upstreamCamera = upstreamCamstream.cameras[0] as (typeof upstreamCamstream.cameras)[number];
  // Frames the upstream captured, less any it dropped for a viewer that had not taken the previous one yet.
  const captured = (): number => {
    const stats = upstreamCamera.stats();
    return stats.framesCaptured - stats.drops.total;
  };
  // A 1 s idle timeout against 67 ms between frames, over a run of several such
  // timeouts: every read must re-arm it (one armed once would fail the source at 1 s).
  const idleTimeoutMs = 1000;
  const source = new HttpMjpegSource(`${upstreamUrl}/stream`, { idleTimeoutMs });
  await source.start(context);
  let window: { frames: number; captured: number } | undefined;
  try {
    // The first frame is the upstream's latest at connect time; the rest come as it captures them.
    await eventually(() => frames.length >= 2, () => `only ${frames.length} frames`, { stepMs: 10 });
    window = { frames: frames.length, captured: captured() };
    const arrivedOver = (): number => (frames.at(-1)?.capture.monoMs ?? 0) - (frames[1]?.capture.monoMs ?? 0);
    await eventually(() => arrivedOver() > 2.5 * idleTimeoutMs && frames.length >= (window?.frames ?? 0) + 16, () => `frames over ${arrivedOver().toFixed(0)} ms, ${frames.length} frames; failures ${JSON.stringify(failures)}`, { stepMs: 20 });
    window = { frames: frames.length - window.frames, captured: captured() - window.captured };
  } finally {
    await source.stop();
  }
  const count = frames.length;
  // "Nothing after stop()": the upstream captures three more frames, which a source
  // still reading would publish.
  const capturedAtStop = captured();
  await eventually(() => captured() >= capturedAtStop + 3, 'the upstream captured 3 more frames after stop()', { stepMs: 20 });
  assert.equal(frames.length, count, 'nothing is published after stop()');
  assert.deepEqual(failures, []);
  for (const frame of frames) assert.ok(isWholeJpeg(frame.jpeg), 'FF D8 … FF D9');
  // At its rate: one frame published per frame the upstream captured (and sent) over
  // the same window, a frame or two still on the way at either end, however fast the
  // machine lets it capture them.
  assert.ok(Math.abs(window.frames - window.captured) <= 3, `${window.frames} frames published while the upstream captured ${window.captured}`);
  const first = frames[1] as Frame;
  const { width, height } = await sharp(first.jpeg).metadata();
  assert.deepEqual({ width, height }, { width: 320, height: 240 });
  assert.equal(source.stats.frames, count);
  assert.equal(source.stats.bytesSkipped, 0);
  assert.ok(pool.stats().inUse >= count);
  releaseAll();
  assert.equal(pool.stats().inUse, 0);
});

test('a camstream serving another camstream: the relay viewer gets valid parts', async () => {
  const relay = await startServer({ source: new HttpMjpegSource(`${upstreamUrl}/stream`) });
  const viewer = connectMjpeg(relay.url);
  try {
    const parts = await viewer.waitForParts(5);
    for (const received of parts) {
      assert.ok(isWholeJpeg(received.jpeg));
      assert.equal(Number(received.headers['content-length']), received.jpeg.length);
    }
    const { width } = await sharp((parts[0] as (typeof parts)[number]).jpeg).metadata();
    assert.equal(width, 320);
  } finally {
    viewer.close();
    await relay.server.stop();
  }
  assert.equal(relay.server.pool.stats().inUse, 0);
});

test('parts without Content-Length go through the framer; a closing boundary fails the source once', async () => {
  const up = await upstream((socket) => {
    socket.write(streamHead());
    for (const jpeg of jpegs) socket.write(part(jpeg, false));
    setTimeout(() => socket.end(`--${B}--\r\n`), 50);
  });
  const { pool, context, frames, failures, releaseAll } = fakeContext();
  const source = new HttpMjpegSource(`${up.url}/stream`);
  try {
    await source.start(context);
    await eventually(() => failures.length > 0, '() => failures.length > 0', { stepMs: 10 });
    await connectionGone(up);
    assert.deepEqual(failures.map((error) => error.reason), [`upstream ${up.hostPort} ended the stream (closing boundary)`]);
    assert.deepEqual(frames.map((frame) => jpegs.findIndex((jpeg) => jpeg.equals(frame.jpeg))), [0, 1, 2]);
    assert.equal(source.stats.framer?.frames, 3);
    assert.equal(source.stats.parts, 3);
  } finally {
    await source.stop();
    await up.close();
  }
  releaseAll();
  assert.equal(pool.stats().inUse, 0);
});

test('chunked transfer coding, garbage between parts and a part that is not JPEG: counted, and the stream stays up', async () => {
  let upstreamSocket: net.Socket | undefined;
  const up = await upstream((socket) => {
    upstreamSocket = socket;
    socket.write(streamHead('Transfer-Encoding: chunked\r\n'));
    const body = Buffer.concat([part(jpegs[0] as Buffer), Buffer.from('garbage\r\n'), part(Buffer.from('<html></html>')), part(jpegs[1] as Buffer)]);
    socket.write(chunked(body, [10, 1000, 3]).subarray(0, -5)); // without the last chunk: the stream goes on
  });
  const { context, frames, failures, releaseAll } = fakeContext();
  const source = new HttpMjpegSource(`${up.url}/stream`);
  try {
    await source.start(context);
    await eventually(() => frames.length === 2, '() => frames.length === 2', { stepMs: 10 });
    // The stream stayed up: a part sent after all that still arrives.
    upstreamSocket?.write(chunked(part(jpegs[2] as Buffer), [700]).subarray(0, -5));
    await eventually(() => frames.length === 3, () => `a third frame; failures ${JSON.stringify(failures)}`, { stepMs: 10 });
    assert.deepEqual(failures, []);
    assert.deepEqual(frames.map((frame) => jpegs.findIndex((jpeg) => jpeg.equals(frame.jpeg))), [0, 1, 2]);
    const { parts, bytesSkipped, notJpeg } = source.stats;
    assert.deepEqual({ parts, bytesSkipped, notJpeg }, { parts: 4, bytesSkipped: 9, notJpeg: 1 });
  } finally {
    await source.stop();
    await up.close();
  }
  releaseAll();
});

test('basic auth from the URL: the right credentials stream, wrong ones get an actionable 401', async () => {
  const expected = `Basic ${Buffer.from('admin:p@ss wörd').toString('base64')}`;
  const up = await upstream((socket, request) => {
    if (!request.includes(`\r\nAuthorization: ${expected}\r\n`)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="cam"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    socket.write(streamHead());
    socket.write(part(jpegs[0] as Buffer));
  });
  const { context, frames, releaseAll } = fakeContext();
  try {
    const good = new HttpMjpegSource(`http://admin:p%40ss%20w%C3%B6rd@${up.hostPort}/video.mjpg?res=low`);
    await good.start(context);
    await eventually(() => frames.length === 1, '() => frames.length === 1', { stepMs: 10 });
    await good.stop();
    const request = up.requests[0] as string;
    assert.match(request, /^GET \/video\.mjpg\?res=low HTTP\/1\.1\r\n/);
    assert.match(request, new RegExp(`\r\nHost: ${up.hostPort}\r\n`));
    assert.match(request, /\r\nUser-Agent: camstream\r\n/);
    assert.match(request, /\r\nAccept: multipart\/x-mixed-replace, image\/jpeg\r\n/);
    const bad = new HttpMjpegSource(`http://admin:wrong@${up.hostPort}/video.mjpg`);
    assert.equal(await rejection(bad.start(context)), '401 Unauthorized: check the user and password in the source URL');
    const none = new HttpMjpegSource(`${up.url}/video.mjpg`);
    assert.match(await rejection(none.start(context)), /^401 Unauthorized: 127\.0\.0\.1:\d+ needs a user and password; put them in the source URL/);
  } finally {
    await up.close();
  }
  releaseAll();
});

test('answers that are not an MJPEG stream reject start() with a reason to act on', async () => {
  const answers: Record<string, string> = {
    '/html': 'HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html></html>',
    '/nope': 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
    '/broken': 'HTTP/1.0 500 Internal Server Error\r\n\r\n',
    '/noboundary': 'HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace\r\n\r\n',
    '/ssh': 'SSH-2.0-OpenSSH_9.6\r\n\r\n',
  };
  const up = await upstream((socket, request) => {
    const path = request.split(' ')[1] as string;
    if (path === '/silent') return;
    socket.end(answers[path] ?? '');
  });
  const reasonFor = (path: string, connectTimeoutMs?: number): Promise<string> =>
    rejection(new HttpMjpegSource(`${up.url}${path}`, { connectTimeoutMs }).start(fakeContext().context));
  try {
    assert.equal(await reasonFor('/html'), 'upstream answered text/html, not an MJPEG stream (multipart/x-mixed-replace)');
    assert.equal(await reasonFor('/nope'), `404 Not Found: ${up.hostPort} has no stream at /nope; check the path in the source URL`);
    assert.equal(await reasonFor('/broken'), 'upstream answered 500 Internal Server Error');
    assert.equal(await reasonFor('/noboundary'), `upstream's Content-Type "multipart/x-mixed-replace" has no boundary parameter, so its parts cannot be found`);
    assert.match(await reasonFor('/ssh'), /^upstream did not answer with HTTP \(its first line: "SSH-2\.0-OpenSSH_9\.6"\)/);
    assert.equal(await reasonFor('/silent', 300), `${up.hostPort} accepted the connection but sent no answer within 300 ms`);
  } finally {
    await up.close();
  }
});

test('a refused port and an unknown host reject start() with a reason to act on', async () => {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  const { context } = fakeContext();
  assert.equal(
    await rejection(new HttpMjpegSource(`http://127.0.0.1:${port}/stream`).start(context)),
    `connection refused by 127.0.0.1:${port}: is the camera on and the URL right?`,
  );
  // A generous connect timeout: a slow resolver must get to say "not found" before it.
  const dns = await rejection(new HttpMjpegSource('http://camstream-test.invalid/stream', { connectTimeoutMs: 20_000 }).start(context));
  assert.match(dns, /^cannot resolve host 'camstream-test\.invalid'/);
});

test('a connection closed mid-part fails once with the reason; its buffer goes back to the pool', async () => {
  const jpeg = jpegs[1] as Buffer;
  const up = await upstream((socket) => {
    socket.write(streamHead());
    socket.write(part(jpegs[0] as Buffer));
    const cut = part(jpeg);
    setTimeout(() => socket.end(cut.subarray(0, cut.length - 200)), 30);
  });
  const { pool, context, frames, failures, releaseAll } = fakeContext();
  const source = new HttpMjpegSource(`${up.url}/stream`);
  try {
    await source.start(context);
    await eventually(() => failures.length > 0, '() => failures.length > 0', { stepMs: 10 });
    await connectionGone(up);
    assert.deepEqual(failures.map((error) => error.reason), [`upstream ${up.hostPort} closed the connection in the middle of a frame`]);
    assert.equal(frames.length, 1);
    releaseAll();
    assert.equal(pool.stats().inUse, 0, 'the part in progress was released');
  } finally {
    await source.stop();
    await up.close();
  }
});

test('bytes with no boundary at all fail the source; a silent upstream fails after idleTimeoutMs', async () => {
  const up = await upstream((socket, request) => {
    socket.write(streamHead());
    if (request.startsWith('GET /noise ')) socket.write(Buffer.alloc(200 * 1024, 0x41));
    else socket.write(part(jpegs[0] as Buffer));
  });
  try {
    const noisy = fakeContext();
    const source = new HttpMjpegSource(`${up.url}/noise`, { maxFrameBytes: 64 * 1024 });
    await source.start(noisy.context);
    await eventually(() => noisy.failures.length > 0, '() => noisy.failures.length > 0', { stepMs: 10 });
    assert.match(noisy.failures[0]?.reason as string, /^upstream sent over 131072 bytes without a multipart boundary \(--frame\): the stream cannot be parsed$/);
    const quiet = fakeContext();
    const idle = new HttpMjpegSource(`${up.url}/quiet`, { idleTimeoutMs: 300 });
    await idle.start(quiet.context);
    await eventually(() => quiet.failures.length > 0, '() => quiet.failures.length > 0', { stepMs: 10 });
    assert.deepEqual(quiet.failures.map((error) => error.reason), [`no data from upstream ${up.hostPort} for 0.3 s`]);
    assert.equal(quiet.frames.length, 1);
    quiet.releaseAll();
    assert.equal(quiet.pool.stats().inUse, 0);
  } finally {
    await up.close();
  }
});

test('stop() before the upstream answers rejects start() and resolves', async () => {
  const up = await upstream(() => {});
  try {
    const source = new HttpMjpegSource(`${up.url}/stream`);
    const starting = rejection(source.start(fakeContext().context));
    await eventually(() => up.requests.length === 1, () => `one request upstream; got ${up.requests.length}`, { stepMs: 10 });
    await source.stop();
    assert.equal(await starting, 'stopped before the upstream answered');
  } finally {
    await up.close();
  }
});

test('https: the certificate must be valid (or its CA given) unless insecure', { skip: requireTool('openssl', 'openssl') }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'camstream-tls-'));
  try {
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ]);
    const [key, cert] = await Promise.all([readFile(join(dir, 'key.pem')), readFile(join(dir, 'cert.pem'))]);
    const up = await upstream((socket) => {
      socket.write(streamHead());
      socket.write(part(jpegs[2] as Buffer));
    }, { key, cert });
    const { context, frames, releaseAll } = fakeContext();
    try {
      const reason = await rejection(new HttpMjpegSource(`${up.url}/stream`).start(context));
      assert.match(reason, new RegExp(`^TLS certificate of ${up.hostPort} not accepted \\(DEPTH_ZERO_SELF_SIGNED_CERT: .*set 'insecure' to skip verification$`));
      for (const options of [{ ca: cert }, { insecure: true }]) {
        const source = new HttpMjpegSource(`${up.url}/stream`, options);
        await source.start(context);
        await eventually(() => frames.length === 1, '() => frames.length === 1', { stepMs: 10 });
        assert.ok(frames[0]?.jpeg.equals(jpegs[2] as Buffer));
        await source.stop();
        releaseAll();
      }
    } finally {
      await up.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
