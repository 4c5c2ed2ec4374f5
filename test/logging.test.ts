import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { pino } from 'pino';
import { connectMjpeg } from './helpers/mjpeg-client.js';
import { eventually, freePort, startServer } from './helpers/server.js';

/**
 * camstream's logs are its operators' record of who watched and what the source
 * did: JSON lines (pino), one per viewer connect and disconnect with its reason and
 * totals, one per source state change, at a level set by flag or environment.
 */

type Line = Record<string, unknown> & { level: number; time: number; msg: string };

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const INFO = 30;

/** Parses JSON lines, failing on any line that is not a pino record (level, time, msg). */
function parseLines(text: string): Line[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const record = JSON.parse(line) as Line;
      assert.ok(typeof record.level === 'number' && typeof record.time === 'number' && typeof record.msg === 'string', `not a pino record: ${line}`);
      return record;
    });
}

test('a viewer logs one connect and one disconnect line with its totals; the source logs its state changes', async () => {
  let text = '';
  const logger = pino({ level: 'info' }, { write: (chunk: string) => void (text += chunk) });
  const { server, url } = await startServer({ source: 'synthetic:320x240@30', logger });
  try {
    const viewer = connectMjpeg(url);
    await viewer.waitForParts(10);
    viewer.close();
    const disconnected = (): Line[] => parseLines(text).filter((line) => line.msg === 'viewer disconnected');
    await eventually(() => disconnected().length > 0, () => `no 'viewer disconnected' line:\n${text}`);

    const lines = parseLines(text);
    const connects = lines.filter((line) => line.msg === 'viewer connected');
    assert.equal(connects.length, 1, `one connect line:\n${text}`);
    const connect = connects[0] as Line;
    assert.equal(connect.camera, 'default', 'the camera\'s child logger names it');
    assert.equal(typeof connect.viewer, 'number');
    assert.equal(connect.viewers, 1);
    assert.match(String(connect.remote), /127\.0\.0\.1/);
    assert.equal(connect.userAgent, 'camstream-test');

    const disconnects = lines.filter((line) => line.msg === 'viewer disconnected' && line.viewer === connect.viewer);
    assert.equal(disconnects.length, 1, `one disconnect line for viewer ${connect.viewer}:\n${text}`);
    const disconnect = disconnects[0] as Line;
    assert.equal(disconnect.level, INFO);
    assert.equal(disconnect.camera, 'default');
    assert.equal(disconnect.reason, 'client', 'the viewer hung up');
    // It received at least the 10 parts, so the server sent at least 10 frames of JPEG bytes.
    assert.ok(typeof disconnect.framesSent === 'number' && disconnect.framesSent >= 10, `framesSent ${disconnect.framesSent}`);
    assert.ok(typeof disconnect.bytesSent === 'number' && disconnect.bytesSent > disconnect.framesSent * 1000, `bytesSent ${disconnect.bytesSent}`);
    assert.equal(typeof disconnect.drops, 'number');
    assert.equal(disconnect.viewers, 0, 'no viewers left');

    // The on-demand source started for the viewer: idle → starting → live, each a line naming both ends.
    const states = lines.filter((line) => typeof line.msg === 'string' && line.msg.startsWith('source ') && 'to' in line);
    const pairs = states.map((line) => `${String(line.from)}→${String(line.to)}`);
    assert.deepEqual(pairs.slice(0, 2), ['idle→starting', 'starting→live'], `source state lines:\n${text}`);
    for (const line of states) {
      assert.equal(line.msg, `source ${String(line.to)}`);
      assert.equal(line.camera, 'default');
    }
  } finally {
    await server.stop();
  }
});

/**
 * Runs the CLI until it serves, has one viewer connect and leave, stops it with SIGTERM;
 * returns its stdout as records. (At warn it logs no URL, so it gets a port that was
 * free a moment ago: tried again should another process have taken it.)
 */
async function runCli(args: string[], env: Record<string, string>): Promise<Line[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await runCliOnce(args, env);
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt === 5) throw error;
    }
  }
}

class PortTakenError extends Error {}

async function runCliOnce(args: string[], env: Record<string, string>): Promise<Line[]> {
  const url = `http://127.0.0.1:${await freePort()}`;
  const child = spawn(process.execPath, [CLI, '--port', new URL(url).port, '--source', 'synthetic:64x48@10', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CAMSTREAM_LOG_LEVEL: undefined, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit');
  try {
    await eventually(() => child.exitCode !== null || fetch(`${url}/api/stats`).then((r) => r.ok, () => false), () => `the CLI serves on ${url}; stderr:\n${stderr}`, { stepMs: 100 });
    if (child.exitCode !== null && /already in use/.test(stderr)) throw new PortTakenError(stderr);
    assert.equal(child.exitCode, null, `the CLI exited; stderr:\n${stderr}`);
    // A real viewer, so the quiet run is silent despite connects and disconnects happening.
    const viewer = connectMjpeg(url);
    await viewer.waitForParts(2);
    viewer.close();
    await eventually(async () => ((await (await fetch(`${url}/api/stats`)).json()) as { cameras: { viewers: number }[] }).cameras[0]?.viewers === 0, 'the viewer is gone');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, `exit status; stderr:\n${stderr}`);
    return parseLines(stdout);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

test('the CLI logs JSON lines on stdout at info by default', async () => {
  const lines = await runCli([], {});
  for (const msg of ['camstream listening', 'viewer connected', 'viewer disconnected', 'source live', 'shutting down']) {
    assert.ok(lines.some((line) => line.msg === msg), `a '${msg}' line in ${JSON.stringify(lines.map((line) => line.msg))}`);
  }
  // On Linux 5.4+ with koffi, nothing is wrong: no warning (one said TCP_INFO could not be
  // read, asking SIOCOUTQ of the listening socket, which the kernel refuses).
  assert.deepEqual(lines.filter((line) => line.level >= 40).map((line) => line.msg), [], 'no warning at start');
});

test('CAMSTREAM_LOG_LEVEL=warn silences info lines; --log-level info wins over it', async () => {
  const quiet = await runCli([], { CAMSTREAM_LOG_LEVEL: 'warn' });
  assert.deepEqual(quiet.filter((line) => line.level < 40).map((line) => line.msg), [], 'no line below warn');
  const flag = await runCli(['--log-level', 'info'], { CAMSTREAM_LOG_LEVEL: 'warn' });
  assert.ok(flag.some((line) => line.msg === 'camstream listening'), 'the flag takes precedence over the environment');
});
