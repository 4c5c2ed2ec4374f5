import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { readJpegSize } from '../src/index.js';
import { connectMjpeg, isWholeJpeg } from './helpers/mjpeg-client.js';
import { eventually, HANG_MS, WaitTimeoutError } from './helpers/server.js';

/**
 * Each example in examples/ is documentation that must keep working: run it as
 * users would (node dist/examples/<name>.js, PORT=0), wait for its
 * `listening <url>` line, and check through real HTTP that camstream's endpoints
 * answer where it mounts them and that the host's own routes still do.
 */

const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));

interface RunningExample {
  url: string;
  /** Every stdout line so far. */
  lines: string[];
  child: ChildProcess;
}

async function withExample(name: string, check: (example: RunningExample) => Promise<void>): Promise<void> {
  const child = spawn(process.execPath, [`${EXAMPLES}${name}.js`], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const lines: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => lines.push(line));
  try {
    let url = '';
    await eventually(() => {
      url = lines.map((line) => /^listening (http:\/\/\S+)$/.exec(line)?.[1]).find((found) => found !== undefined) ?? '';
      return url !== '' || child.exitCode !== null;
    }, () => `${name} prints 'listening <url>'; stdout: ${lines.join('\n')}; stderr: ${stderr}`, { stepMs: 20 });
    assert.ok(url !== '', `${name} printed no 'listening <url>' line; stdout: ${lines.join('\n')}; stderr: ${stderr}`);
    await check({ url: url.replace(/\/$/, ''), lines, child });
    // It stops cleanly on SIGTERM: exits by itself, with status 0 (only a hang reaches the ceiling).
    child.kill('SIGTERM');
    const [code, signal] = await within(exited, HANG_MS, `${name} exits after SIGTERM`);
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, `stderr: ${stderr}`);
  } finally {
    await stopByPid(child, exited);
  }
}

/** SIGTERM, then SIGKILL after 5 s, by the child's PID; nothing if it is already gone. */
async function stopByPid(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  process.kill(child.pid, 'SIGTERM');
  try {
    await within(exited, 5000, 'it exits after SIGTERM');
  } catch {
    process.kill(child.pid, 'SIGKILL');
    await exited;
  }
}

/** `promise`, or a WaitTimeoutError naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new WaitTimeoutError(what, ms)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** camstream's endpoints at `base` (its URL plus where it is mounted): a stream part, a snapshot, the stats. */
async function checkCamstream(base: string, path: string): Promise<Buffer> {
  const viewer = connectMjpeg(base, `${path}/stream`);
  try {
    const [part] = await viewer.waitForParts(1);
    assert.ok(part !== undefined && isWholeJpeg(part.jpeg), 'a stream part is a whole JPEG');
  } finally {
    viewer.close();
  }
  const snapshot = await fetch(`${base}${path}/snapshot`);
  assert.equal(snapshot.status, 200);
  assert.equal(snapshot.headers.get('content-type'), 'image/jpeg');
  const jpeg = Buffer.from(await snapshot.arrayBuffer());
  assert.ok(isWholeJpeg(jpeg), 'the snapshot is a JPEG');
  const stats = (await (await fetch(`${base}${path}/api/stats`)).json()) as { cameras: { id: string; source: string }[] };
  assert.deepEqual(stats.cameras.map((camera) => camera.id), ['default']);
  return jpeg;
}

test('push-source: a custom source\'s sharp-rendered JPEGs are served by createCamstream', async () => {
  await withExample('push-source', async ({ url }) => {
    const snapshot = await checkCamstream(url, '');
    assert.deepEqual(readJpegSize(snapshot), { width: 320, height: 240 });
    const stats = (await (await fetch(`${url}/api/stats`)).json()) as { cameras: { source: string; state: string }[] };
    assert.equal(stats.cameras[0]?.source, 'example:ball');
  });
});

test('node-http: camstream at the root of a plain node:http server, the host\'s /hello, and /ws through its upgrade', async () => {
  await withExample('node-http', async ({ url }) => {
    assert.equal(await (await fetch(`${url}/hello`)).text(), 'hello from the host\n');
    await checkCamstream(url, '');
    const socket = new WebSocket(`${url.replace('http', 'ws')}/ws`);
    try {
      const [message] = (await within(once(socket, 'message'), HANG_MS, 'a hello on /ws')) as [Buffer];
      assert.deepEqual(JSON.parse(message.toString()).cameras, [{ id: 'default', nominalFps: 15 }]);
    } finally {
      socket.terminate();
    }
  });
});

test('express: camstream under /cams of an express app, the app\'s own / still answers', async () => {
  await withExample('express', async ({ url }) => {
    assert.equal(await (await fetch(`${url}/`)).text(), 'the host app; cameras under /cams\n');
    await checkCamstream(url, '/cams');
    // Outside the mount path it is express that answers, not camstream.
    assert.equal((await fetch(`${url}/snapshot`)).status, 404);
  });
});

test('fastify: camstream under /cams of a fastify app via registerCamstream, the app\'s own / still answers', async () => {
  await withExample('fastify', async ({ url }) => {
    assert.deepEqual(await (await fetch(`${url}/`)).json(), { app: 'the host app', cameras: '/cams' });
    await checkCamstream(url, '/cams');
    const head = await fetch(`${url}/cams/stream`, { method: 'HEAD' });
    assert.match(head.headers.get('content-type') ?? '', /^multipart\/x-mixed-replace/);
    assert.equal((await fetch(`${url}/cams/cam/nope/snapshot`)).status, 404, "camstream's own 404 for an unknown camera");
  });
});

test('events: a viewer joining and leaving, and the source starting, print their lines', async () => {
  await withExample('events', async ({ url, lines }) => {
    const viewer = connectMjpeg(url);
    await viewer.waitForParts(1);
    const remote = `127.0.0.1:${viewer.socket.localPort}`;
    const joined = new RegExp(`^viewer-joined camera=default viewer=(\\d+) remote=${remote} agent=camstream-test$`);
    await eventually(() => lines.some((line) => joined.test(line)), () => `a viewer-joined line; lines:\n${lines.join('\n')}`, { stepMs: 10 });
    const id = joined.exec(lines.find((line) => joined.test(line)) ?? '')?.[1];
    assert.ok(lines.includes('source-state camera=default idle -> starting'), lines.join('\n'));
    assert.ok(lines.includes('source-state camera=default starting -> live'), lines.join('\n'));
    viewer.close();
    const left = new RegExp(`^viewer-left camera=default viewer=${id} reason=client frames=([1-9]\\d*) bytes=\\d+ drops=\\d+$`);
    await eventually(() => lines.some((line) => left.test(line)), () => `a viewer-left line; lines:\n${lines.join('\n')}`, { stepMs: 10 });
  });
});
