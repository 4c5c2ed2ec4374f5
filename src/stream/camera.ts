import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { FrameFactory, type BufferPool, type Frame } from '../frame/index.js';
import { RateMeter } from '../metrics/index.js';
import type { Source, SourceContext } from '../source/index.js';
import { CameraCounters } from './camera-counters.js';
import { Viewer, type ViewerCloseReason, type ViewerInfo, type ViewerStats } from './viewer.js';

export type CameraState = 'idle' | 'starting' | 'live' | 'stopped' | 'failed';

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
}

export interface CameraStats {
  id: string;
  source: string;
  state: CameraState;
  /** Why the camera failed, else null. */
  error: string | null;
  /** Measured from frame arrivals. */
  fps: number;
  nominalFps: number | undefined;
  framesCaptured: number;
  framesSent: number;
  bytesSent: number;
  drops: ReturnType<CameraCounters['drops']['toJSON']>;
  viewers: number;
  viewersTotal: number;
  latestFrame: { sequence: number; bytes: number; timestamp: number } | undefined;
  viewerList: ViewerStats[];
}

/**
 * A camera: one source, the latest-frame exchange, and the viewers it fans out to.
 *
 * The exchange is the `latest` field. Publishing replaces it and offers the frame
 * to every viewer in one synchronous pass; a new viewer or a snapshot reads it.
 * Everything runs on the one event loop, so no reader ever sees a half-replaced
 * frame and no lock is needed (the Rust design needed a lock-free cell because its
 * capture thread and HTTP tasks ran in parallel). Reference counts, not a lock,
 * decide when a frame's memory may be reused.
 */
export class Camera {
  readonly id: string;
  readonly source: Source;
  readonly counters = new CameraCounters();
  readonly fps = new RateMeter();
  private readonly frames: FrameFactory;
  private readonly log: Logger;
  private readonly queueCapacity: number;
  private readonly viewers: Viewer[] = [];
  private latest: Frame | undefined;
  private state: CameraState = 'idle';
  private error: string | undefined;
  private readonly context: SourceContext;
  private readonly viewerClosed = this.removeViewer.bind(this);

  constructor(options: CameraOptions) {
    this.id = options.id;
    this.source = options.source;
    this.log = options.log.child({ camera: options.id });
    this.queueCapacity = options.queueCapacity ?? 1;
    this.frames = new FrameFactory(options.pool);
    this.context = { frames: this.frames, publish: this.publish.bind(this), fail: (error) => this.log.error({ reason: error.reason }, 'source failed'), log: this.log };
  }

  get currentState(): CameraState {
    return this.state;
  }

  get viewerCount(): number {
    return this.viewers.length;
  }

  async start(): Promise<void> {
    this.state = 'starting';
    try {
      await this.source.start(this.context);
      this.state = 'live';
    } catch (error) {
      this.state = 'failed';
      this.error = error instanceof Error ? error.message : String(error);
      throw error;
    }
  }

  /** Stops the source, ends every viewer's stream and releases the latest frame. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    await this.source.stop();
    for (const viewer of [...this.viewers]) viewer.close('shutdown');
    this.latest?.release();
    this.latest = undefined;
  }

  /** Fan-out: the hot path. Takes over the publisher's reference to `frame`. */
  publish(frame: Frame): void {
    if (this.state === 'stopped') {
      frame.release();
      return;
    }
    this.counters.framesCaptured++;
    this.fps.mark(frame.capture.monoMs);
    const previous = this.latest;
    this.latest = frame;
    // Viewers leave only from a socket 'close' event, never synchronously inside
    // offer(), so the array cannot change under this loop.
    const viewers = this.viewers;
    for (let i = 0; i < viewers.length; i++) (viewers[i] as Viewer).offer(frame);
    previous?.release();
  }

  /** The latest frame, retained for the caller (who must release it), or undefined before the first. */
  snapshot(): Frame | undefined {
    return this.latest?.retain();
  }

  /**
   * Starts streaming to `sink` (the response head must already be written). The
   * viewer gets the latest frame at once, then every new one.
   */
  addViewer(sink: Writable, info: ViewerInfo): Viewer {
    const viewer = new Viewer(sink, info, this.counters, this.queueCapacity, this.viewerClosed);
    this.viewers.push(viewer);
    this.counters.viewersTotal++;
    this.log.info({ viewer: viewer.id, remote: info.remote, userAgent: info.userAgent, viewers: this.viewers.length }, 'viewer connected');
    if (this.latest !== undefined) viewer.offer(this.latest);
    return viewer;
  }

  stats(): CameraStats {
    const latest = this.latest;
    return {
      id: this.id,
      source: this.source.url,
      state: this.state,
      error: this.error ?? null,
      fps: round(this.fps.rate(), 2),
      nominalFps: this.source.nominalFps,
      framesCaptured: this.counters.framesCaptured,
      framesSent: this.counters.framesSent,
      bytesSent: this.counters.bytesSent,
      drops: this.counters.drops.toJSON(),
      viewers: this.viewers.length,
      viewersTotal: this.counters.viewersTotal,
      latestFrame: latest && { sequence: latest.sequence, bytes: latest.jpeg.length, timestamp: latest.capture.wallMicros / 1e6 },
      viewerList: this.viewers.map((viewer) => viewer.stats()),
    };
  }

  private removeViewer(viewer: Viewer, reason: ViewerCloseReason): void {
    const index = this.viewers.indexOf(viewer);
    if (index >= 0) this.viewers.splice(index, 1);
    this.log.info(
      { viewer: viewer.id, remote: viewer.info.remote, reason, framesSent: viewer.framesSent, bytesSent: viewer.bytesSent, drops: viewer.drops.total, viewers: this.viewers.length },
      'viewer disconnected',
    );
  }
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
