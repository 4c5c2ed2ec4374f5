import net from 'node:net';
import { pino } from 'pino';
import { createCamstream, type Camstream, type CamstreamOptions } from '../../src/index.js';

/** A camstream on 127.0.0.1, port 0, logging nothing; stop it with `stop()`. */
export async function startServer(options: CamstreamOptions = {}): Promise<{ server: Camstream; url: string }> {
  const server = createCamstream({ port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }), ...options });
  const url = await server.start();
  return { server, url };
}

export async function getJson<T = unknown>(url: string): Promise<T> {
  const response = await fetch(url);
  return (await response.json()) as T;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * How long a wait in a test may take before it counts as a hang. Tests wait for the
 * event they are about, never for a deadline a slow machine could miss, so this is
 * far beyond what one event takes on a busy machine; a wait known to take longer
 * there (a cold start of many cameras, a recovery) passes its own `ceilingMs`.
 */
export const HANG_MS = 30_000;

export interface WaitOptions {
  /** Give up (throw) after this long; only a hang should reach it. Default HANG_MS. */
  ceilingMs?: number;
  /** Poll every this many milliseconds. Default 50. */
  stepMs?: number;
}

/** Thrown by eventually() when what a test waited for never happened. */
export class WaitTimeoutError extends Error {
  constructor(what: string, ceilingMs: number) {
    super(`timed out after ${ceilingMs / 1000} s waiting until ${what}`);
    this.name = 'WaitTimeoutError';
  }
}

/**
 * Polls `check` until it returns true. Throws a WaitTimeoutError naming `what`
 * (a function is called then, so it can describe the state it found) when the
 * ceiling passes: a wait never returns quietly.
 */
export async function eventually(check: () => boolean | Promise<boolean>, what: string | (() => string | Promise<string>), options: WaitOptions = {}): Promise<void> {
  const { ceilingMs = HANG_MS, stepMs = 50 } = options;
  const deadline = performance.now() + ceilingMs;
  for (;;) {
    if (await check()) return;
    if (performance.now() > deadline) throw new WaitTimeoutError(typeof what === 'string' ? what : await what(), ceilingMs);
    await sleep(stepMs);
  }
}

/**
 * A port that was free a moment ago, for a process the test starts that cannot
 * listen on port 0 and tell it (prometheus, nginx, the RTSP server). Another process
 * may take it in between, so callers retry on "address in use".
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
