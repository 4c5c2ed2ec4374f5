// The camstream dashboard: follows /api/events (one snapshot of /api/stats a
// second), shows each camera's live stream, charts and viewers. No framework: the
// page is a template cloned per camera and filled with textContent (never HTML),
// and uPlot (loaded before this module as a global) draws the charts.
import type UPlot from 'uplot';
import { CanvasView, LiveFrames, withPageToken, type FrameMessage } from './live-frames.js';

declare const uPlot: typeof UPlot;

/** The parts of GET /api/stats the dashboard reads (README, "/api/stats"). */
interface Durations {
  p50Ms: number | null;
  p99Ms: number | null;
}
interface Drops {
  replaced: number;
  adapted: number;
  encoder_busy: number;
  total: number;
}
interface ViewerFigures {
  id: number;
  remote: string;
  userAgent: string | null;
  connectedAt: string;
  framesSent: number;
  bytesSent: number;
  fps: number;
  drops: Drops;
  lastLatencyMs: number;
  level: number;
  maxFps: number | null;
  profile: string;
}
interface CameraFigures {
  id: string;
  source: string;
  state: string;
  reason: string | null;
  retryInSeconds: number | null;
  restarts: number;
  lastFrameAgeMs: number | null;
  fps: number;
  /** Absent for sources with no fixed rate (an HTTP upstream). */
  nominalFps?: number;
  latency: Durations;
  bytesSent: number;
  drops: Drops;
  viewers: number;
  viewersTotal: number;
  viewerList: ViewerFigures[];
}
interface Stats {
  version: string;
  time: string;
  cameras: CameraFigures[];
  pool: { hits: number; misses: number; inUse: number; idle: number; bytesPooled: number };
  process: { rssBytes: number; cpuUserSeconds: number; cpuSystemSeconds: number; uptimeSeconds: number };
}

/** Two minutes of points at one a second. */
const HISTORY = 120;
const CHART_HEIGHT = 110;

// ---- formatting -------------------------------------------------------------

const bytes = (n: number): string => {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value >= 100 || unit === 0 ? 0 : 1)} ${units[unit]}`;
};
const ms = (value: number | null): string => (value === null ? '–' : value < 10 ? value.toFixed(2) : value.toFixed(0));
const duration = (seconds: number): string => {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
};

const clock = (seconds: number): string => new Date(seconds * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

/** Counters arrive as totals; the charts and tiles show what changed in the last second. */
class Rate {
  private last: { value: number; time: number } | undefined;
  /** Per second since the previous sample, or null for the first (or after a counter reset). */
  next(value: number, time: number): number | null {
    const previous = this.last;
    this.last = { value, time };
    if (previous === undefined || value < previous.value || time <= previous.time) return null;
    return (value - previous.value) / (time - previous.time);
  }
}

function field<T extends HTMLElement = HTMLElement>(root: ParentNode, name: string): T {
  const element = root.querySelector<T>(`[data-field="${name}"]`);
  if (element === null) throw new Error(`dashboard template lacks data-field="${name}"`);
  return element;
}

function byId(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`dashboard page lacks #${id}`);
  return element;
}

const cssVar = (name: string): string => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

// ---- charts -----------------------------------------------------------------

interface SeriesSpec {
  label: string;
  color: string;
  dash?: number[];
}

/**
 * One small time chart over the last HISTORY seconds. Data is kept here so the
 * chart can be rebuilt when the colour scheme changes (uPlot draws on a canvas,
 * so its colours are fixed at creation).
 */
class TimeChart {
  private readonly data: (number | null)[][];
  private plot: UPlot | undefined;

