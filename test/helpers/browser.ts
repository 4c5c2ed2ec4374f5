import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserServer, Page } from 'playwright-core';
import { requireTool } from './tools.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Screenshots for people to look at; git-ignored. */
export const ARTIFACTS = fileURLToPath(new URL('../../../test/artifacts/', import.meta.url));

/** Why a browser test cannot run here (Debian chromium missing outside CI), or false. */
export function chromiumMissing(): string | false {
  return requireTool(CHROMIUM, 'chromium');
}

/** Headless Chromium with nothing of its own going to the network; close() stops it by PID. */
export interface HeadlessChromium {
  browser: Browser;
  pid: number;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<HeadlessChromium> {
  const { chromium } = await import('playwright-core');
  // launchServer (not launch) so the test knows the browser's PID and can stop it whatever happens.
  const server: BrowserServer = await chromium.launchServer({
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

/** Everything a page reports as wrong: console errors, uncaught exceptions, failed requests. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`exception: ${error.message}`));
  page.on('requestfailed', (request) => {
    // A stream the page itself ends (an <img> losing its src) is not a failure.
    if (request.failure()?.errorText !== 'net::ERR_ABORTED') errors.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`);
  });
  return errors;
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return `${ARTIFACTS}${name}`;
}
