import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort } from './server.js';

/**
 * A real RTSP server on loopback for tests: GStreamer's gst-rtsp-server driven by
 * test/fixtures/rtsp-server.py, serving a live 320x240 30 fps H.264 test pattern.
 *
 * It runs under the system python (/usr/bin/python3) on purpose: python3-gi is a
 * Debian package and a pyenv python first on PATH cannot import it.
 */

/** Debian packages the server needs (.ci/run installs them with --no-install-recommends). */
export const RTSP_SERVER_PACKAGES =
  'python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly';

const PYTHON = '/usr/bin/python3';
// From dist/test/helpers/ back to the source tree: tsc does not copy .py files.
const SCRIPT = fileURLToPath(new URL('../../../test/fixtures/rtsp-server.py', import.meta.url));
/** Python, GStreamer and its plugins start in a second or two; only a hang takes this long. */
const READY_TIMEOUT_MS = 60_000;
const KILL_AFTER_MS = 2_000;

export interface RtspServer {
  /** Open mount, e.g. rtsp://127.0.0.1:PORT/test. */
  url: string;
  /** Basic-auth mount without credentials in it: no or wrong credentials get "401 Unauthorized". */
  authUrl: string;
  /** The credentials authUrl accepts. */
  user: string;
  password: string;
  port: number;
  /** PID of the server process (the only process the helper starts). */
  pid: number;
  /** SIGTERM, then SIGKILL after ~2 s; resolves once the process has exited. Safe to call twice. */
  stop(): Promise<void>;
}

/** rtsp://user:password@host:port/path from a URL without credentials. */
export function withCredentials(url: string, user: string, password: string): string {
  const withAuth = new URL(url);
  withAuth.username = encodeURIComponent(user);
  withAuth.password = encodeURIComponent(password);
  return withAuth.href;
}

let missing: string | false | undefined;

/**
 * False when the RTSP server can run. Otherwise a skip reason naming the Debian
 * packages, except under CI=true, where it throws: .ci/run installs them.
 */
export function rtspServerMissing(): string | false {
  missing ??= probe();
  if (missing === false) return false;
  if (process.env.CI === 'true') throw new Error(`${missing} under CI=true; .ci/run must apt-get install ${RTSP_SERVER_PACKAGES}`);
  return `${missing} (Debian packages ${RTSP_SERVER_PACKAGES})`;
}

function probe(): string | false {
  if (!existsSync(SCRIPT)) return `the RTSP server script ${SCRIPT} is missing`;
  const check = [
    'import gi',
    "gi.require_version('Gst', '1.0')",
    "gi.require_version('GstRtspServer', '1.0')",
    'from gi.repository import Gst, GstRtspServer',
    'Gst.init(None)',
    "missing = [e for e in ('videotestsrc', 'x264enc', 'rtph264pay') if Gst.ElementFactory.find(e) is None]",
    "assert not missing, 'missing GStreamer elements: ' + ' '.join(missing)",
  ].join('\n');
  const result = spawnSync(PYTHON, ['-c', check], { encoding: 'utf8', timeout: 60_000 }); // a hang guard: the import takes a second
  if (result.error) return `${PYTHON} cannot run (${result.error.message})`;
  if (result.status !== 0) {
    const lines = result.stderr.trim().split('\n');
    return `GStreamer RTSP server is not usable from ${PYTHON}: ${lines[lines.length - 1] ?? `exit ${result.status}`}`;
  }
  return false;
}

/** Servers not stopped yet; killed synchronously if the test process exits first. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) killQuietly(child.pid, 'SIGKILL');
  });
}

function killQuietly(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Starts the server on 127.0.0.1 on a free port and waits until it accepts connections. */
export async function startRtspServer(): Promise<RtspServer> {
  const user = 'camstream';
  const password = 'secret';
  // A free port can be taken between our probe and the server's bind: retry a few times.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn(PYTHON, [SCRIPT, '--host', '127.0.0.1', '--port', String(port), '--path', '/test', '--user', user, '--password', password], {
      // stdin stays open as a lifeline: the server exits when it reads EOF (we died).
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    if (child.pid === undefined) {
      const error = await new Promise<Error>((resolve) => child.once('error', resolve));
      throw new Error(`cannot start ${PYTHON} ${SCRIPT}: ${error.message}`);
    }
    const pid = child.pid;
    live.add(child);
    installExitHook();
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    void exited.then(() => live.delete(child));
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.stdout?.resume();
    child.stdin?.on('error', () => {}); // EPIPE once the server is gone

    const stop = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) {
        killQuietly(pid, 'SIGTERM');
        const timer = setTimeout(() => killQuietly(pid, 'SIGKILL'), KILL_AFTER_MS);
        await exited;
        clearTimeout(timer);
      }
      child.stdin?.destroy();
      live.delete(child);
    };

    const ready = await waitForPort(port, exited, READY_TIMEOUT_MS);
    if (ready === 'listening') {
      const base = `rtsp://127.0.0.1:${port}`;
      return { url: `${base}/test`, authUrl: `${base}/test-auth`, user, password, port, pid, stop };
    }
    await stop();
    if (ready === 'exited' && child.exitCode === 2 && attempt < 3) continue; // port taken meanwhile
    const why = ready === 'exited' ? `exited with ${child.exitCode ?? child.signalCode}` : `did not listen within ${READY_TIMEOUT_MS} ms`;
    throw new Error(`RTSP server on port ${port} ${why}: ${stderr.trim() || '(no stderr)'}`);
  }
}

/** Retries a TCP connect until it succeeds, the process exits, or the time runs out. */
async function waitForPort(port: number, exited: Promise<void>, timeoutMs: number): Promise<'listening' | 'exited' | 'timeout'> {
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (!hasExited && Date.now() < deadline) {
    if (await canConnect(port)) return 'listening';
    await Promise.race([new Promise((resolve) => setTimeout(resolve, 50)), exited]);
  }
  return hasExited ? 'exited' : 'timeout';
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