  constructor(
    private readonly container: HTMLElement,
    private readonly title: string,
    private readonly unit: string,
    private readonly series: SeriesSpec[],
  ) {
    this.data = [[], ...series.map(() => [])];
    new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: CHART_HEIGHT })).observe(container);
  }

  private width(): number {
    return Math.max(160, Math.floor(this.container.clientWidth));
  }

  /** (Re)creates the plot in the current colour scheme (first called by push, when the card is in the page and has a width). */
  build(): void {
    this.plot?.destroy();
    const axis = { stroke: cssVar('--muted'), grid: { stroke: cssVar('--grid'), width: 1 }, ticks: { stroke: cssVar('--grid'), width: 1 } };
    const unit = this.unit;
    this.plot = new uPlot(
      {
        title: this.title,
        width: this.width(),
        height: CHART_HEIGHT,
        cursor: { drag: { x: false, y: false } },
        legend: { live: false },
        scales: { y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] } },
        axes: [
          { ...axis, space: 70, values: (_u, ticks) => ticks.map(clock) },
          { ...axis, size: 44, values: (_u, ticks) => ticks.map((tick) => `${+tick.toFixed(2)}`) },
        ],
        series: [
          {},
          ...this.series.map((spec) => ({
            label: spec.label,
            stroke: cssVar(spec.color),
            width: 1.5,
            points: { show: false },
            ...(spec.dash === undefined ? {} : { dash: spec.dash }),
            value: (_u: UPlot, value: number | null) => (value === null ? '–' : `${+value.toFixed(2)} ${unit}`),
          })),
        ],
      },
      this.data as UPlot.AlignedData,
      this.container,
    );
  }

  /** Adds one point per series at `time` (seconds) and drops those older than HISTORY. */
  push(time: number, values: (number | null)[]): void {
    const [times, ...columns] = this.data as [number[], ...(number | null)[][]];
    times.push(time);
    columns.forEach((column, index) => column.push(values[index] ?? null));
    if (times.length > HISTORY) for (const column of this.data) column.shift();
    if (this.plot === undefined) this.build();
    else this.plot.setData(this.data as UPlot.AlignedData);
    // For people reading the DOM (and the browser test): how many points are drawn.
    this.container.dataset.points = String(times.length);
  }
}

// ---- one camera -------------------------------------------------------------

class CameraCard {
  readonly element: HTMLElement;
  private readonly charts: TimeChart[];
  private readonly fpsChart: TimeChart;
  private readonly latencyChart: TimeChart;
  private readonly dropsChart: TimeChart;
  private readonly sentRate = new Rate();
  private readonly dropRates = { replaced: new Rate(), adapted: new Rate(), encoder_busy: new Rate() };
  readonly view: CanvasView;
  private paused = false;

  constructor(
    template: HTMLTemplateElement,
    private readonly id: string,
    private readonly live: LiveFrames,
  ) {
    const fragment = template.content.cloneNode(true) as DocumentFragment;
    const element = fragment.firstElementChild;
    if (!(element instanceof HTMLElement)) throw new Error('dashboard camera template is empty');
    this.element = element;
    element.dataset.camera = id;
    const base = `/cam/${encodeURIComponent(id)}`;
    field(element, 'id').textContent = id;
    field<HTMLAnchorElement>(element, 'stream-link').href = withPageToken(`${base}/stream`);
    field<HTMLAnchorElement>(element, 'snapshot-link').href = withPageToken(`${base}/snapshot`);

    const canvas = field<HTMLCanvasElement>(element, 'stream');
    canvas.setAttribute('aria-label', `${id}: live picture`);
    this.view = new CanvasView(canvas, field(element, 'frame-readout'));
    const pause = element.querySelector<HTMLButtonElement>('[data-action="pause"]');
    pause?.addEventListener('click', () => {
      this.paused = !this.paused;
      pause.textContent = this.paused ? 'Play' : 'Pause';
      this.showStream(!this.paused);
    });

    const chart = (name: string): HTMLElement => {
      const container = element.querySelector<HTMLElement>(`[data-chart="${name}"]`);
      if (container === null) throw new Error(`dashboard template lacks data-chart="${name}"`);
      return container;
    };
    this.fpsChart = new TimeChart(chart('fps'), 'Frame rate', 'fps', [
      { label: 'fps', color: '--series-1' },
      { label: 'target', color: '--series-target', dash: [4, 4] },
    ]);
    this.latencyChart = new TimeChart(chart('latency'), 'Capture → socket latency', 'ms', [
      { label: 'p50', color: '--series-1' },
      { label: 'p99', color: '--series-2' },
    ]);
    this.dropsChart = new TimeChart(chart('drops'), 'Drops per second', '/s', [
      { label: 'replaced', color: '--series-2' },
      { label: 'adapted', color: '--series-1' },
      { label: 'encoder busy', color: '--series-3' },
    ]);
    this.charts = [this.fpsChart, this.latencyChart, this.dropsChart];
    this.showStream(true);
  }

