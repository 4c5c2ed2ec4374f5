import type { Logger } from 'pino';
import { CamstreamError, FrameFactory, readJpegSize, type BufferPool, type Frame } from '../frame/index.js';
import { RateMeter, type DurationStats, type IntervalStats } from '../metrics/index.js';
import type { NoSignalRenderer, Source } from '../source/index.js';
import { AdaptiveController, DEFAULT_ADAPTIVE_OPTIONS, type AdaptiveOptions, type RungCost } from './adaptive-controller.js';
import { CameraCounters } from './camera-counters.js';
import type { FrameChannel } from './frame-channel.js';
import type { FrameSink } from './frame-sink.js';
import { QuietTimer } from './quiet-timer.js';
import { NoSignalFeed } from './no-signal-feed.js';
import { customProfileKey, DEFAULT_LADDER, DEFAULT_PROFILES, ladderFor, SOURCE_PROFILE, type AdaptationLevel, type Profile } from './profile.js';
import { ProfileChannels, type EncodeStats } from './profile-channels.js';
import { SourceSupervisor, type SourceState, type SourceStatus, type SupervisorOptions } from './source-supervisor.js';
import { Viewer, type ViewerCloseReason, type ViewerInfo, type ViewerStats } from './viewer.js';

/** With drop-same-frames, an unchanged frame is still sent this often. */
const KEEPALIVE_MS = 1000;

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
  /** Adapting slow viewers: thresholds, or false to send every viewer everything it can take. */
  adaptive?: Partial<AdaptiveOptions> | false;
  /** Re-encoding profiles by name (default: DEFAULT_PROFILES in profile.ts). */
  profiles?: Record<string, Profile>;
  /** The adaptation ladder, best first (default: see profile.ts). */
  ladder?: readonly AdaptationLevel[];
  /** CPU time re-encoding may take per second, ms (default DEFAULT_ENCODE_BUDGET_MS); over it, encoded rungs get fewer frames. */
  encodeBudgetMs?: number;
  /** A viewer whose write makes no progress this long is disconnected. Default 10 s. */
  viewerStallTimeoutMs?: number;
  /**
   * Do not resend a frame byte-identical to the one before (a static scene from a
   * camera that repeats its frames, as µStreamer's drop-same-frames); one is still
   * sent at least every second so players and proxies see the stream is alive.
   */
  dropSameFrames?: boolean;
  /** Told when viewers join or leave and when the source changes state (Camstream's typed events). */
  events?: CameraEvents;
}

/**
 * Hooks for what happens to a camera, called synchronously where the camera logs
 * it. A hook that throws is logged and otherwise ignored: streaming goes on.
 * Viewers served by viewer loops in other threads (--workers) are not reported.
 */
export interface CameraEvents {
  viewerJoined?(viewer: Viewer): void;
  viewerLeft?(viewer: Viewer, reason: ViewerCloseReason): void;
  sourceState?(change: SourceStateChange): void;
}

/** A source state change; `reason` says why the source is not live (null when live, or not known). */
export interface SourceStateChange {
  from: SourceState;
  to: SourceState;
  reason: string | null;
}

/**
 * Something outside this event loop that gets every frame the camera fans out: a
 * viewer loop in another thread (src/http/viewer-loops.ts). `offer` retains the
 * frame if it keeps it.
 */
export interface FrameTap {
  offer(frame: Frame): void;
}

/** What a viewer asked for in its request (`/stream?fps=10&quality=60&width=640`). */
export interface ViewerRequest {
  maxFps?: number | undefined;
  quality?: number | undefined;
  width?: number | undefined;
  /** MJPEG: send each part's JPEG with the next part's header after it (Chromium; see ADVANCE_HEADER). */
  advanceHeaders?: boolean | undefined;
  /** Send the frame a stream pauses on twice (WebKit; see Viewer.repeatFinal). */
  dualFinalFrames?: boolean | undefined;
}

