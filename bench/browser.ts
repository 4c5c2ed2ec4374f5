/**
 * Headless Chromium for the bench's dashboard part, started as the browser tests
 * start it (test/helpers/browser.ts): Debian's /usr/bin/chromium through
 * playwright-core's launchServer, so the bench knows its PID and can stop it
 * whatever happens.
 */
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export interface BenchChromium {
  browser: Browser;
  pid: number;
  close(): Promise<void>;
}

export async function launchBenchChromium(): Promise<BenchChromium> {
  if (!existsSync(CHROMIUM)) throw new Error(`the dashboard part needs Chromium at ${CHROMIUM} (apt-get install chromium)`);
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
