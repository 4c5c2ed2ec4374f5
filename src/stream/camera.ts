import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { FrameFactory, readJpegSize, type BufferPool, type Frame } from '../frame/index.js';
import { RateMeter, type IntervalStats } from '../metrics/index.js';
import type { NoSignalRenderer, Source } from '../source/index.js';
import { CameraCounters } from './camera-counters.js';
import { FrameChannel } from './frame-channel.js';
import { NoSignalFeed } from './no-signal-feed.js';
import { SourceSupervisor, type SourceState, type SourceStatus, type SupervisorOptions } from './source-supervisor.js';
import { Viewer, type ViewerCloseReason, type ViewerInfo, type ViewerStats } from './viewer.js';

export interface CameraOptions {
  id: string;
  source: Source;
  pool: BufferPool;
  log: Logger;
  /**
   * Frames a viewer may have waiting behind the one it is writing (a power of two).
   * Default 1: see docs/ARCHITECTURE.md for why more only adds delay.
   */
  queueCapacity?: number;
  /** Keep the source running with no viewers. Default false: it starts on demand. */
  alwaysOn?: boolean;
  /** With no viewer for this long, an on-demand source is stopped. Default 30 s. */
  idleTimeoutMs?: number;
  /** Stall detection and restart backoff. */
  supervisor?: Partial<SupervisorOptions>;
  /** Renders "no signal" cards while the source is down; none without it. */
  noSignalRenderer?: NoSignalRenderer;
  /** How long after the last frame the cards start. Default 5 s. */
  noSignalAfterMs?: number;
}

export interface CameraStats {
  id: string;
  source: string;
  alwaysOn: boolean;
  /** starting, live, stalled, retrying (see retryInSeconds), idle (on demand, no viewer) or stopped. */
  state: SourceState;
  /** Why the source is not live, else null. */
  reason: string | null;
  retryInSeconds: number | null;
  restarts: number;
  lastFrameAgeMs: number | null;
  /** Measured from frame arrivals (moving average). */
  fps: number;
  /** Intervals between frame arrivals since start. */
  frameInterval: IntervalStats;
  nominalFps: number | undefined;
  framesCaptured: number;
  framesSent: number;
  bytesSent: number;
  drops: ReturnType<CameraCounters['drops']['toJSON']>;
  /** "No signal" cards sent while the source was down. */
  noSignalFrames: number;
  viewers: number;
  viewersTotal: number;
  latestFrame: { sequence: number; bytes: number; timestamp: number } | undefined;
  viewerList: ViewerStats[];
}

/**
 * A camera: one supervised source, and the channels (latest-frame exchange plus
 * fan-out, see FrameChannel) its viewers watch. The source's frames go to the main
 * channel; a snapshot or a new viewer reads its latest frame. The Rust design
 * needed a lock-free cell because its capture thread and HTTP tasks ran in
 * parallel; here all of it runs on one event loop, so none is needed.
 */
export class Camera {
  readonly id: string;
  readonly source: Source;
  readonly counters = new CameraCounters();
  readonly fps = new RateMeter();
  private readonly frames: FrameFactory;
  private readonly log: Logger;
  private readonly queueCapacity: number;
  /** The source's own frames and the viewers who get them. */
  private readonly main = new FrameChannel();
  /** Every viewer, whatever channel it watches. */
  private readonly viewers: Viewer[] = [];
  private readonly supervisor: SourceSupervisor;
  private readonly alwaysOn: boolean;
  private readonly idleTimeoutMs: number;
  private idleTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Snapshots waiting for a first frame (on-demand start). Empty on the hot path. */
  private frameWaiters: (() => void)[] = [];
  private readonly noSignal: NoSignalFeed | undefined;
  /** Whether the no-signal feed knows the size of this source's frames. */
  private sizeKnown = false;
  private readonly viewerClosed = this.removeViewer.bind(this);

  constructor(options: CameraOptions) {
    this.id = options.id;
    this.source = options.source;
    this.log = options.log.child({ camera: options.id });
    this.queueCapacity = options.queueCapacity ?? 1;
    this.frames = new FrameFactory(options.pool);
    this.alwaysOn = options.alwaysOn ?? false;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.supervisor = new SourceSupervisor(this.source, this.frames, this.log, this.publish.bind(this), options.supervisor);
    if (options.noSignalRenderer !== undefined) {
      const feed = new NoSignalFeed(this.id, options.noSignalRenderer, this.frames, this.fanOut.bind(this), options.noSignalAfterMs ?? 5000);
      this.noSignal = feed;
      this.supervisor.onStateChange = (state) => {
        if (state === 'stalled' || state === 'retrying') {
          this.sizeKnown = false;
          feed.sourceDown(this.supervisor.sinceLastFrameMs());
        } else if (state === 'live' || state === 'idle' || state === 'stopped') {
          feed.sourceUp();
        }
      };
    }
  }

  get currentState(): SourceState {
    return this.supervisor.currentState;
  }

  sourceStatus(): SourceStatus {
    return this.supervisor.status();
  }

