/**
 * The servers the bench runs, each a child process with the alloc probe preloaded,
 * and `withServer`, which starts one, runs a body against it and always stops it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AllocProbe } from './alloc-snapshots.js';
import { ServerProcess, type ServerSpec } from './server.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CAMSTREAM_SCRIPT = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
/**
 * The environment and node flags camstream's executable runs with, from its
 * shebang (`#!/usr/bin/env -S NAME=value … node --flag …`), so the bench runs it as
 * a user's `camstream` runs.
 */
export const CAMSTREAM_LAUNCH = ((): { env: Record<string, string>; nodeArgs: string[] } => {
  const words = (readFileSync(CAMSTREAM_SCRIPT, 'utf8').split('\n', 1)[0] ?? '').split(/\s+/).slice(2);
  const node = words.indexOf('node');
  const env = Object.fromEntries(words.slice(0, Math.max(0, node)).map((word) => word.split('=', 2) as [string, string]));
  return { env, nodeArgs: node < 0 ? [] : words.slice(node + 1) };
})();
/** How long a camera may take to deliver its first frame (its ring rendered in a child, slow on a busy machine). */
const FIRST_FRAME_TIMEOUT_MS = 60_000;
const baseline = (file: string): string => fileURLToPath(new URL(`./baselines/${file}`, import.meta.url));

/** A server to run: what to spawn, a name for logs and tables, and how to have it start its camera. */
export interface ServerKind {
  name: string;
  spec: ServerSpec;
  /** Run without the alloc probe (its node flag and preload), e.g. to measure memory as a user's plain `node` has it. */
  noProbe?: boolean;
  /** Resolves once the server delivers frames (camstream starts cameras on demand). */
  warmUp(url: string): Promise<void>;
  /** camstream answers /api/stats (capture rate, drops, pool); the others do not. */
  hasApiStats: boolean;
}

const noWarmUp = async (): Promise<void> => undefined;

/**
 * How camstream is started: `bin` as its executable runs (the shebang's environment and
 * node flags, with the alloc probe); `plain` as `node dist/src/cli/main.js` with none
 * of them and no probe, as a systemd unit, a library user or the tests run it.
 */
export type CamstreamLaunch = 'bin' | 'plain';

/** Variables that would change a plain node's memory or flags if the bench itself ran with them. */
const PLAIN_UNSET = ['NODE_OPTIONS', 'MALLOC_ARENA_MAX', 'GLIBC_TUNABLES', 'UV_THREADPOOL_SIZE'];

export function camstream(source: string, host = '127.0.0.1', extraArgs: readonly string[] = [], launch: CamstreamLaunch = 'bin'): ServerKind {
  const args = ['--source', source, '--host', host, '--port', '0', '--log-level', 'info', ...extraArgs];
  const spec: ServerSpec =
    launch === 'bin'
      ? { script: CAMSTREAM_SCRIPT, nodeArgs: CAMSTREAM_LAUNCH.nodeArgs, env: CAMSTREAM_LAUNCH.env, args }
      : { script: CAMSTREAM_SCRIPT, unsetEnv: [...new Set([...PLAIN_UNSET, ...Object.keys(CAMSTREAM_LAUNCH.env)])], args };
  return {
    name: ['camstream', ...extraArgs, ...(launch === 'plain' ? ['(plain node)'] : [])].join(' '),
    hasApiStats: true,
    noProbe: launch === 'plain',
    spec,
    // A snapshot starts the camera (and its frame rendering) before anything is measured.
    // On a busy machine rendering the ring can outlast one snapshot's wait (503): ask again.
    warmUp: async (url) => {
      const deadline = Date.now() + FIRST_FRAME_TIMEOUT_MS;
      for (;;) {
        const first = await fetch(`${url}/snapshot`);
        if (first.status === 200) {
          await first.arrayBuffer();
          return;
        }
        const body = await first.text();
        if (first.status !== 503 || Date.now() >= deadline) throw new Error(`the camera delivered no frame: ${first.status} ${body}`);
      }
    },
  };
}

export const NAIVE: ServerKind = { name: 'naive', spec: { script: baseline('naive-server.js') }, warmUp: noWarmUp, hasApiStats: false };
export const MJPEG_SERVER: ServerKind = { name: 'mjpeg-server', spec: { script: baseline('mjpeg-server-runner.js') }, warmUp: noWarmUp, hasApiStats: false };
export function rawWriter(mode: 'paced' | 'saturated'): ServerKind {
  return { name: `raw ${mode}`, spec: { script: baseline('raw-writer.js'), args: ['--mode', mode] }, warmUp: noWarmUp, hasApiStats: false };
}

/** Whether this camstream build has `--workers` (a second event loop serving viewers). */
export function camstreamHasWorkers(): boolean {
  const help = execFileSync(process.execPath, [CAMSTREAM_SCRIPT, '--help'], { encoding: 'utf8' });
  return /--workers\b/.test(help);
}

export interface RunningServer {
  server: ServerProcess;
  url: string;
  /** Undefined for a kind run without it (`noProbe`). */
  probe: AllocProbe | undefined;
}

/**
 * Starts `kind` with the alloc probe, waits for its URL and first frame, runs
 * `body`, and stops it (by PID) whatever happens. `track` registers it for cleanup
 * on interrupt; its warnings are logged when it stops.
 */
export async function withServer<T>(kind: ServerKind, track: Set<{ kill(): void }>, log: (message: string) => void, body: (running: RunningServer) => Promise<T>): Promise<T> {
  const probe = kind.noProbe === true ? undefined : new AllocProbe();
  const server = ServerProcess.spawn(ROOT, { ...kind.spec, nodeArgs: [...(probe?.nodeArgs ?? []), ...(kind.spec.nodeArgs ?? [])], env: { ...probe?.env, ...kind.spec.env } });
  track.add(server);
  try {
    const url = await server.waitForUrl();
    log(`${kind.name} (pid ${server.pid}) listening at ${url}`);
    await kind.warmUp(url);
    return await body({ server, url, probe });
  } finally {
    await server.stop();
    track.delete(server);
    probe?.remove();
    for (const problem of server.problems) log(`${kind.name} (pid ${server.pid}) logged: ${problem}`);
  }
}
