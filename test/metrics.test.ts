import assert from 'node:assert/strict';
import { DROP_REASONS } from '../src/metrics/index.js';
import { after, before, describe, test } from 'node:test';
import type { Camstream, CameraStats, PoolStats } from '../src/index.js';
import { cameraStats } from './helpers/cameras.js';
import { encodeJpeg } from './helpers/jpeg-samples.js';
import { connectMjpeg } from './helpers/mjpeg-client.js';
import { parseExposition, promtool, valueOf, type Sample } from './helpers/prometheus-text.js';
import { PushSource } from './helpers/push-source.js';
import { eventually, getJson, HANG_MS, sleep, startServer } from './helpers/server.js';
import { requireTool } from './helpers/tools.js';

/** The labels camstream's own series may carry: no per-viewer label, so series do not grow with viewers. */
const ALLOWED_LABELS = new Set(['camera', 'reason', 'quantile']);

async function scrape(url: string): Promise<{ text: string; samples: Sample[]; contentType: string | null }> {
  const response = await fetch(`${url}/metrics`);
  assert.equal(response.status, 200);
  const text = await response.text();
  return { text, samples: parseExposition(text), contentType: response.headers.get('content-type') };
}

describe('GET /metrics with one event loop', () => {
  let server: Camstream;
  let url: string;
  before(async () => {
    ({ server, url } = await startServer({ source: 'synthetic:320x240@30' }));
  });
  after(() => server.stop());

  test('reports frames, drops by reason, latency quantiles, pool and process figures', async () => {
    const viewer = connectMjpeg(url);
    let metrics: Awaited<ReturnType<typeof scrape>>;
    let between: { cameras: CameraStats[]; pool: PoolStats };
    let later: Awaited<ReturnType<typeof scrape>>;
    try {
      await viewer.waitForParts(20, HANG_MS);
      // /api/stats read between two scrapes: a counter there lies between the two
      // scrapes' values (same figures, same units), whatever happened meanwhile.
      metrics = await scrape(url);
      between = await getJson<{ cameras: CameraStats[]; pool: PoolStats }>(`${url}/api/stats`);
      later = await scrape(url);
    } finally {
      viewer.close();
    }
    const { samples, contentType } = metrics;
    const stats = between.cameras[0] as CameraStats;
    assert.match(contentType ?? '', /^text\/plain; version=0\.0\.4/);
    const camera = { camera: 'default' };
    const bracket = (name: string, labels: Record<string, string>, value: number, scale = 1): void => {
      const [first, second] = [valueOf(samples, name, labels) * scale, valueOf(later.samples, name, labels) * scale];
      assert.ok(first <= value * 1.000001 + 1e-9 && value <= second * 1.000001 + 1e-9, `${name}${JSON.stringify(labels)}: /api/stats says ${value}, the scrapes before and after ${first} and ${second}`);
    };
    const sent = valueOf(samples, 'camstream_frames_sent_total', camera);
    const captured = valueOf(samples, 'camstream_frames_captured_total', camera);
    assert.ok(sent >= 19, `frames sent ${sent} after 20 parts arrived`);
    assert.ok(sent <= captured, `sent ${sent} to one viewer, captured ${captured}`);
    bracket('camstream_frames_sent_total', camera, stats.framesSent);
    bracket('camstream_frames_captured_total', camera, stats.framesCaptured);
    for (const reason of DROP_REASONS) {
      bracket('camstream_frames_dropped_total', { ...camera, reason }, stats.drops[reason]);
    }
    assert.ok(valueOf(samples, 'camstream_sent_bytes_total', camera) > sent * 1000, 'bytes of JPEG parts');
    bracket('camstream_sent_bytes_total', camera, stats.bytesSent);

    // Every write is one latency observation; every frame one acquisition and (after the first) one interval.
    assert.equal(valueOf(samples, 'camstream_frame_latency_seconds_count', camera), sent);
    assert.equal(valueOf(samples, 'camstream_frame_acquisition_seconds_count', camera), captured);
    assert.equal(valueOf(samples, 'camstream_frame_interval_seconds_count', camera), captured - 1);
    // In seconds: the sums are /api/stats' milliseconds / 1000.
    bracket('camstream_frame_latency_seconds_sum', camera, stats.latency.sumMs, 1000);
    bracket('camstream_frame_interval_seconds_sum', camera, stats.frameInterval.sumMs, 1000);
    const latency = ['0.5', '0.95', '0.99', '1'].map((quantile) => valueOf(samples, 'camstream_frame_latency_seconds', { ...camera, quantile }));
    assert.ok(latency.every((value, i) => Number.isFinite(value) && value > 0 && (i === 0 || value >= (latency[i - 1] as number))), `latency quantiles ${latency.join(', ')} s`);
    // The quantiles in seconds too (a factor 1000 off would show; a busy moment between the reads would not).
    const ratio = (seconds: number, ms: number | null): number => (seconds * 1000) / (ms ?? Number.NaN);
    const latencyRatio = ratio(latency[0] as number, stats.latency.p50Ms);
    assert.ok(latencyRatio > 0.1 && latencyRatio < 10, `median latency ${latency[0]} s, /api/stats ${stats.latency.p50Ms} ms`);
    const medianInterval = valueOf(samples, 'camstream_frame_interval_seconds', { ...camera, quantile: '0.5' });
    const intervalRatio = ratio(medianInterval, stats.frameInterval.p50Ms);
    assert.ok(intervalRatio > 0.5 && intervalRatio < 2, `median interval ${medianInterval} s, /api/stats ${stats.frameInterval.p50Ms} ms`);
    assert.ok(valueOf(samples, 'camstream_frame_latency_seconds_sum', camera) > 0);

    assert.equal(valueOf(samples, 'camstream_source_up', camera), 1);
    assert.equal(valueOf(samples, 'camstream_source_running', camera), 1);
    assert.equal(valueOf(samples, 'camstream_source_target_fps', camera), 30);
    assert.equal(valueOf(samples, 'camstream_source_restarts_total', camera), 0);
    assert.equal(valueOf(samples, 'camstream_viewers', camera), 1);
    assert.ok(valueOf(samples, 'camstream_viewer_connections_total', camera) >= 1);
    // The pool's counters are /api/stats' pool figures; of its gauges, the idle bytes are part of the pooled ones.
    bracket('camstream_pool_hits_total', {}, between.pool.hits);
    bracket('camstream_pool_misses_total', {}, between.pool.misses);
    for (const scraped of [samples, later.samples]) {
      const inUse = valueOf(scraped, 'camstream_pool_buffers_in_use');
      assert.ok(Number.isInteger(inUse) && inUse >= 0 && inUse <= valueOf(scraped, 'camstream_pool_hits_total') + valueOf(scraped, 'camstream_pool_misses_total'), `pool buffers in use ${inUse}: never more than were acquired`);
      assert.ok(valueOf(scraped, 'camstream_pool_idle_bytes') <= valueOf(scraped, 'camstream_pool_pooled_bytes'), 'idle bytes are part of the pooled bytes');
    }
    assert.ok(valueOf(samples, 'process_resident_memory_bytes') > 0, 'process metrics');

    for (const sample of samples.filter((each) => each.name.startsWith('camstream_'))) {
      for (const label of Object.keys(sample.labels)) assert.ok(ALLOWED_LABELS.has(label), `${sample.name} has label ${label}`);
    }
  });

  test('passes promtool check metrics', { skip: requireTool('promtool', 'prometheus') }, async () => {
    const { text } = await scrape(url);
    const checked = promtool(['check', 'metrics'], text);
    assert.equal(checked.status, 0, `promtool check metrics:\n${checked.output}`);
    assert.equal(checked.output, '', 'no lint findings');
  });

  test('/api/stats gives each camera its latency percentiles', async () => {
    const viewer = connectMjpeg(url);
    try {
      await viewer.waitForParts(10, HANG_MS);
    } finally {
      viewer.close();
    }
    const { latency, acquisition } = await cameraStats(url, 'default');
    const { p50Ms, p95Ms, p99Ms, maxMs, count } = latency;
    assert.ok(p50Ms !== null && p95Ms !== null && p99Ms !== null && maxMs !== null, 'percentiles of the last minute');
    assert.ok(p50Ms > 0 && p50Ms <= p95Ms && p95Ms <= p99Ms && p99Ms <= maxMs, `latency ${p50Ms} ≤ ${p95Ms} ≤ ${p99Ms} ≤ ${maxMs} ms`);
    assert.ok(count >= 10);
    assert.ok(acquisition.count > 0 && acquisition.p99Ms !== null);
  });
});