  /** Starts or stops this camera's frames (stopping frees the bandwidth; the server then counts no viewer). */
  showStream(on: boolean): void {
    this.live.want(this.id, on && !this.paused);
  }

  rebuildCharts(): void {
    for (const chart of this.charts) chart.build();
  }

  update(camera: CameraFigures, time: number): void {
    const root = this.element;
    const state = field(root, 'state');
    state.textContent = camera.state;
    state.dataset.state = camera.state;
    field(root, 'source').textContent = camera.source;
    const reason = field(root, 'reason');
    const why = camera.reason === null ? '' : camera.retryInSeconds === null ? camera.reason : `${camera.reason} (retrying in ${camera.retryInSeconds.toFixed(0)} s)`;
    reason.textContent = why;
    reason.hidden = why === '';

    field(root, 'fps').textContent = camera.nominalFps === undefined ? camera.fps.toFixed(1) : `${camera.fps.toFixed(1)} / ${camera.nominalFps}`;
    field(root, 'latency').textContent = `${ms(camera.latency.p50Ms)} / ${ms(camera.latency.p99Ms)} ms`;
    const drops = field(root, 'drops');
    drops.textContent = camera.drops.total.toLocaleString();
    drops.toggleAttribute('data-alert', camera.drops.total > 0);
    field(root, 'viewers').textContent = `${camera.viewers} (${camera.viewersTotal} total)`;
    const perSecond = this.sentRate.next(camera.bytesSent, time);
    field(root, 'sent').textContent = perSecond === null ? bytes(camera.bytesSent) : `${bytes(perSecond)}/s`;
    field(root, 'restarts').textContent = String(camera.restarts);

    this.fpsChart.push(time, [camera.fps, camera.nominalFps ?? null]);
    this.latencyChart.push(time, [camera.latency.p50Ms, camera.latency.p99Ms]);
    this.dropsChart.push(time, [
      this.dropRates.replaced.next(camera.drops.replaced, time),
      this.dropRates.adapted.next(camera.drops.adapted, time),
      this.dropRates.encoder_busy.next(camera.drops.encoder_busy, time),
    ]);
    this.updateViewers(camera.viewerList, time * 1000);
  }

  private updateViewers(viewers: ViewerFigures[], nowMs: number): void {
    field(this.element, 'viewer-count').textContent = `(${viewers.length})`;
    const rows = viewers.map((viewer) => {
      const row = document.createElement('tr');
      row.dataset.viewer = String(viewer.id);
      const cell = (text: string, className?: string): HTMLTableCellElement => {
        const td = row.insertCell();
        td.textContent = text;
        if (className !== undefined) td.className = className;
        return td;
      };
      cell(String(viewer.id));
      const client = cell(viewer.remote, 'client');
      const agent = document.createElement('small');
      agent.textContent = viewer.userAgent ?? 'no user agent';
      client.title = `${viewer.remote}\n${viewer.userAgent ?? ''}`;
      client.append(agent);
      cell(duration((nowMs - Date.parse(viewer.connectedAt)) / 1000));
      cell(viewer.fps.toFixed(1), 'num');
      cell(bytes(viewer.bytesSent), 'num');
      cell(viewer.drops.total.toLocaleString(), 'num');
      cell(`${ms(viewer.lastLatencyMs)} ms`, 'num');
      cell(viewer.level === 0 ? viewer.profile : `${viewer.profile} · ${viewer.maxFps === null ? '' : `${viewer.maxFps} fps · `}rung ${viewer.level}`);
      return row;
    });
    if (rows.length === 0) {
      const row = document.createElement('tr');
      row.className = 'empty';
      const td = row.insertCell();
      td.colSpan = 8;
      td.textContent = 'no viewers';
      rows.push(row);
    }
    field(this.element, 'viewer-rows').replaceChildren(...rows);
  }
}

