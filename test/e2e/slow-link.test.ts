/**
 * Issue #4 over a real slow link: viewers in a network namespace behind a veth
 * pair whose server → viewer direction is shaped by tc to 2 MB/s (plus 20 ms delay
 * and 0.1 % loss where the kernel has netem; see helpers/netns.ts), beside fast
 * viewers on this machine. camstream's promises: viewers that keep up lose nothing
 * and see no slowdown; a slow viewer is stepped down to what its link carries, so
 * its picture stays fresh (bounded latency) and keeps moving; it steps back up when
 * the link recovers; a viewer that stops reading is disconnected.
 *
 * What is asserted does not depend on this machine's speed: frames counted by their
 * sequence numbers, and the slow viewers compared with the fast ones of the same run.
 * A fast viewer is not asserted to be never adapted or to lose no frame: the lag the
 * server measures includes its own scheduling delay, so on a busy machine it may step
 * a fast loopback viewer down too (issue #14); what is asserted is that the slow
 * viewers are the ones adapted and losing frames, and the fast ones get far more.
 *
 * The slow viewers are child processes (helpers/mjpeg-reader.ts) run with
 * `ip netns exec`; the fast ones are a reader process on the host, over loopback.
 */
import assert from 'node:assert/strict';
import { DROP_REASONS } from '../../src/metrics/index.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Camstream, CameraStats, ViewerStats } from '../../src/index.js';
import { cameraStats, waitForCamera } from '../helpers/cameras.js';
import type { ReaderResult, Tick } from '../helpers/mjpeg-reader.js';
import { createLink, measureThroughput, qdiscStats, requireNetns, type ShapedLink } from '../helpers/netns.js';
import { eventually, sleep, startServer } from '../helpers/server.js';

const SOURCE = 'synthetic:1920x1080@60';
const CAMERA = 'cam';
/** Seconds a viewer's write may make no progress before it is disconnected (test 3). */
const VIEWER_STALL_TIMEOUT_S = 2;
/** The link: tbf at 16 Mbit/s. */
const LINK_BYTES_PER_SECOND = 2_000_000;
/**
 * The server's RSS bound (this process is the server; readers run apart, and kept
 * only numbers). Measured here: ~97 MB before the viewers (node, fastify, the 30
 * rendered 1080p frames), 240–270 MB at the peak, with sharp/libvips loaded and one
 * or two profiles re-encoding 1080p at 15 fps in libvips' threads (their malloc
 * arenas are most of the growth). 400 MB leaves room for another machine's thread
 * count and allocator; frames leaking at the camera's 15 MB/s would cross it in ~10 s.
 */
const RSS_BOUND = 400 * 1024 * 1024;
const READER = fileURLToPath(new URL('../helpers/mjpeg-reader.js', import.meta.url));

const skip = requireNetns();

interface ChildReader {
  child: ChildProcess;
  ticks: Tick[];
  /** The first connection's result. */
  result: Promise<ReaderResult>;
  /** Every connection's result. */
  results: Promise<ReaderResult[]>;
}

