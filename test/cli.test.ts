import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { connectMjpeg } from './helpers/mjpeg-client.js';
import { HANG_MS, WaitTimeoutError } from './helpers/server.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Runs the CLI to its end; only a hang reaches the timeout (and then `status` is null and `stderr` says so). */
function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: HANG_MS });
  return { status: result.status, stdout: result.stdout, stderr: result.error === undefined ? result.stderr : `${result.stderr}\n(${result.error.message})` };
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
  [['--encode-budget', '0'], /--encode-budget: expected CPU milliseconds per second, a whole number from 1 to \d+ \(1000 × the \d+ cores? here\), got 0/],
  [['--encode-budget=-5'], /--encode-budget: expected CPU milliseconds per second, a whole number from 1 to \d+ .*got '-5'/],
  [['--encode-budget', '2.5'], /--encode-budget: expected CPU milliseconds per second.*got '2\.5'/],
  [['--encode-budget', '150ms'], /--encode-budget: expected CPU milliseconds per second.*got '150ms'/],
  [['--encode-budget', '99999999'], /--encode-budget: expected CPU milliseconds per second, a whole number from 1 to \d+ .*got 99999999/],
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

test('a config that cannot work exits 2 naming the file, line, key and what it accepts, before serving', () => {
  const dir = mkdtempSync(join(tmpdir(), 'camstream-cli-'));
  const cases: [string, RegExp][] = [
    ['cameras:\n  - id: door\n    source: synthetic:64x64@5\n    encode-budget: 0\n', /cams\.yaml:4:20: cameras\[0\]\.encode-budget: expected CPU milliseconds per second, a whole number from 1 to \d+ .*got 0\n$/],
    ['cameras:\n  - id: door\n    source: synthetic:64x64@5\n    ladder: []\n', /cams\.yaml:4:13: cameras\[0\]\.ladder: expected a list of at least one level/],
    ['cameras:\n  - id: door\n    source: synthetic:64x64@5\n    ladder:\n      - { fps: 0 }\n', /cams\.yaml:5:16: cameras\[0\]\.ladder\[0\]\.fps: expected frames per second from 0\.1 to 240/],
  ];
  for (const [text, message] of cases) {
    const file = join(dir, 'cams.yaml');
    writeFileSync(file, text);
    // --port 0: were the config accepted, the server would start and this run would hang, not pass.
    const { status, stdout, stderr } = runCli(['--config', file, '--port', '0']);
    assert.equal(status, 2, stderr);
    assert.match(stderr, message);
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    assert.equal(stdout, '', 'nothing started, nothing logged');
  }
});

test('encode-budget reaches every camera: its own from the file, else --encode-budget; --print-config shows both', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'camstream-cli-'));
  const file = join(dir, 'cams.yaml');
  writeFileSync(file, 'encode-budget: 40\ncameras:\n  - id: door\n    source: synthetic:64x48@10\n    encode-budget: 20\n  - id: yard\n    source: synthetic:64x48@10\n');

  const printed = runCli(['--config', file, '--encode-budget', '75', '--print-config']);
  assert.equal(printed.status, 0, printed.stderr);
  assert.match(printed.stdout, /^encode-budget: 75$/m);
  assert.match(printed.stdout, /^ {4}encode-budget: 20$/m);

  const { child, url } = await startCli(['--config', file, '--encode-budget', '75']);
  try {
    const stats = (await (await fetch(`${url}/api/stats`)).json()) as { cameras: { id: string; encode: { budgetMsPerSecond: number } }[] };
    assert.deepEqual(stats.cameras.map((camera) => [camera.id, camera.encode.budgetMsPerSecond]), [['door', 20], ['yard', 75]]);
  } finally {
    child.kill('SIGKILL');
  }
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
  for (const word of ['--source', '--host', '--port', '--encode-budget', 'CAMSTREAM_ENCODE_BUDGET', '/stream', '/snapshot', '/api/stats']) assert.ok(help.stdout.includes(word), word);
  const version = runCli(['--version']);
  assert.equal(version.status, 0);
  assert.match(version.stdout, /^camstream \d+\.\d+\.\d+\n$/);
});

/**
 * Starts the CLI on a free port and resolves with its URL from the 'camstream listening'
 * log line; `output()` is everything it wrote on stdout so far (its JSON log lines).
 */
async function startCli(args: string[]): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, [CLI, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new WaitTimeoutError(`the CLI logs 'camstream listening'; stdout: ${output}`, HANG_MS)), HANG_MS);
    child.stdout?.on('data', () => {
      for (const line of output.split('\n')) {
        if (!line.includes('camstream listening')) continue;
        clearTimeout(timer);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code} before listening: ${output}`));
    });
  });
  return { child, url, output: () => output };
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} with a viewer streaming: the stream ends, the shutdown completes and the process exits 0`, async () => {
    const { child, url, output } = await startCli(['--source', 'synthetic:320x240@30']);
    try {
      const viewer = connectMjpeg(url);
      await viewer.waitForParts(3);
      const ended = once(viewer.socket, 'close');
      const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      child.kill(signal);
      // Only a hang reaches the ceiling; how fast the exit is, is the bench's business.
      const [code, killedBy] = await Promise.race([
        exited,
        new Promise<never>((_, reject) => setTimeout(() => reject(new WaitTimeoutError(`the CLI exits after ${signal}`, HANG_MS)), HANG_MS).unref()),
      ]);
      assert.deepEqual({ code, killedBy }, { code: 0, killedBy: null }, `exit status; stdout:\n${output()}`);
      // It exited because stop() finished (which ends the open stream), not because
      // the shutdown grace period ran out on a stop() that hung on that stream.
      const messages = output().split('\n').filter((line) => line !== '').map((line) => (JSON.parse(line) as { msg: string }).msg);
      assert.ok(messages.includes('camstream stopped'), `a 'camstream stopped' line in ${JSON.stringify(messages)}`);
      assert.ok(!messages.includes('shutdown took too long; exiting anyway'), JSON.stringify(messages));
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
    const second = spawnSync(process.execPath, [CLI, '--port', port, '--source', 'synthetic:64x64@5'], { encoding: 'utf8', timeout: HANG_MS });
    assert.equal(second.status, 1, second.error?.message ?? second.stderr);
    assert.match(second.stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use; .*--port`));
  } finally {
    child.kill('SIGKILL');
  }
});
