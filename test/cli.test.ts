import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { connectMjpeg } from './helpers/mjpeg-client.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 10_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const badFlags: [string[], RegExp][] = [
  [['--port', 'http'], /--port: expected a port number 0–65535.*got 'http'/],
  [['--port', '70000'], /--port: expected a port number 0–65535.*got 70000/],
  [['--source', 'synthetic:axb@1'], /--source: cannot read source 'synthetic:axb@1': expected synthetic:WIDTHxHEIGHT@FPS/],
  [['--source', 'synthetic:1x1@30'], /--source: .*size 1x1 is out of range/],
  [['--source', 'synthetic:640x480@0'], /--source: .*frame rate 0 is out of range/],
  [['--source', 'carrier-pigeon://x'], /--source: unknown source 'carrier-pigeon:\/\/x'; accepted:\s+synthetic:.*\s+v4l2:\/\/\/dev\/video0/],
  [['--log-level', 'loud'], /--log-level: expected one of trace, debug, info/],
  [['--queue-capacity', '3'], /--queue-capacity: expected a power of two 1–64, got 3/],
  [['--workers', 'two'], /--workers: expected a number of threads 0–16, got 'two'/],
  [['--workers', '99'], /--workers: expected a number of threads 0–16, got 99/],
  [['--frobnicate'], /Unknown option '--frobnicate'.*see camstream --help/],
  [['extra'], /Unexpected argument 'extra'.*see camstream --help/],
  [['--port'], /--port.*argument missing/],
];

for (const [args, message] of badFlags) {
  test(`camstream ${args.join(' ')} exits 2 naming the flag`, () => {
    const { status, stderr } = runCli(args);
    assert.equal(status, 2, stderr);
    assert.match(stderr, message);
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  });
}

test('a bad config file exits 2 naming the file, line and key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'camstream-cli-'));
  const file = join(dir, 'cams.yaml');
  writeFileSync(file, 'cameras:\n  - id: door\n    source: synthetic:64x64@5\n    stall-timeout: soon\n');
  const { status, stderr } = runCli(['--config', file]);
  assert.equal(status, 2, stderr);
  assert.match(stderr, /cams\.yaml:4:20: cameras\[0\]\.stall-timeout: expected seconds from 0\.1 to 86400, got 'soon'/);
});

test('--config serves every camera it lists', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'camstream-cli-'));
  const file = join(dir, 'cams.yaml');
  writeFileSync(file, 'cameras:\n  - id: door\n    source: synthetic:64x48@10\n  - id: yard\n    source: synthetic:96x64@10\n');
  const { child, url } = await startCli(['--config', file]);
  try {
    const viewer = connectMjpeg(url, '/cam/yard/stream');
    const [part] = await viewer.waitForParts(1);
    viewer.close();
    assert.ok(part !== undefined && part.jpeg.length > 0);
    const stats = (await (await fetch(`${url}/api/stats`)).json()) as { cameras: { id: string }[] };
    assert.deepEqual(stats.cameras.map((camera) => camera.id), ['door', 'yard']);
  } finally {
    child.kill('SIGKILL');
  }
});

test('--help lists the flags and endpoints; --version prints the version', () => {
  const help = runCli(['--help']);
  assert.equal(help.status, 0);
  for (const word of ['--source', '--host', '--port', '/stream', '/snapshot', '/api/stats']) assert.ok(help.stdout.includes(word), word);
  const version = runCli(['--version']);
  assert.equal(version.status, 0);
  assert.match(version.stdout, /^camstream \d+\.\d+\.\d+\n$/);
});

/** Starts the CLI on a free port and resolves with its URL from the 'camstream listening' log line. */
async function startCli(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [CLI, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 'camstream listening' line: ${output}`)), 15_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      for (const line of output.split('\n')) {
        if (!line.includes('camstream listening')) continue;
        clearTimeout(timer);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before listening: ${output}`)));
  });
  return { child, url };
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} with a viewer streaming: the stream ends and the process exits 0 within 2 s`, async () => {
    const { child, url } = await startCli(['--source', 'synthetic:320x240@30']);
    try {
      const viewer = connectMjpeg(url);
      await viewer.waitForParts(3);
      const ended = once(viewer.socket, 'close');
      const started = performance.now();
      child.kill(signal);
      const [code] = (await once(child, 'exit')) as [number | null];
      const elapsed = performance.now() - started;
      assert.equal(code, 0);
      assert.ok(elapsed < 2000, `exit took ${elapsed.toFixed(0)} ms`);
      await ended;
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
}

test('a port already in use exits 1 with a message naming the port and the fix', async () => {
  const { child, url } = await startCli(['--source', 'synthetic:64x64@5']);
  try {
    const port = new URL(url).port;
    const second = spawnSync(process.execPath, [CLI, '--port', port, '--source', 'synthetic:64x64@5'], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(second.status, 1);
    assert.match(second.stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use; .*--port`));
  } finally {
    child.kill('SIGKILL');
  }
});