describe('over a real slow link (tc-shaped veth into a network namespace)', { skip }, () => {
  let link: ShapedLink;
  let server: Camstream | undefined;
  let url: string;

  /**
   * A reader child: inside the namespace (slow viewers, over the shaped link) or on
   * the host (fast viewers, over loopback). Its `result` lines resolve `results`
   * once there is one per connection.
   */
  function readerProcess(agent: string, seconds: number, extra: string[] = [], where: 'namespace' | 'host' = 'namespace', connections = 1): ChildReader {
    const args = [READER, url, String(seconds), '--agent', agent, '--connections', String(connections), ...extra];
    const child = where === 'namespace' ? link.spawn(process.execPath, args) : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const ticks: Tick[] = [];
    const found: ReaderResult[] = [];
    let stderr = '';
    let buffered = '';
    const results = new Promise<ReaderResult[]>((resolve, reject) => {
      child.stdout?.on('data', (data: Buffer) => {
        buffered += data.toString();
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          const message = JSON.parse(line) as Tick | ReaderResult;
          if (message.type === 'tick') ticks.push(message);
          else if (found.push(message) === connections) resolve(found);
        }
      });
      child.stderr?.on('data', (data: Buffer) => (stderr += data.toString()));
      child.once('close', (code, signal) => reject(new Error(`reader ${agent} exited (${code ?? signal}) without its results: ${stderr}`)));
    });
    results.catch(() => {});
    const result = results.then((all) => all[0] as ReaderResult);
    result.catch(() => {});
    return { child, ticks, result, results };
  }

  function slowReader(agent: string, seconds: number, extra: string[] = []): ChildReader {
    return readerProcess(agent, seconds, extra);
  }

  function viewer(camera: CameraStats, agent: string): ViewerStats {
    const found = camera.viewerList.find((each) => each.userAgent === agent);
    assert.ok(found !== undefined, `viewer '${agent}' is listed in /api/stats`);
    return found;
  }

  before(async () => {
    link = createLink();
    link.shape();
    // The shaping works: a bulk transfer gets ~2 MB/s, not veth speed.
    const rate = await measureThroughput(link);
    assert.ok(rate > 0.5 * LINK_BYTES_PER_SECOND && rate < 1.1 * LINK_BYTES_PER_SECOND, `shaped link carries ${(rate / 1e6).toFixed(2)} MB/s, expected ~2 (${link.shapedWith})`);
    // Listening on the veth's host address only: the fast viewers in this process
    // reach it over loopback (a local address is routed via lo), the namespace over the veth.
    ({ server, url } = await startServer({
      host: link.hostAddress,
      cameras: [{ id: CAMERA, source: SOURCE, viewerStallTimeoutSeconds: VIEWER_STALL_TIMEOUT_S }],
      snapshotTimeoutMs: 15_000,
    }));
    // The on-demand camera renders its 1080p ring (~2 s) on the first request.
    const snapshot = await fetch(`${url}/cam/${CAMERA}/snapshot`);
    assert.equal(snapshot.status, 200);
    await snapshot.arrayBuffer();
    console.log(`# link ${link.namespace}: ${link.shapedWith}; measured ${(rate / 1e6).toFixed(2)} MB/s`);
  });

  after(async () => {
    link?.destroy();
    await server?.stop();
  });

  test('8 fast viewers get far more frames, losing fewer, while 2 viewers on a 2 MB/s link are adapted down, fresh and counted', { timeout: 120_000 }, async (t: TestContext) => {
    const SECONDS = 25;
    const WINDOW = 10;
    const slow = ['slow-1', 'slow-2'].map((agent) => slowReader(agent, SECONDS, ['--window', String(WINDOW)]));
    // The fast viewers are their own process, as real clients are: readers in this
    // (the server's) process would compete with it for the event loop.
    const fast = readerProcess('fast', SECONDS, ['--window', String(WINDOW)], 'host', 8);
    const started = performance.now();
    const startRss = process.memoryUsage().rss;
    let maxRss = 0;
    const rssSampler = setInterval(() => (maxRss = Math.max(maxRss, process.memoryUsage().rss)), 250);
    try {
      await sleep(Math.max(0, (SECONDS - 1) * 1000 - (performance.now() - started)));
      // Read while every viewer is connected, so the camera's totals are the viewers' sums.
      const camera = await cameraStats(url, CAMERA);
      const results = await Promise.all(slow.map((each) => each.result));
      const fastResults = await fast.results;
      maxRss = Math.max(maxRss, process.memoryUsage().rss);

      const lossOf = (stats: ViewerStats): number => stats.drops.total / Math.max(1, stats.framesSent + stats.drops.total);
      for (const result of fastResults) {
        const { window, agent } = result;
        const stats = viewer(camera, agent);
        t.diagnostic(
          `${agent}: ${window.frames} frames (${window.fps} fps), ${window.gaps} gaps, latency p50 ${window.latencyMs.p50} p99 ${window.latencyMs.p99} max ${window.latencyMs.max} ms; server: level ${stats.level}, drops ${JSON.stringify(stats.drops)}`,
        );
        assert.equal(result.error, undefined, `${agent}: ${result.error}`);
      }
      const fastFrames = fastResults.map((result) => result.window.frames).sort((a, b) => a - b);
      const fastMedian = fastFrames[Math.floor(fastFrames.length / 2)] as number;
      const fastP99 = Math.max(...fastResults.map((result) => result.window.latencyMs.p99));
      const fastLoss = Math.max(...fastResults.map((result) => lossOf(viewer(camera, result.agent))));

      // Every slow viewer's figures first: when one fails, the other's explain why (they share the link).
      for (const result of results) {
        const stats = viewer(camera, result.agent);
        const series = slow.find((each) => each.ticks[0]?.agent === result.agent)?.ticks.map((tick) => `${tick.fps}/${tick.maxLatencyMs}`).join(' ');
        t.diagnostic(
          `${result.agent}: ${result.window.frames} frames (${result.window.fps} fps), latency p50 ${result.window.latencyMs.p50} p99 ${result.window.latencyMs.p99} max ${result.window.latencyMs.max} ms, ` +
            `last sizes ${result.lastSizes.join(' ')}, frames/max latency ms per s ${series}; server: level ${stats.level}, profile ${stats.profile}, maxFps ${stats.maxFps}, fps ${stats.fps}, drops ${JSON.stringify(stats.drops)}, link ${JSON.stringify(stats.link)}`,
        );
      }
      for (const result of results) {
        const stats = viewer(camera, result.agent);
        const series = slow.find((each) => each.ticks[0]?.agent === result.agent)?.ticks.map((tick) => `${tick.fps}/${tick.maxLatencyMs}`).join(' ');
        assert.equal(result.error, undefined, `${result.agent}: ${result.error}`);
        // Fresh: its frames wait little longer than the fast viewers' of the same run
        // (both include the server's own delays; a slow viewer not stepped down
        // queues seconds of frames in its socket buffers).
        assert.ok(
          result.window.latencyMs.p99 <= fastP99 + 500,
          `${result.agent}: latency p99 ${result.window.latencyMs.p99} ms over the last ${WINDOW} s, more than 500 ms above the fast viewers' ${fastP99} ms (frames/max latency ms per s: ${series})`,
        );
        // Still moving: at least a tenth of a fast viewer's frames over the same window.
        assert.ok(result.window.frames >= fastMedian / 10, `${result.agent} got ${result.window.frames} frames over the last ${WINDOW} s, the fast viewers ${fastFrames.join(' ')}`);
        // …and far fewer than the fast viewers: the slow link is what holds it back, not them.
        assert.ok(fastFrames[0] as number >= 1.5 * result.window.frames, `the fast viewers got ${fastFrames.join(' ')} frames over the last ${WINDOW} s, ${result.agent} ${result.window.frames}: not far more`);
        assert.ok(stats.level > 0, `${result.agent} was not adapted (level 0)`);
        assert.ok(stats.profile !== 'source' || stats.maxFps !== null, `${result.agent} at level ${stats.level} has neither a profile nor a frame-rate cap`);
        const { replaced, adapted, encoder_busy, draining, total } = stats.drops;
        assert.ok(total > 0, `${result.agent} dropped nothing`);
        assert.equal(total, replaced + adapted + encoder_busy + draining, `${result.agent}'s drops are the sum of their reasons`);
        // The slow viewers are the ones losing frames: each lost a larger share of
        // what it was offered than any fast viewer did.
        assert.ok(lossOf(stats) > fastLoss, `${result.agent} lost ${(lossOf(stats) * 100).toFixed(1)} % of its frames, a fast viewer ${(fastLoss * 100).toFixed(1)} %`);
      }

      const { replaced, adapted, encoder_busy, draining, total } = camera.drops;
      t.diagnostic(`camera drops ${JSON.stringify(camera.drops)}; profiles ${JSON.stringify(camera.profiles)}; RSS ${(startRss / 2 ** 20).toFixed(0)} MB before the viewers, max ${(maxRss / 2 ** 20).toFixed(0)} MB`);
      assert.equal(total, replaced + adapted + encoder_busy + draining, 'the camera drops are the sum of their reasons');
      for (const reason of DROP_REASONS) {
        const sum = camera.viewerList.reduce((each, stats) => each + stats.drops[reason], 0);
        assert.equal(camera.drops[reason], sum, `camera drops.${reason} is the sum over its viewers`);
      }
      t.diagnostic(`link: ${qdiscStats(link.hostInterface).replace(/\s+/g, ' ')}`);
      assert.ok(maxRss < RSS_BOUND, `server RSS reached ${(maxRss / 2 ** 20).toFixed(0)} MB, above ${RSS_BOUND / 2 ** 20} MB`);
    } finally {
      clearInterval(rssSampler);
      fast.child.kill('SIGKILL');
      for (const each of slow) each.child.kill('SIGKILL');
    }
  });

  test('when the link recovers, an adapted viewer is back at the source profile and the source rate', { timeout: 300_000 }, async (t: TestContext) => {
    link.shape();
    // Runs longer than any of the waits below; stopped by its PID in the end.
    const reader = slowReader('recover', 290);
    try {
      const down = await waitForCamera(url, CAMERA, (camera) => (camera.viewerList.find((each) => each.userAgent === 'recover')?.level ?? 0) >= 3, { ceilingMs: 60_000 });
      const adapted = viewer(down, 'recover');
      assert.ok(adapted.level >= 3, `on the shaped link the viewer reached only level ${adapted.level}`);
      t.diagnostic(`adapted down to level ${adapted.level} (${adapted.profile}, maxFps ${adapted.maxFps}) after ${reader.ticks.length} s`);
      link.unshape();
      const unshaped = performance.now();
      let last: ViewerStats | undefined;
      // Back up a rung at a time, each after a healthy stretch; failed probes (on the
      // shaped link, or on a busy machine where the server's own delays count as lag,
      // issue #14) double that wait up to the controller's cap (60 s): 6 s here on a
      // quiet machine, 96 s seen with both cores kept busy. Only a controller that
      // never steps back up reaches this ceiling.
      await eventually(
        async () => {
          last = (await cameraStats(url, CAMERA)).viewerList.find((each) => each.userAgent === 'recover');
          return last?.level === 0 && last.profile === 'source';
        },
        () => `the viewer is back at level 0 after the link recovered; it is at level ${last?.level} (${last?.profile})`,
        { ceilingMs: 200_000, stepMs: 100 },
      );
      const seconds = (performance.now() - unshaped) / 1000;
      t.diagnostic(`back at level ${last?.level} (${last?.profile}) ${seconds.toFixed(1)} s after the shaping was removed`);
      // Then three ticks of the reader's in a row at the source rate and size (a tick
      // may be part of a second or more on a busy machine, so counted in frames, not
      // per second): it gets nearly every frame the camera publishes, by their
      // sequence numbers (a frame-rate cap left behind would skip half), full-size
      // source frames (a profile left behind sends far smaller ones). Waited for, not
      // taken at once: on a busy machine the server may step a viewer down for its
      // own delays for a moment (issue #14); one that stays capped never gets there.
      const from = reader.ticks.length + 1; // the tick in progress began before
      const sourceBytes = down.latestFrame?.bytes ?? 0;
      const atSource = (tick: Tick): boolean => tick.fps > 0 && tick.fps >= 0.8 * (tick.fps + tick.gaps) && tick.lastSize >= 0.9 * sourceBytes;
      const listed = (ticks: Tick[]): string => ticks.map((tick) => `${tick.fps}/${tick.gaps}/${Math.round(tick.lastSize / 1000)}`).join(' ');
      await eventually(
        () => reader.ticks.slice(from).some((_, i, ticks) => ticks.length >= i + 3 && ticks.slice(i, i + 3).every(atSource)),
        () => `three ticks in a row at the source rate and size (frames/skipped/KB: ${listed(reader.ticks.slice(from))}; source frames ${sourceBytes} bytes)`,
      );
      t.diagnostic(`client frames/skipped/KB per tick after recovery: ${listed(reader.ticks.slice(from))}; before: ${listed(reader.ticks.slice(0, from))}`);
    } finally {
      reader.child.kill('SIGKILL');
    }
  });

  test('a viewer in the namespace that stops reading is disconnected after viewer-stall-timeout', { timeout: 120_000 }, async (t: TestContext) => {
    const STALL_AFTER_S = 2;
    // Unshaped, the frozen reader's socket buffers fill within a second, so what is
    // measured is the timeout itself, not how long 2 MB/s takes to fill megabytes.
    if (link.shapedWith !== undefined) link.unshape();
    const before = (await cameraStats(url, CAMERA)).viewersStalled;
    // It reads again only after this long: the server must have disconnected it by
    // then (it does within a few seconds), or the stall would end.
    const reader = slowReader('frozen', STALL_AFTER_S + VIEWER_STALL_TIMEOUT_S + 20, ['--stall-after', String(STALL_AFTER_S)]);
    const spawned = performance.now();
    try {
      const camera = await waitForCamera(url, CAMERA, (each) => each.viewersStalled > before, { ceilingMs: 60_000 });
      const seconds = (performance.now() - spawned) / 1000 - STALL_AFTER_S;
      t.diagnostic(`disconnected ${seconds.toFixed(1)} s after it stopped reading (viewer-stall-timeout ${VIEWER_STALL_TIMEOUT_S} s); shaping: ${link.shapedWith ?? 'none'}`);
      assert.equal(camera.viewersStalled, before + 1, 'the stalled viewer is counted');
      assert.equal(camera.viewerList.find((each) => each.userAgent === 'frozen'), undefined, 'the stalled viewer is no longer listed');
      const result = await reader.result;
      t.diagnostic(`reader: ${result.frames} frames, closed by server ${result.closedByServer}, ${result.bytesAfterStall} bytes after it read again${result.error ? `, ${result.error}` : ''}`);
      assert.ok(result.closedByServer, 'the reader saw the server close the connection');
    } finally {
      reader.child.kill('SIGKILL');
    }
  });
});
