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

/** Polls `check` until it returns true or `timeoutMs` passes; returns the last result. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000, stepMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
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
