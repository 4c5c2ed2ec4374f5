import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { rtspServerMissing, startRtspServer, withCredentials, type RtspServer } from '../helpers/rtsp-server.js';
import { requireTool } from '../helpers/tools.js';

// The test RTSP server itself (test/helpers/rtsp-server.ts): ffprobe and ffmpeg, as
// camstream will run them for an rtsp:// source, read it over TCP on loopback.

const skip = requireTool('ffprobe', 'ffmpeg') || rtspServerMissing();
let server: RtspServer | undefined;

before(async () => {
  if (!skip) server = await startRtspServer();
});
after(async () => {
  await server?.stop();
});

function running(): RtspServer {
  assert.ok(server, 'server started in before()');
  return server;
}

interface Ran {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs a tool to completion; SIGKILLs it (by its PID) after `timeoutMs`, which only
 * a hang reaches, so no process outlives the test.
 */
function runTool(command: string, args: string[], timeoutMs = 60_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') reject(new Error(`${command} ${args.join(' ')} killed after ${timeoutMs} ms; stderr: ${stderr}`));
      else resolve({ code, stdout: Buffer.concat(out), stderr });
    });
  });
}

const ffmpegJpegs = (url: string, frames = 10): Promise<Ran> =>
  runTool('ffmpeg', ['-hide_banner', '-v', 'error', '-rtsp_transport', 'tcp', '-i', url, '-frames:v', String(frames), '-f', 'mjpeg', '-']);

/** Number of JPEGs in ffmpeg's -f mjpeg output (SOI markers; entropy data stuffs every FF). */
function countJpegs(bytes: Buffer): number {
  let count = 0;
  for (let at = bytes.indexOf(Buffer.from([0xff, 0xd8, 0xff])); at !== -1; at = bytes.indexOf(Buffer.from([0xff, 0xd8, 0xff]), at + 3)) count++;
  return count;
}

function assertJpegs(result: Ran, frames: number): void {
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual([...result.stdout.subarray(0, 2)], [0xff, 0xd8], 'starts with SOI');
  assert.deepEqual([...result.stdout.subarray(-2)], [0xff, 0xd9], 'ends with EOI');
  assert.equal(countJpegs(result.stdout), frames);
}

test('ffprobe over TCP sees one 320x240 H.264 video stream', { skip }, async () => {
  const { url } = running();
  assert.match(url, /^rtsp:\/\/127\.0\.0\.1:\d+\/test$/);
  const result = await runTool('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', '-show_entries', 'stream=codec_name,width,height', '-of', 'json', url]);
  assert.equal(result.code, 0, result.stderr);
  const { streams } = JSON.parse(result.stdout.toString('utf8')) as { streams: { codec_name: string; width: number; height: number }[] };
  assert.deepEqual(streams, [{ codec_name: 'h264', width: 320, height: 240 }]);
});

test('ffmpeg -rtsp_transport tcp … -frames:v 10 -f mjpeg - outputs 10 JPEGs', { skip }, async () => {
  assertJpegs(await ffmpegJpegs(running().url), 10);
});

test('two clients at once each get their own stream', { skip }, async () => {
  const { url } = running();
  const [a, b] = await Promise.all([ffmpegJpegs(url, 5), ffmpegJpegs(url, 5)]);
  assertJpegs(a, 5);
  assertJpegs(b, 5);
});

test('a wrong path: ffmpeg fails with "404 Not Found"', { skip }, async () => {
  const wrong = running().url.replace(/\/test$/, '/no-such-path');
  const result = await ffmpegJpegs(wrong);
  assert.notEqual(result.code, 0);
  assert.equal(result.stdout.length, 0);
  // ffmpeg 5.1 prints: "[rtsp @ 0x…] method DESCRIBE failed: 404 Not Found"
  //                    "rtsp://127.0.0.1:PORT/no-such-path: Server returned 404 Not Found"
  assert.match(result.stderr, /method DESCRIBE failed: 404 Not Found/);
  assert.match(result.stderr, /Server returned 404 Not Found/);
});

test('the auth path: no or wrong credentials fail with "401 Unauthorized", the right ones stream', { skip }, async () => {
  const { authUrl, user, password } = running();
  for (const url of [authUrl, withCredentials(authUrl, user, 'wrong'), withCredentials(authUrl, 'nobody', password)]) {
    const result = await ffmpegJpegs(url);
    assert.notEqual(result.code, 0, url);
    // "method DESCRIBE failed: 401 Unauthorized" / "Server returned 401 Unauthorized (authorization failed)"
    assert.match(result.stderr, /Server returned 401 Unauthorized \(authorization failed\)/, url);
  }
  assertJpegs(await ffmpegJpegs(withCredentials(authUrl, user, password), 3), 3);
});

test('startRtspServer resolves once the server streams; stop() ends the process and frees the port', { skip }, async () => {
  const own = await startRtspServer();
  try {
    // Ready means ready: the first client right after it resolved gets its frames.
    assert.notEqual(own.url, running().url, 'each server gets its own free port');
    assertJpegs(await ffmpegJpegs(own.url, 2), 2);
  } finally {
    await own.stop();
  }
  assert.throws(() => process.kill(own.pid, 0), { code: 'ESRCH' }, 'server process is gone');
  await own.stop(); // a second stop is a no-op

  const refused = await ffmpegJpegs(own.url);
  assert.notEqual(refused.code, 0);
  // "[tcp @ 0x…] Connection to tcp://127.0.0.1:PORT?timeout=0 failed: Connection refused"
  // "rtsp://127.0.0.1:PORT/test: Connection refused"
  assert.match(refused.stderr, /Connection refused/);
});