describe('GET /metrics with a viewer loop (--workers 1)', () => {
  let server: Camstream;
  let url: string;
  const source = new PushSource();
  let jpeg: Buffer;
  before(async () => {
    jpeg = await encodeJpeg({ width: 320, height: 240, seed: 4 });
    ({ server, url } = await startServer({ cameras: [{ id: 'push', source, alwaysOn: true }], workers: 1 }));
  });
  after(() => server.stop());

  test('counts the loop\'s viewers, frames and latency as /api/stats does', async () => {
    const viewers = [connectMjpeg(url, '/cam/push/stream'), connectMjpeg(url, '/cam/push/stream')];
    try {
      await Promise.all(viewers.map((viewer) => viewer.head));
      await eventually(async () => (await cameraStats(url, 'push')).viewers === 2, 'both viewers counted');
      const inLoop = (await cameraStats(url, 'push')).viewerList.filter((viewer) => viewer.id >= 1_000_000);
      assert.equal(inLoop.length, 1, 'one viewer is served by the loop');
      for (let i = 0; i < 20; i++) {
        source.push(jpeg);
        await sleep(10);
      }
      await Promise.all(viewers.map((viewer) => viewer.waitForParts(20, HANG_MS)));
      const { samples } = await scrape(url);
      const camera = { camera: 'push' };
      const stats: CameraStats = await cameraStats(url, 'push');
      assert.equal(valueOf(samples, 'camstream_frames_sent_total', camera), 40, 'both loops\' writes');
      assert.equal(valueOf(samples, 'camstream_frames_sent_total', camera), stats.framesSent);
      assert.equal(valueOf(samples, 'camstream_viewers', camera), 2);
      assert.equal(valueOf(samples, 'camstream_frame_latency_seconds_count', camera), 40, 'a latency per write, both loops');
      assert.ok(Number.isFinite(valueOf(samples, 'camstream_frame_latency_seconds', { ...camera, quantile: '0.99' })));
      // A push source has no nominal rate: no target to compare with.
      assert.equal(samples.filter((sample) => sample.name === 'camstream_source_target_fps').length, 0);
    } finally {
      for (const viewer of viewers) viewer.close();
    }
  });
});
