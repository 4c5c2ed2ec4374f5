import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { CHROMIUM } from '../../bench/browser.js';
import { requireTool } from './tools.js';

export { CHROMIUM, launchChromium, type HeadlessChromium } from '../../bench/browser.js';

/** Screenshots for people to look at; git-ignored. */
export const ARTIFACTS = fileURLToPath(new URL('../../../test/artifacts/', import.meta.url));

/** Why a browser test cannot run here (Debian chromium missing outside CI), or false. */
export function chromiumMissing(): string | false {
  return requireTool(CHROMIUM, 'chromium');
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
