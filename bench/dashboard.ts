/**
 * The dashboard part (`--parts dashboard`): how long a person waits, after opening
 * the dashboard of twelve on-demand synthetic cameras, until every card shows a
 * picture. Real headless Chromium (playwright-core) opens the page of a freshly
 * started camstream each run, so every camera starts cold (its source renders its
 * ring of JPEGs as the page subscribes).
 *
 * Two camera sets: twelve of one size (`synthetic:192x108@15`, whose sources share
 * one rendered ring) and twelve of distinct sizes, which cannot share (one render
 * each), so the table shows what sharing the render saves.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium } from './browser.js';
import { ServerProcess } from './server.js';
import { CAMSTREAM_LAUNCH, ROOT } from './servers.js';

const CAMSTREAM_SCRIPT = join(ROOT, 'dist/src/cli/main.js');
const CAMERAS = 12;
/** A run that has not shown every picture by then failed (a broken build, not a slow machine). */
const PICTURES_TIMEOUT_MS = 60_000;

export interface DashboardSet {
  name: string;
  sources: readonly string[];
}

/** Twelve cameras of one size (one shared render), and twelve of distinct sizes (twelve renders). */
export const DASHBOARD_SETS: readonly DashboardSet[] = [
  { name: `${CAMERAS} × synthetic:192x108@15`, sources: Array.from({ length: CAMERAS }, () => 'synthetic:192x108@15') },
  // Widths 192, 194, … so each camera's ring is its own render: what every camera paid before sharing.
  { name: `${CAMERAS} distinct sizes 192–214 x108@15`, sources: Array.from({ length: CAMERAS }, (_, index) => `synthetic:${192 + 2 * index}x108@15`) },
];

export interface DashboardRow {
  set: string;
  runs: number;
  /** Per run, ms from navigation start to the first card's first picture, and to the last card's. */
  firstCardMs: number[];
  everyCardMs: number[];
}

export interface DashboardContext {
  runs: number;
  track: Set<{ kill(): void }>;
  log: (message: string) => void;
}

/**
 * Records, in the page, when each card's canvas first drew a frame: the dashboard sets
 * `data-frames` on a card's canvas after each draw (web/live-frames.ts). A
 * MutationObserver notices the first one as it happens, so nothing is polled;
 * performance.now() counts from the page's navigation start.
 */
const RECORD_FIRST_PICTURES = `
  window.__firstPictures = new Map();
  new MutationObserver((records) => {
    for (const record of records) {
      const card = record.target.closest('[data-camera]');
      if (card !== null && !window.__firstPictures.has(card.dataset.camera)) window.__firstPictures.set(card.dataset.camera, performance.now());
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-frames'] });
`;

/** What RECORD_FIRST_PICTURES adds to the page. */
interface PageGlobals {
  __firstPictures: Map<string, number>;
}

export async function runDashboard(sets: readonly DashboardSet[], context: DashboardContext): Promise<DashboardRow[]> {
  const chromium = await launchChromium();
  const browserProcess = { kill: (): void => void process.kill(chromium.pid, 'SIGKILL') };
  context.track.add(browserProcess);
  try {
    const rows: DashboardRow[] = [];
    for (const set of sets) {
      const row: DashboardRow = { set: set.name, runs: context.runs, firstCardMs: [], everyCardMs: [] };
      for (let run = 0; run < context.runs; run++) {
        const times = await oneRun(set, chromium.browser, context);
        row.firstCardMs.push(Math.min(...times));
        row.everyCardMs.push(Math.max(...times));
        context.log(`dashboard, ${set.name}, run ${run + 1}: first card ${Math.min(...times).toFixed(0)} ms, every card ${Math.max(...times).toFixed(0)} ms`);
      }
      rows.push(row);
    }
    return rows;
  } finally {
    await chromium.close();
    context.track.delete(browserProcess);
  }
}

/** One cold start: a fresh server, a fresh page; each card's first picture in ms since navigation start. */
async function oneRun(set: DashboardSet, browser: Browser, context: DashboardContext): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'camstream-bench-dashboard-'));
  const config = join(dir, 'cameras.yaml');
  writeFileSync(config, `cameras:\n${set.sources.map((source, index) => `  - id: cam${index + 1}\n    source: ${source}\n`).join('')}`);
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const server = ServerProcess.spawn(ROOT, {
    script: CAMSTREAM_SCRIPT,
    nodeArgs: CAMSTREAM_LAUNCH.nodeArgs,
    env: CAMSTREAM_LAUNCH.env,
    args: ['--config', config, '--host', '127.0.0.1', '--port', '0', '--log-level', 'info'],
  });
  context.track.add(server);
  try {
    const url = await server.waitForUrl();
    await page.addInitScript({ content: RECORD_FIRST_PICTURES });
    await page.goto(`${url}/`);
    // A function, not a string: the dashboard's Content-Security-Policy forbids eval.
    await page.waitForFunction((count) => (globalThis as unknown as PageGlobals).__firstPictures.size === count, set.sources.length, { timeout: PICTURES_TIMEOUT_MS });
    return await page.evaluate(() => [...(globalThis as unknown as PageGlobals).__firstPictures.values()]);
  } finally {
    await page.close();
    await server.stop();
    context.track.delete(server);
    rmSync(dir, { recursive: true, force: true });
    for (const problem of server.problems) context.log(`camstream (pid ${server.pid}) logged: ${problem}`);
  }
}
