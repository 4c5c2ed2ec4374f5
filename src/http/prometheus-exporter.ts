/**
 * camstream's figures in the Prometheus text format, through prom-client. This
 * module is imported only by the first /metrics request (see metrics-route.ts):
 * it is what loads prom-client.
 *
 * Nothing here is incremented on the hot path. Each metric's collect() reads the
 * figures camstream keeps anyway (camera counters, HDR histograms, source status,
 * pool stats), taken once per scrape into a Scrape, and sets the metric from them.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { PoolStats } from '../frame/index.js';
import { DROP_REASONS, type DurationStats } from '../metrics/index.js';
import type { CameraStats } from '../stream/index.js';
import { QuantileSummary, type CameraDurations } from './quantile-summary.js';

/** The figures one scrape reports: every camera's (viewer loops merged in) and the pool's. */
export interface Scrape {
  cameras: readonly CameraStats[];
  pool: PoolStats;
}

type Label = 'camera' | 'reason';

/** One series of a metric: its labels and value. */
interface Series {
  labels: Partial<Record<Label, string>>;
  value: number;
}

/** One series per camera, labelled `camera`; a camera whose figure is null or undefined has none. */
function perCamera(read: (camera: CameraStats) => number | null | undefined): (scrape: Scrape) => Series[] {
  return (scrape) =>
    scrape.cameras.flatMap((camera) => {
      const value = read(camera);
      return value === null || value === undefined ? [] : [{ labels: { camera: camera.id }, value }];
    });
}

/** The one series of a figure of the buffer pool. */
function ofPool(read: (pool: PoolStats) => number): (scrape: Scrape) => Series[] {
  return (scrape) => [{ labels: {}, value: read(scrape.pool) }];
}

/** Every label a camstream series may have: no per-viewer one, so series do not grow with viewers. */
const LABELS: Label[] = ['camera', 'reason'];

/**
 * prom-client's default metrics that are gauges named like counters (`_total`), so
 * promtool's lint rejects them; their per-type breakdowns (`nodejs_active_handles`
 * and so on) stay and sum to the same figures.
 */