/** A pause (no new frame) this long, in frame intervals, gets dual-final viewers their last frame again. */
const PAUSE_INTERVALS = 2.5;
const PAUSE_MIN_MS = 100;
const PAUSE_MAX_MS = 2000;
/** "Everyone is late" takes at least this many viewers, and this share of them late. */
const EVERYONE_LATE_MIN_VIEWERS = 3;
const EVERYONE_LATE_SHARE = 0.75;
/** Weight of each new frame in the average part size (about the last 20 frames count). */
const PART_BYTES_WEIGHT = 0.05;

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
  /** Intervals between frame arrivals: percentiles of the last 1–2 minutes, count and sum since start. */
  frameInterval: IntervalStats;
  /** Capture (the source has the whole frame) to published: percentiles of the last 1–2 minutes. */
  acquisition: DurationStats;
  /** Capture to the part handed to the kernel, every viewer write: percentiles of the last 1–2 minutes. */
  latency: DurationStats;
  nominalFps: number | undefined;
  framesCaptured: number;
  framesSent: number;
  bytesSent: number;
  drops: ReturnType<CameraCounters['drops']['toJSON']>;
  /** "No signal" cards sent while the source was down. */
  noSignalFrames: number;
  /** Disconnected because their writes made no progress for viewer-stall-timeout. */
  viewersStalled: number;
  /** Frames not sent because they were identical to the previous one (drop-same-frames). */
  framesUnchanged: number;
  /** A viewer's frame was late, or gave way in its queue, while its socket said its reader had everything: the server was slow. */
  serverLate: number;
  /** Re-encoded profiles running now, for adapted viewers. */
  profiles: ReturnType<ProfileChannels['stats']>;
  /** What re-encoding cost lately against the camera's encoding budget. */
  encode: EncodeStats;
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
  /** The main channel (the source's own frames) and any re-encoded ones. */
  private readonly channels: ProfileChannels;
  private readonly main: FrameChannel;
  private readonly adaptive: Partial<AdaptiveOptions> | false;
  private readonly ladder: readonly AdaptationLevel[];
  private readonly viewerStallTimeoutMs: number | undefined;
  private readonly dropSameFrames: boolean;
  private lastFanOutMs = -Infinity;
  private readonly viewerAdapted = (viewer: Viewer): void => queueMicrotask(() => this.applyLevel(viewer));
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
  /** Average size of a source frame's part, bytes (0 before the first). */
  private partBytes = 0;
  private readonly viewerClosed = this.removeViewer.bind(this);
  private readonly taps: FrameTap[] = [];
  /** Viewers of this camera in other event loops (see FrameTap); they keep the source running too. */
  private remoteViewers = 0;
  /** Viewers that want dual final frames, and the timer that notices a pause for them. */
  private dualFinalViewers = 0;
  /** Notices a pause in the frames (armed once per pause, not per frame); it never fetches frames. */
  private readonly pauseTimer = new QuietTimer({
    limitMs: () => this.pauseMs,
    sinceMs: () => this.lastFanOutMs,
    active: () => !this.stopped && this.dualFinalViewers > 0,
    expired: () => this.repeatFinalFrames(),
  });
  private readonly events: CameraEvents | undefined;

  constructor(options: CameraOptions) {
    this.id = options.id;
    this.source = options.source;
    this.log = options.log.child({ camera: options.id });
    this.queueCapacity = options.queueCapacity ?? 1;
    this.frames = new FrameFactory(options.pool);
    this.channels = new ProfileChannels(this.frames, options.profiles ?? DEFAULT_PROFILES, this.log, options.encodeBudgetMs);
    this.main = this.channels.main;
    this.adaptive = options.adaptive ?? {};
    this.ladder = options.ladder ?? DEFAULT_LADDER;
    const profiles = options.profiles ?? DEFAULT_PROFILES;
    for (const level of this.ladder) {
      if (level.profile !== SOURCE_PROFILE && profiles[level.profile] === undefined) {
        throw new CamstreamError('CAMSTREAM_CONFIG', `camera '${options.id}': the ladder names profile '${level.profile}', which is not defined; defined: ${[SOURCE_PROFILE, ...Object.keys(profiles)].join(', ')}`);
      }
    }
    this.viewerStallTimeoutMs = options.viewerStallTimeoutMs;
    this.dropSameFrames = options.dropSameFrames ?? false;
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
    this.events = options.events;
    if (this.events?.sourceState !== undefined) {
      this.reportStateChanges(this.events.sourceState.bind(this.events));
    }
  }

  /** Chains a state-change reporter after the no-signal feed's hook (the supervisor has one slot). */
  private reportStateChanges(report: (change: SourceStateChange) => void): void {
    const previousHook = this.supervisor.onStateChange;
    let from = this.supervisor.currentState;
    this.supervisor.onStateChange = (to) => {
      previousHook?.(to);
      const reason = to === 'live' ? null : this.supervisor.status().reason;
      const change = { from, to, reason };
      from = to;
      this.safely('sourceState', () => report(change));
    };
  }

  /** Runs an event hook; what it throws is logged, never passed on to the frame path. */
  private safely(hook: keyof CameraEvents, call: () => void): void {
    try {
      call();
    } catch (error) {
      this.log.error({ err: error, hook }, 'camera event listener threw; ignored');
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
    this.pauseTimer.cancel();
    await this.supervisor.stop();
    for (const viewer of [...this.viewers]) viewer.close('shutdown');
    this.channels.closeAll();
    for (const wake of this.frameWaiters.splice(0)) wake();
  }

  /** A frame from the source: counted, then fanned out (the hot path). Takes over the publisher's reference. */
  publish(frame: Frame): void {
    if (this.stopped) {
      frame.release();
      return;
    }
    this.counters.framesCaptured++;
    const nowMs = performance.now();
    this.counters.acquisition.record(nowMs - frame.capture.monoMs, nowMs);
    this.fps.mark(frame.capture.monoMs);
    // A moving average of the part's size: what a rung at the source's quality costs a viewer's link.
    this.partBytes += (frame.part.length - this.partBytes) * PART_BYTES_WEIGHT;
    if (!this.sizeKnown && this.noSignal !== undefined) {
      this.sizeKnown = true;
      this.noSignal.setSize(readJpegSize(frame.jpeg));
    }
    const monoMs = frame.capture.monoMs;
    if (this.dropSameFrames && monoMs - this.lastFanOutMs < KEEPALIVE_MS && this.main.latest?.jpeg.equals(frame.jpeg) === true) {
      this.counters.framesUnchanged++;
      frame.release();
      // The picture stopped changing: the stream pauses here.
      if (this.dualFinalViewers > 0) this.repeatFinalFrames();
      return;
    }
    this.lastFanOutMs = monoMs;
    if (this.dualFinalViewers > 0) this.pauseTimer.arm();
    // Encoders first: they retain what they keep, and fanOut may release the
    // previous latest frame.
    this.channels.encode(frame);
    this.fanOut(frame);
  }

  /** Fans `frame` out to the main channel's viewers. Takes over the caller's reference. */
  private fanOut(frame: Frame): void {
    if (this.stopped) {
      frame.release();
      return;
    }
    for (let i = 0; i < this.taps.length; i++) (this.taps[i] as FrameTap).offer(frame);
    this.main.fanOut(frame);
    if (this.frameWaiters.length > 0) for (const wake of this.frameWaiters.splice(0)) wake();
  }

  /** Sends every frame fanned out from now on to `tap` too. */
  addTap(tap: FrameTap): void {
    this.taps.push(tap);
  }

  /**
   * How many viewers other event loops serve for this camera: with some, the
   * source runs as it would for local ones; with none, it may go idle.
   */
  setRemoteViewers(count: number): void {
    this.remoteViewers = count;
    if (count > 0) this.demand();
    else if (this.viewers.length === 0) this.armIdle();
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
      this.armIdle();
    }
    return this.snapshot();
  }

  /** Why a viewer asking for `request` cannot be served now (too many distinct profiles), or undefined. */
  refuses(request: ViewerRequest): string | undefined {
    if (request.quality === undefined && request.width === undefined) return undefined;
    return this.channels.refuses(customProfileKey({ scale: 1, quality: request.quality ?? 85, width: request.width }));
  }

  /**
   * Starts streaming to `sink` (the response head must already be written). The
   * viewer gets the latest frame at once, then every new one, adapted to what it
   * can take unless adaptation is off. A requested quality or width puts it on a
   * re-encoded profile of its own (adaptation then lowers only its frame rate).
   */
  addViewer(sink: FrameSink, info: ViewerInfo, request: ViewerRequest = {}): Viewer {
    let profileKey = SOURCE_PROFILE;
    let ladder = this.ladder;
    if (request.quality !== undefined || request.width !== undefined) {
      const profile: Profile = { scale: 1, quality: request.quality ?? 85, width: request.width };
      profileKey = customProfileKey(profile);
      this.channels.define(profileKey, profile);
      ladder = this.ladder.filter((level) => level.profile === SOURCE_PROFILE).map((level) => ({ ...level, profile: profileKey }));
    }
    const controller = this.adaptive === false ? undefined : new AdaptiveController(ladderFor(this.source.nominalFps ?? this.measuredFps(), ladder), this.adaptive, this.rungCost);
    if (controller !== undefined) controller.everyoneLate = this.everyoneLate;
    const viewer = new Viewer(sink, info, {
      counters: this.counters,
      queueCapacity: this.queueCapacity,
      onClose: this.viewerClosed,
      controller,
      onAdapt: this.viewerAdapted,
      requestedFps: request.maxFps,
      stallTimeoutMs: this.viewerStallTimeoutMs,
      dualFinalFrames: request.dualFinalFrames,
    });
    if (this.stopped) {
      viewer.close('shutdown');
      return viewer;
    }
    this.channels.move(viewer, profileKey);
    this.viewers.push(viewer);
    if (viewer.dualFinalFrames) this.dualFinalViewers++;
    this.demand();
    this.counters.viewersTotal++;
    this.log.info({ viewer: viewer.id, remote: info.remote, userAgent: info.userAgent, viewers: this.viewers.length }, 'viewer connected');
    const events = this.events;
    if (events?.viewerJoined !== undefined) this.safely('viewerJoined', () => events.viewerJoined?.(viewer));
    return viewer;
  }

  stats(nowMs: number = performance.now()): CameraStats {
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
      frameInterval: this.fps.intervalStats(nowMs),
      acquisition: this.counters.acquisition.stats(nowMs),
      latency: this.counters.latency.stats(nowMs),
      nominalFps: this.source.nominalFps,
      framesCaptured: this.counters.framesCaptured,
      framesSent: this.counters.framesSent,
      bytesSent: this.counters.bytesSent,
      drops: this.counters.drops.toJSON(),
      noSignalFrames: this.noSignal?.cardsSent ?? 0,
      viewersStalled: this.counters.viewersStalled,
      framesUnchanged: this.counters.framesUnchanged,
      serverLate: this.counters.serverLate,
      profiles: this.channels.stats(),
      encode: this.channels.encodeStats(nowMs),
      viewers: this.viewers.length,
      viewersTotal: this.counters.viewersTotal,
      latestFrame: latest && { sequence: latest.sequence, bytes: latest.jpeg.length, timestamp: latest.capture.wallMicros / 1e6 },
      viewerList: this.viewers.map((viewer) => viewer.stats(nowMs)),
    };
  }

  private removeViewer(viewer: Viewer, reason: ViewerCloseReason): void {
    const index = this.viewers.indexOf(viewer);
    if (index >= 0) this.viewers.splice(index, 1);
    this.channels.leave(viewer);
    if (reason === 'stalled') this.counters.viewersStalled++;
    if (viewer.dualFinalFrames) this.dualFinalViewers--;
    this.log.info(
      { viewer: viewer.id, remote: viewer.info.remote, reason, framesSent: viewer.framesSent, bytesSent: viewer.bytesSent, drops: viewer.drops.total, viewers: this.viewers.length },
      'viewer disconnected',
    );
    // Only a viewer that joined leaves (one added after stop() is closed before it joins).
    const events = this.events;
    if (index >= 0 && events?.viewerLeft !== undefined) this.safely('viewerLeft', () => events.viewerLeft?.(viewer, reason));
    this.armIdle();
  }

  /** A viewer's controller changed its level: apply the level's frame-rate cap and profile. */
  private applyLevel(viewer: Viewer): void {
    const controller = viewer.controller;
    if (viewer.isClosed || controller === undefined || this.stopped) return;
    const level = controller.currentLevel;
    viewer.setAdaptiveFps(level.maxFps);
    try {
      this.channels.move(viewer, level.profile);
    } catch (error) {
      this.log.warn({ viewer: viewer.id, err: error }, 'cannot move the viewer to its adapted profile; it stays where it is');
    }
    const link = viewer.stats().link;
    this.log.info({ viewer: viewer.id, rung: controller.level, maxFps: level.maxFps ?? null, profile: level.profile, lagMs: Math.round(viewer.lastLatencyMs), backlogMs: link?.backlogMs, readRate: link?.capacity }, 'viewer adapted');
  }

  /** Whether any viewer, here or in another loop, watches this camera. */
  private get watched(): boolean {
    return this.viewers.length > 0 || this.remoteViewers > 0;
  }

  /**
   * Whether (nearly) all of this camera's viewers are late at once: then the server
   * or the machine is the cause (a busy core, a long pause), and no viewer is
   * stepped down for it. It takes a crowd to tell: with fewer than three viewers,
   * never. Walked only when some viewer is about to step down, not per frame.
   */
  private readonly everyoneLate = (): boolean => {
    if (this.viewers.length < EVERYONE_LATE_MIN_VIEWERS) return false;
    const lateMs = (this.adaptive === false ? undefined : this.adaptive.lagHighMs) ?? DEFAULT_ADAPTIVE_OPTIONS.lagHighMs;
    let late = 0;
    for (const viewer of this.viewers) if (viewer.behindMs > lateMs) late++;
    if (late < this.viewers.length * EVERYONE_LATE_SHARE) return false;
    this.counters.serverLate++;
    return true;
  };

  /** What a rung of the ladder costs a viewer's link, bytes per second (undefined before the first frame). */
  private readonly rungCost: RungCost = (level) => {
    if (this.partBytes === 0) return undefined;
    const sourceFps = this.source.nominalFps ?? this.measuredFps();
    if (sourceFps === undefined) return undefined;
    const fps = level.maxFps === undefined ? sourceFps : Math.min(level.maxFps, sourceFps);
    const bytes = level.profile === SOURCE_PROFILE ? this.partBytes : this.channels.frameBytesOf(level.profile, this.partBytes);
    return bytes === undefined ? undefined : bytes * fps;
  };

  private measuredFps(): number | undefined {
    const fps = this.fps.rate();
    return fps > 0 ? fps : undefined;
  }

  /** Someone wants frames: make sure the source runs. */
  private demand(): void {
    this.cancelIdle();
    if (!this.stopped) this.supervisor.start();
  }

  private armIdle(): void {
    if (this.alwaysOn || this.stopped || this.idleTimer !== undefined || this.watched) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.watched || this.stopped) return;
      this.log.info({ idleSeconds: this.idleTimeoutMs / 1000 }, 'no viewers: stopping the on-demand source');
      void this.supervisor.stop('idle').then(() => {
        if (!this.watched) this.channels.clear();
      });
    }, this.idleTimeoutMs);
    this.idleTimer.unref();
  }

  /** Each dual-final viewer gets the newest frame of its channel again, if it has shown it only once. */
  private repeatFinalFrames(): void {
    for (const viewer of this.viewers) {
      if (!viewer.dualFinalFrames) continue;
      const latest = this.channels.latestOf(viewer.profile);
      if (latest !== undefined) viewer.repeatFinal(latest);
    }
  }

  /** How long without a new frame counts as a pause: a few of the source's frame intervals. */
  private get pauseMs(): number {
    const fps = this.source.nominalFps ?? this.measuredFps() ?? 30;
    return Math.min(PAUSE_MAX_MS, Math.max(PAUSE_MIN_MS, (PAUSE_INTERVALS * 1000) / fps));
  }

  private cancelIdle(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