// ---- the page ---------------------------------------------------------------

class Dashboard {
  private readonly cards = new Map<string, CameraCard>();
  private readonly template: HTMLTemplateElement;
  private readonly container = byId('cameras');
  private readonly cpu = new Rate();
  private readonly sent = new Rate();
  private readonly live = new LiveFrames(
    (message) => this.frame(message),
    (state, detail) => {
      const link = byId('link');
      link.dataset.state = state === 'open' ? 'live' : state === 'connecting' ? 'connecting' : 'lost';
      link.textContent = state === 'open' ? 'pictures live' : state === 'connecting' ? 'pictures connecting…' : `pictures lost${detail ? `: ${detail}` : ''}; retrying`;
    },
  );

  constructor() {
    const template = document.getElementById('camera-template');
    if (!(template instanceof HTMLTemplateElement)) throw new Error('dashboard page lacks #camera-template');
    this.template = template;
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      for (const card of this.cards.values()) card.rebuildCharts();
    });
    // A hidden tab stops its streams: a phone in a pocket should not pull video.
    document.addEventListener('visibilitychange', () => {
      for (const card of this.cards.values()) card.showStream(!document.hidden);
    });
  }

  follow(): void {
    this.live.connect();
    const feed = byId('feed');
    const events = new EventSource(withPageToken('/api/events'));
    events.addEventListener('open', () => {
      feed.dataset.state = 'live';
      feed.textContent = 'figures live';
    });
    events.addEventListener('error', () => {
      feed.dataset.state = events.readyState === EventSource.CLOSED ? 'lost' : 'connecting';
      feed.textContent = events.readyState === EventSource.CLOSED ? 'figures lost: reload the page' : 'figures reconnecting…';
    });
    events.addEventListener('message', (event: MessageEvent<string>) => this.update(JSON.parse(event.data) as Stats));
  }

  private frame(message: FrameMessage): void {
    this.cards.get(message.camera)?.view.show(message);
  }

  private update(stats: Stats): void {
    const time = Date.parse(stats.time) / 1000;
    byId('version').textContent = `v${stats.version}`;
    const seen = new Set<string>();
    for (const camera of stats.cameras) {
      seen.add(camera.id);
      let card = this.cards.get(camera.id);
      if (card === undefined) {
        card = new CameraCard(this.template, camera.id, this.live);
        this.cards.set(camera.id, card);
        this.container.append(card.element);
      }
      card.update(camera, time);
    }
    for (const [id, card] of this.cards) {
      if (seen.has(id)) continue;
      card.showStream(false);
      card.element.remove();
      this.cards.delete(id);
    }

    const { pool, process: proc } = stats;
    byId('cameras-count').textContent = String(stats.cameras.length);
    byId('viewers-count').textContent = String(stats.cameras.reduce((sum, camera) => sum + camera.viewers, 0));
    const sent = this.sent.next(
      stats.cameras.reduce((sum, camera) => sum + camera.bytesSent, 0),
      time,
    );
    byId('sent-rate').textContent = sent === null ? '–' : `${bytes(sent)}/s`;
    const cpu = this.cpu.next(proc.cpuUserSeconds + proc.cpuSystemSeconds, proc.uptimeSeconds);
    byId('cpu').textContent = cpu === null ? '–' : `${(cpu * 100).toFixed(1)} %`;
    byId('rss').textContent = bytes(proc.rssBytes);
    byId('uptime').textContent = duration(proc.uptimeSeconds);
    byId('pool-in-use').textContent = `${pool.inUse} (${pool.idle} idle)`;
    byId('pool-hits').textContent = pool.hits.toLocaleString();
    byId('pool-misses').textContent = pool.misses.toLocaleString();
    byId('pool-bytes').textContent = bytes(pool.bytesPooled);
  }
}

new Dashboard().follow();