const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export class PrometheusExporter {
  private readonly registry = new Registry();
  private scrape: Scrape | undefined;
  /** Scrapes one at a time: collect() reads `scrape`, which each render replaces. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    for (const name of MISNAMED_DEFAULTS) this.registry.removeSingleMetric(name);
    this.gauge('camstream_source_up', 'Whether the camera\'s source delivers frames (1: live; 0: starting, stalled, retrying, idle or stopped).', perCamera((c) => (c.state === 'live' ? 1 : 0)));
    this.gauge('camstream_source_running', 'Whether camstream runs the camera\'s source now (1: always-on or watched, live or not; 0: idle on demand, or stopped).', perCamera((c) => (c.state === 'idle' || c.state === 'stopped' ? 0 : 1)));
    this.counter('camstream_source_restarts_total', 'Times the source was restarted after it exited, failed or stalled.', perCamera((c) => c.restarts));
    this.gauge('camstream_source_last_frame_age_seconds', 'Seconds since the source\'s last frame.', perCamera((c) => (c.lastFrameAgeMs === null ? undefined : c.lastFrameAgeMs / 1000)));
    this.gauge('camstream_source_target_fps', 'The frame rate the source is set to deliver (its nominal rate), where known.', perCamera((c) => c.nominalFps));
    this.counter('camstream_frames_captured_total', 'Frames the source delivered.', perCamera((c) => c.framesCaptured));
    this.counter('camstream_frames_sent_total', 'Frames fully handed to viewers\' sockets, all viewers.', perCamera((c) => c.framesSent));
    this.counter('camstream_sent_bytes_total', 'Bytes of multipart parts handed to viewers\' sockets.', perCamera((c) => c.bytesSent));
    this.gauge('camstream_viewers', 'Viewers watching now.', perCamera((c) => c.viewers));
    this.counter('camstream_viewer_connections_total', 'Viewers that connected since start.', perCamera((c) => c.viewersTotal));
    this.counter(
      'camstream_frames_dropped_total',
      'Frames not sent to a viewer, by reason: replaced (a newer frame took its place), adapted (kept to an adapted viewer\'s lower rate), encoder_busy (its profile was still encoding), draining (its reader held a backlog of unread frames, and nothing was sent until it read them).',
      (scrape) => scrape.cameras.flatMap((camera) => DROP_REASONS.map((reason) => ({ labels: { camera: camera.id, reason }, value: camera.drops[reason] }))),
    );
    this.counter('camstream_encode_seconds_total', 'Time spent re-encoding frames for adapted viewers (one libvips thread per encode, so about its CPU time).', perCamera((c) => c.encode.totalMs / 1000));
    this.gauge('camstream_encode_budget_ratio', 'The camera\'s encoding budget: CPU seconds its re-encoding may take per second.', perCamera((c) => c.encode.budgetMsPerSecond / 1000));
    this.counter('camstream_encode_over_budget_frames_total', 'Frames not re-encoded because the encoding budget did not pay for them: adapted viewers got a lower frame rate instead.', perCamera((c) => c.encode.framesOverBudget));
    this.counter('camstream_server_late_total', 'Times a viewer\'s frame was late, or gave way in its queue, while its socket said its reader had everything: the server, not the viewer, was slow (no viewer is stepped down for it).', perCamera((c) => c.serverLate));
    this.summary('camstream_frame_acquisition_seconds', 'Capture (the source has the whole frame) to published; quantiles of the last 1-2 minutes.', (c) => c.acquisition);
    this.summary('camstream_frame_latency_seconds', 'Capture to the part handed to the kernel, every viewer write; quantiles of the last 1-2 minutes.', (c) => c.latency);
    this.summary('camstream_frame_interval_seconds', 'Time between frames from the source; quantiles of the last 1-2 minutes.', (c) => c.frameInterval);
    this.counter('camstream_pool_hits_total', 'Buffer acquisitions served from an idle pooled buffer.', ofPool((p) => p.hits));
    this.counter('camstream_pool_misses_total', 'Buffer acquisitions that had to allocate.', ofPool((p) => p.misses));
    this.gauge('camstream_pool_buffers_in_use', 'Pooled buffers handed out and not yet released.', ofPool((p) => p.inUse));
    this.gauge('camstream_pool_pooled_bytes', 'Bytes held by pooled buffers, idle and in use.', ofPool((p) => p.bytesPooled));
    this.gauge('camstream_pool_idle_bytes', 'Bytes held by idle pooled buffers.', ofPool((p) => p.bytesIdle));
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text for `scrape`. */
  render(scrape: Scrape): Promise<string> {
    const rendered = this.queue.then(() => {
      this.scrape = scrape;
      return this.registry.metrics();
    });
    this.queue = rendered.catch(() => undefined);
    return rendered;
  }

  /** A gauge set from each scrape's figures. */
  private gauge(name: string, help: string, series: (scrape: Scrape) => Series[]): void {
    const fill = this.filler(series);
    new Gauge({ ...this.options(name, help), collect() { this.reset(); fill((labels, value) => this.set(labels, value)); } });
  }

  /** A counter set from each scrape's running totals: a counter has no set(), so reset, then add the total. */
  private counter(name: string, help: string, series: (scrape: Scrape) => Series[]): void {
    const fill = this.filler(series);
    new Counter({ ...this.options(name, help), collect() { this.reset(); fill((labels, value) => this.inc(labels, value)); } });
  }

  private options(name: string, help: string): { name: string; help: string; labelNames: Label[]; registers: Registry[] } {
    return { name, help, labelNames: LABELS, registers: [this.registry] };
  }

  /** Calls `set` with every series of the scrape being rendered (none before the first). */
  private filler(series: (scrape: Scrape) => Series[]): (set: (labels: Series['labels'], value: number) => void) => void {
    return (set) => {
      if (this.scrape !== undefined) for (const { labels, value } of series(this.scrape)) set(labels, value);
    };
  }

  private summary(name: string, help: string, read: (camera: CameraStats) => DurationStats): void {
    const durations = (): CameraDurations[] => (this.scrape?.cameras ?? []).map((camera) => ({ camera: camera.id, stats: read(camera) }));
    // Registered like prom-client's own metrics, which it formats the same way (see QuantileSummary).
    this.registry.registerMetric(new QuantileSummary(name, help, durations) as unknown as Metric<string>);
  }
}