  get viewerCount(): number {
    return this.viewers.length;
  }

  /** Starts an always-on camera's source; an on-demand one waits for its first viewer or snapshot. */
  start(): void {
    if (this.alwaysOn) this.supervisor.start();
  }

  /** Stops the source, ends every viewer's stream and releases the latest frame. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelIdle();
    await this.supervisor.stop();
    for (const viewer of [...this.viewers]) viewer.close('shutdown');
    this.dropLatest();
    for (const wake of this.frameWaiters.splice(0)) wake();
  }

  /** A frame from the source: counted, then fanned out (the hot path). Takes over the publisher's reference. */
  publish(frame: Frame): void {
    if (this.stopped) {
      frame.release();
      return;
    }
    this.counters.framesCaptured++;
    this.fps.mark(frame.capture.monoMs);
    if (!this.sizeKnown && this.noSignal !== undefined) {
      this.sizeKnown = true;
      this.noSignal.setSize(readJpegSize(frame.jpeg));
    }
    this.fanOut(frame);
  }

  /** Fans `frame` out to the main channel's viewers. Takes over the caller's reference. */
  private fanOut(frame: Frame): void {
    if (this.stopped) {
      frame.release();
      return;
    }
    this.main.fanOut(frame);
    if (this.frameWaiters.length > 0) for (const wake of this.frameWaiters.splice(0)) wake();
  }

  /** The latest frame, retained for the caller (who must release it), or undefined before the first. */
  snapshot(): Frame | undefined {
    return this.main.latest?.retain();
  }

  /**
   * The latest frame for a snapshot, starting an on-demand source and waiting up
   * to `timeoutMs` for its first frame. Retained for the caller; undefined on timeout.
   */
  async snapshotWhenReady(timeoutMs: number): Promise<Frame | undefined> {
    if (this.main.latest === undefined && !this.stopped) {
      this.demand();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.frameWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (this.viewers.length === 0) this.armIdle();
    }
    return this.snapshot();
  }

  /**
   * Starts streaming to `sink` (the response head must already be written). The
   * viewer gets the latest frame at once, then every new one.
   */
  addViewer(sink: Writable, info: ViewerInfo): Viewer {
    const viewer = new Viewer(sink, info, this.counters, this.queueCapacity, this.viewerClosed);
    if (this.stopped) {
      viewer.close('shutdown');
      return viewer;
    }
    this.viewers.push(viewer);
    this.main.add(viewer);
    this.demand();
    this.counters.viewersTotal++;
    this.log.info({ viewer: viewer.id, remote: info.remote, userAgent: info.userAgent, viewers: this.viewers.length }, 'viewer connected');
    return viewer;
  }

  stats(): CameraStats {
    const latest = this.main.latest;
    const status = this.supervisor.status();
    return {
      id: this.id,
      source: this.source.url,
      alwaysOn: this.alwaysOn,
      state: status.state,
      reason: status.reason,
      retryInSeconds: status.retryInSeconds,
      restarts: status.restarts,
      lastFrameAgeMs: status.lastFrameAgeMs,
      fps: round(this.fps.rate(), 2),
      frameInterval: this.fps.intervalStats(),
      nominalFps: this.source.nominalFps,
      framesCaptured: this.counters.framesCaptured,
      framesSent: this.counters.framesSent,
      bytesSent: this.counters.bytesSent,
      drops: this.counters.drops.toJSON(),
      noSignalFrames: this.noSignal?.cardsSent ?? 0,
      viewers: this.viewers.length,
      viewersTotal: this.counters.viewersTotal,
      latestFrame: latest && { sequence: latest.sequence, bytes: latest.jpeg.length, timestamp: latest.capture.wallMicros / 1e6 },
      viewerList: this.viewers.map((viewer) => viewer.stats()),
    };
  }

  private removeViewer(viewer: Viewer, reason: ViewerCloseReason): void {
    const index = this.viewers.indexOf(viewer);
    if (index >= 0) this.viewers.splice(index, 1);
    this.main.remove(viewer);
    this.log.info(
      { viewer: viewer.id, remote: viewer.info.remote, reason, framesSent: viewer.framesSent, bytesSent: viewer.bytesSent, drops: viewer.drops.total, viewers: this.viewers.length },
      'viewer disconnected',
    );
    if (this.viewers.length === 0) this.armIdle();
  }

  /** Someone wants frames: make sure the source runs. */
  private demand(): void {
    this.cancelIdle();
    if (!this.stopped) this.supervisor.start();
  }

  private armIdle(): void {
    if (this.alwaysOn || this.stopped || this.idleTimer !== undefined) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.viewers.length > 0 || this.stopped) return;
      this.log.info({ idleSeconds: this.idleTimeoutMs / 1000 }, 'no viewers: stopping the on-demand source');
      void this.supervisor.stop('idle').then(() => {
        if (this.viewers.length === 0) this.dropLatest();
      });
    }, this.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private cancelIdle(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private dropLatest(): void {
    this.main.clear();
  }
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
