/**
 * Headless Chromium for the bench's dashboard part and the browser tests (which take
 * it from here, as they take the soak from bench/soak.ts): Debian's /usr/bin/chromium
 * through playwright-core's launchServer (not launch), so the caller knows its PID
 * and can stop it whatever happens; nothing of its own goes to the network.
 */
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export interface HeadlessChromium {
  browser: Browser;
  pid: number;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<HeadlessChromium> {
  if (!existsSync(CHROMIUM)) throw new Error(`headless Chromium is needed at ${CHROMIUM} (apt-get install chromium)`);
  const { chromium } = await import('playwright-core');
  const server = await chromium.launchServer({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const pid = server.process().pid;
  if (pid === undefined) throw new Error('chromium did not start');
  const browser = await chromium.connect(server.wsEndpoint());
  return {
    browser,
    pid,
    async close() {
      await browser.close().catch(() => undefined);
      await server.close().catch(() => undefined);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone: close() stopped it.
      }
    },
  };
}
