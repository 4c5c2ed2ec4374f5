import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { Camstream, CameraStats } from '../../src/index.js';
import { artifactPath, chromiumMissing, collectPageErrors, launchChromium, type HeadlessChromium } from '../helpers/browser.js';
import { waitForCamera } from '../helpers/cameras.js';
import { connectMjpeg } from '../helpers/mjpeg-client.js';
import { eventually, getJson, HANG_MS, startServer } from '../helpers/server.js';

const CAMERAS = [
  { id: 'front', source: 'synthetic:320x240@15' },
  { id: 'back', source: 'synthetic:256x144@10' },
  // Nothing listens on port 1: this camera keeps failing, and the page must say why.
  { id: 'broken', source: 'http://127.0.0.1:1/stream', alwaysOn: true },
];

describe('the dashboard at /', () => {
  let server: Camstream;
  let url: string;
  before(async () => {
    ({ server, url } = await startServer({ cameras: CAMERAS }));
  });
  after(() => server.stop());

  test('serves its page, script, styles and uPlot, each with its type and a content security policy', async () => {
    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/dashboard\/[^"]+)"/g)].map((match) => match[1] as string);
    assert.deepEqual(new Set(assets), new Set(['/dashboard/icon.svg', '/dashboard/uplot.css', '/dashboard/dashboard.css', '/dashboard/uplot.js', '/dashboard/dashboard.js']));
    for (const asset of assets) {
      const response = await fetch(`${url}${asset}`);
      assert.equal(response.status, 200, asset);
      const type = response.headers.get('content-type') ?? '';
      const expected = asset.endsWith('.js') ? /^text\/javascript/ : asset.endsWith('.css') ? /^text\/css/ : /^image\/svg\+xml/;
      assert.match(type, expected, asset);
      assert.ok((await response.arrayBuffer()).byteLength > 100, `${asset} has content`);
    }
    const missing = await fetch(`${url}/dashboard/../package.json`);
    assert.equal(missing.status, 404, 'only the listed files are served');
  });

  describe('in headless Chromium', { skip: chromiumMissing() }, () => {
    let chromium: HeadlessChromium;
    before(async () => {
      chromium = await launchChromium();
    });
    after(() => chromium.close());

    // The callbacks below run in the page (their elements are DOM elements; the test
    // build has no DOM types, so they are used untyped).
    /** Points drawn in each chart of a camera card. */
    const points = (page: Page, id: string): Promise<number[]> =>
      page.locator(`[data-camera="${id}"] .chart`).evaluateAll((charts) => charts.map((chart) => Number(chart.dataset.points ?? 0)));
    /** Each camera canvas's size and the frames drawn on it, in page order. */
    const canvases = (page: Page, selector = '[data-camera] canvas[data-field="stream"]'): Promise<{ width: number; height: number; frames: number }[]> =>
      page.locator(selector).evaluateAll((elements) => elements.map((canvas) => ({ width: canvas.width, height: canvas.height, frames: Number(canvas.dataset.frames ?? 0) })));
    const until = (what: string, check: () => Promise<boolean>): Promise<void> => eventually(check, what, { stepMs: 100 });

    test('shows every live stream, charts that grow, the viewer table, source errors; no console errors', async () => {
      const page = await chromium.browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors = collectPageErrors(page);
      const outside = connectMjpeg(url, '/cam/front/stream', `GET /cam/front/stream HTTP/1.1\r\nHost: x\r\nUser-Agent: outside-viewer/1.0\r\n\r\n`);
      try {
        await page.goto(`${url}/`);
        await page.waitForSelector('[data-camera="broken"]');
        assert.equal(await page.locator('[data-camera]').count(), 3, 'one card per camera');

        // Each live camera's canvas has drawn frames of the camera's size.
        await until('both live cameras show frames', async () => (await canvases(page)).slice(0, 2).every(({ frames }) => frames >= 2));
        assert.deepEqual(
          (await canvases(page)).slice(0, 2).map(({ width, height }) => [width, height]),
          [
            [320, 240],
            [256, 144],
          ],
        );
        // The broken camera still streams: its "no signal" card.
        await until('the broken camera shows its no-signal card', async () => ((await canvases(page, '[data-camera="broken"] canvas'))[0]?.frames ?? 0) > 0);

        // Charts receive a new point each second.
        const before = await points(page, 'front');
        assert.equal(before.length, 3, 'fps, latency and drops charts');
        await until('every chart has two more points', async () => (await points(page, 'front')).every((count) => count >= Math.max(...before) + 2));

        // The outside viewer appears in the front camera's table, with its user agent.
        await page.locator('[data-camera="front"] tbody tr', { hasText: 'outside-viewer/1.0' }).waitFor({ timeout: HANG_MS });
        assert.equal(await page.locator('[data-camera="front"] [data-field="state"]').textContent(), 'live');

        // The failing source's state and reason are on its card.
        const broken = page.locator('[data-camera="broken"]');
        await broken.locator('[data-field="reason"]:not([hidden])').waitFor({ timeout: HANG_MS });
        assert.match((await broken.locator('[data-field="state"]').textContent()) ?? '', /^(retrying|starting|stalled)$/);
        assert.match((await broken.locator('[data-field="reason"]').textContent()) ?? '', /127\.0\.0\.1:1|refused/i);
        assert.match((await broken.locator('[data-field="fps"]').textContent()) ?? '', /^\d+\.\d$/, 'an upstream has no target rate to show');

        await page.screenshot({ path: artifactPath('dashboard.png'), fullPage: true });
        assert.deepEqual(errors, []);
      } finally {
        outside.close();
        await page.close();
      }
    });

    test('Pause ends the card\'s frames (its viewer leaves the server), Play brings them back', async () => {
      const page = await chromium.browser.newPage({ viewport: { width: 1280, height: 900 } });
      try {
        await page.goto(`${url}/`);
        await until('the back camera shows a frame', async () => ((await canvases(page, '[data-camera="back"] canvas'))[0]?.frames ?? 0) > 0);
        await waitForCamera(url, 'back', (camera) => camera.viewers === 1);
        await page.click('[data-camera="back"] [data-action="pause"]');
        const paused = await waitForCamera(url, 'back', (camera) => camera.viewers === 0);
        assert.equal(paused.viewers, 0, 'the paused image closed its stream');
        await page.click('[data-camera="back"] [data-action="pause"]');
        const playing = await waitForCamera(url, 'back', (camera) => camera.viewers === 1);
        assert.equal(playing.viewers, 1, 'Play opened it again');
      } finally {
        await page.close();
      }
    });

    test('fits a phone in the dark: no sideways scrolling, dark background', async () => {
      const page = await chromium.browser.newPage({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
      const errors = collectPageErrors(page);
      try {
        await page.goto(`${url}/`);
        await until('the charts have points', async () => (await points(page, 'front')).every((count) => count >= 2));
        const scrollWidth = await page.locator('html').evaluate((html) => html.scrollWidth);
        const background = await page.locator('body').evaluate((body) => body.ownerDocument.defaultView.getComputedStyle(body).backgroundColor);
        assert.ok(scrollWidth <= 390, `page is ${scrollWidth} px wide on a 390 px screen`);
        const [r, g, b] = (background.match(/\d+/g) ?? []).map(Number) as [number, number, number];
        assert.ok(r + g + b < 150, `dark background, got ${background}`);
        await page.screenshot({ path: artifactPath('dashboard-phone-dark.png'), fullPage: true });
        assert.deepEqual(errors, []);
      } finally {
        await page.close();
      }
    });
  });
});

describe('the dashboard with twelve cameras', { skip: chromiumMissing() }, () => {
  const ids = Array.from({ length: 12 }, (_, index) => `cam${index + 1}`);
  let server: Camstream;
  let url: string;
  let chromium: HeadlessChromium;
  before(async () => {
    ({ server, url } = await startServer({ cameras: ids.map((id) => ({ id, source: 'synthetic:192x108@15' })) }));
    chromium = await launchChromium();
  });
  after(async () => {
    await chromium.close();
    await server.stop();
  });

  test('all twelve over one WebSocket: every canvas keeps advancing and catches up with its camera\'s newest frame', async () => {
    const page = await chromium.browser.newPage({ viewport: { width: 1600, height: 1000 } });
    const errors = collectPageErrors(page);
    try {
      await page.goto(`${url}/`);
      // Frames drawn per camera, read from the page, and the sequence number of the one on the canvas.
      const drawn = (): Promise<{ id: string; frames: number; sequence: number }[]> =>
        page.locator('[data-camera]').evaluateAll((cards) =>
          cards.map((card) => {
            const canvas = card.querySelector('canvas');
            return { id: card.dataset.camera, frames: Number(canvas.dataset.frames ?? 0), sequence: Number(canvas.dataset.sequence ?? -1) };
          }),
        );
      const serverStats = async (): Promise<CameraStats[]> => (await getJson<{ cameras: CameraStats[] }>(`${url}/api/stats`)).cameras;
      // Twelve on-demand cameras start cold at once (each renders its ring): wait for
      // every canvas to draw, however long a busy machine takes; only a hang reaches the ceiling.
      let shown = await drawn();
      await eventually(async () => (shown = await drawn()).length === 12 && shown.every(({ frames }) => frames >= 1), () => `every camera drew a frame: ${JSON.stringify(shown)}`, { ceilingMs: 120_000, stepMs: 200 });

      // One connection carries them all: every camera has one viewer, and it is the same socket.
      const stats = await serverStats();
      assert.deepEqual(stats.map((camera) => camera.id).sort(), [...ids].sort());
      const remotes = new Set(stats.flatMap((camera) => camera.viewerList.map((viewer) => viewer.remote)));
      assert.equal(remotes.size, 1, `one WebSocket for twelve cameras, got viewers from ${[...remotes].join(', ')}`);
      assert.ok(stats.every((camera) => camera.viewers === 1), `one viewer per camera: ${stats.map((camera) => `${camera.id}:${camera.viewers}`).join(' ')}`);

      // Each canvas keeps advancing, and reaches the frame its camera had captured
      // when we looked (the newest then): a canvas stuck on an old frame, or one
      // starved by the others on the shared socket, never gets there.
      const first = new Map((await drawn()).map((each) => [each.id, each]));
      const newest = new Map(stats.map((camera) => [camera.id, camera.latestFrame?.sequence ?? 0]));
      await eventually(
        async () =>
          (shown = await drawn()).every(({ id, frames, sequence }) => frames >= (first.get(id)?.frames ?? 0) + 10 && sequence >= (newest.get(id) ?? Infinity)),
        () => `every canvas drew 10 more frames and reached its camera's newest sequence ${JSON.stringify([...newest])}: ${JSON.stringify(shown)}`,
        { stepMs: 100 },
      );
      // Over the same window the cameras (all alike) fared alike: none drew less than
      // a quarter of what the busiest one drew.
      const advanced = shown.map(({ id, frames }) => ({ id, frames: frames - (first.get(id)?.frames ?? 0) }));
      const most = Math.max(...advanced.map(({ frames }) => frames));
      for (const { id, frames } of advanced) assert.ok(frames >= most / 4, `${id} drew ${frames} frames while another drew ${most}: ${JSON.stringify(advanced)}`);
      // No canvas shows a frame its camera never captured (a frame routed to the wrong card).
      const after = await serverStats();
      for (const camera of after) {
        const canvas = shown.find(({ id }) => id === camera.id);
        assert.ok((canvas?.sequence ?? Infinity) <= (camera.latestFrame?.sequence ?? -1), `${camera.id}: canvas sequence ${canvas?.sequence}, camera's newest ${camera.latestFrame?.sequence}`);
      }
      await page.screenshot({ path: artifactPath('dashboard-12-cameras.png'), fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
});

describe('the dashboard behind a bearer token', { skip: chromiumMissing() }, () => {
  const token = 'dashboard-token-0123456789';
  let server: Camstream;
  let url: string;
  let chromium: HeadlessChromium;
  before(async () => {
    ({ server, url } = await startServer({ source: 'synthetic:160x120@10', auth: { tokens: [token] } }));
    chromium = await launchChromium();
  });
  after(async () => {
    await chromium.close();
    await server.stop();
  });

  test('opened as /?access_token=…, it passes the token on to its figures, its pictures and its links', async () => {
    const page = await chromium.browser.newPage();
    const errors = collectPageErrors(page);
    try {
      await page.goto(`${url}/?access_token=${token}`);
      const frames = (): Promise<number> => page.locator('[data-camera="default"] canvas[data-field="stream"]').evaluate((canvas) => Number(canvas.dataset.frames ?? 0));
      await eventually(async () => (await page.locator('[data-camera]').count()) === 1 && (await frames()) >= 3, 'figures and frames arrive with the token', { stepMs: 100 });
      const link = await page.locator('[data-camera="default"] [data-field="snapshot-link"]').getAttribute('href');
      assert.equal(link, `/cam/default/snapshot?access_token=${token}`);
      assert.equal((await fetch(`${url}${link}`)).status, 200);
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
});
