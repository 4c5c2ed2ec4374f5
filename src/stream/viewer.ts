import type { Frame } from '../frame/index.js';
import { DropCounters, RateMeter } from '../metrics/index.js';
import type { AdaptiveController } from './adaptive-controller.js';
import type { CameraCounters } from './camera-counters.js';
import { FpsGate } from './fps-gate.js';
import type { FrameSink } from './frame-sink.js';
import { QuietTimer } from './quiet-timer.js';
import { FrameQueue } from './frame-queue.js';
import { LinkMonitor } from './link-monitor.js';

/** A linked viewer's socket is read at most this often while its writes complete (10 times a second). */
const LINK_SAMPLE_MS = 100;
/** Its reader counts as behind (a dropped frame is then its own, not the server's) from this backlog on. */
const BEHIND_MS = 50;
/** A drain lasts at least this long, and at most DRAIN_MAX_MS when the socket never says it is over. */
const DRAIN_MIN_MS = 100;
const DRAIN_MAX_MS = 1000;

export type ViewerCloseReason = 'client' | 'error' | 'shutdown' | 'stalled';

export interface ViewerInfo {
  /** The client's address, for logs and stats. */
  remote: string;
  userAgent?: string | undefined;
}

export interface ViewerOptions {
  counters: CameraCounters;
  /** Frames that may wait behind the one being written (a power of two). */
  queueCapacity: number;
  onClose: (viewer: Viewer, reason: ViewerCloseReason) => void;
  /** Adapts the viewer's frame rate and profile; none: the viewer gets what it asked for. */
  controller?: AdaptiveController | undefined;
  /** Told when the controller changed the viewer's level (between frames). */
  onAdapt?: ((viewer: Viewer) => void) | undefined;
  /** The frame rate the viewer asked for (`?fps=`), never counted as drops. */
  requestedFps?: number | undefined;
  /** A viewer whose write makes no progress this long is disconnected. Default 10 s. */
  stallTimeoutMs?: number | undefined;
  /** Send the frame a stream pauses on a second time (WebKit shows it only then; see repeatFinal). */
  dualFinalFrames?: boolean | undefined;
  /**
   * A linked viewer whose reader holds frames older than this sends nothing until it
   * has read them. Default 400 ms: above the 250 ms a busy tab that reads four times a
   * second holds between its reads while it keeps up.
   */
  drainAboveMs?: number | undefined;
}

/** What /api/stats says of one viewer. */
export interface ViewerStats {
  id: number;
  remote: string;
  userAgent: string | undefined;
  connectedAt: string;
  framesSent: number;
  bytesSent: number;
  /** Frames per second delivered lately. */
  fps: number;
  drops: ReturnType<DropCounters['toJSON']>;
  queued: number;
  /** Bytes handed to the socket and not yet confirmed written. */
  bytesInFlight: number;
  /** Capture to the last completed write of this viewer, in milliseconds. */
  lastLatencyMs: number;
  /** Milliseconds since its last part was completely written (null before the first). */
  lastPartAgeMs: number | null;
  /**
   * From its socket (null where it cannot be read): how old the oldest frame its reader
   * has not read is, the bytes it has not read, its measured read rate (bytes/s, 0
   * until measured), and whether nothing is sent until it has read its backlog.
   */
  link: { backlogMs: number; pendingBytes: number; capacity: number; draining: boolean } | null;
  /** Its rung on the adaptation ladder (0 = best), its frame-rate cap and profile. */
  level: number;
  maxFps: number | null;
  profile: string;
}

let nextViewerId = 1;

/** Numbers this thread's viewers from `first` on (viewer loops use separate ranges). */
export function startViewerIdsAt(first: number): void {
  nextViewerId = first;
}

/**
 * One viewer of one camera: sends frames to its sink (an MJPEG socket, or a slot
 * on a WebSocket), one at a time.
 *
 * A frame is written only once the previous write has completed (handed to the
 * kernel), so Node's socket buffer holds at most one part and never grows. Frames
 * published meanwhile wait in a bounded FrameQueue where the latest frame wins;
 * the ones that give way are counted as drops. This is µStreamer's per-client
 * loop (re-arm the write when the socket drains, skip to the newest frame).
 *
 * What the writes show (frames replaced, lag from capture to write completion)
 * feeds the viewer's AdaptiveController; when it changes the viewer's level, the
 * camera moves the viewer to another frame-rate cap and channel.
 *
 * Nothing here allocates per frame: the write callback is bound once, counters
 * are plain fields (the camera's latency histogram too: one record per write),
 * and the part written is the frame's own shared view.
 */
export class Viewer {
  readonly id = nextViewerId++;
  readonly info: ViewerInfo;
  readonly connectedAt = new Date();
  readonly drops = new DropCounters();
  readonly controller: AdaptiveController | undefined;
  /** The channel key this viewer watches (set by its camera). */
  profile = 'source';
  framesSent = 0;
  bytesSent = 0;
  lastLatencyMs = 0;

  readonly dualFinalFrames: boolean;
  private readonly sink: FrameSink;
  private readonly queue: FrameQueue;
  private readonly counters: CameraCounters;
  private readonly requested: FpsGate;
  private readonly adaptive = new FpsGate();
  private readonly delivered = new RateMeter(0.1, false);
  private writing: Frame | undefined;
  private writingBytes = 0;
  /** The last frame sent, and whether it was sent twice (dual final frames). */
  private lastSentSequence = -1;
  private finalRepeated = false;
  private closed = false;
  /** A send failed: the transport is going away, so nothing more is sent (its 'close' follows). */
  private failed = false;
  private closeReason: ViewerCloseReason = 'client';
  private readonly onClose: (viewer: Viewer, reason: ViewerCloseReason) => void;
  private readonly onAdapt: ((viewer: Viewer) => void) | undefined;
  private readonly afterWrite = this.written.bind(this);
  private readonly stallTimeoutMs: number;
  /** Disconnects a viewer whose write made no progress for the stall timeout; armed when a write starts. */
  private readonly stallTimer = new QuietTimer({
    limitMs: () => this.stallTimeoutMs,
    sinceMs: () => this.writeStartedMs,
    // Idle (nothing to write): the next write arms it again.
    active: () => !this.closed && this.writing !== undefined,
    expired: () => this.close('stalled'),
  });
  private writeStartedMs = 0;
  private lastWrittenMs = -1;
  /** Reads its socket's TCP state; undefined where it cannot (then lag alone decides, as before). */
  private link: LinkMonitor | undefined;
  private lastLinkMs = -Infinity;
  private readonly drainAboveMs: number;
  private draining = false;
  private drainUntilMs = 0;

  constructor(sink: FrameSink, info: ViewerInfo, options: ViewerOptions) {
    this.sink = sink;
    this.info = info;
    this.counters = options.counters;
    this.queue = new FrameQueue(options.queueCapacity);
    this.onClose = options.onClose;
    this.onAdapt = options.onAdapt;
    this.controller = options.controller;
    this.requested = new FpsGate(options.requestedFps);
    this.stallTimeoutMs = options.stallTimeoutMs ?? 10_000;
    this.dualFinalFrames = options.dualFinalFrames ?? false;
    this.drainAboveMs = options.drainAboveMs ?? 400;
    const readLink = sink.readLink?.bind(sink);
    if (readLink !== undefined) {
      this.link = new LinkMonitor(readLink, sink.sharedConnection === true);
      // The window of a receive buffer nothing was written to yet: the room it has when its reader keeps up.
      this.link.update(performance.now(), 0);
      if (this.controller !== undefined) this.controller.link = this.link;
    }
    sink.on('error', () => {
      if (this.closeReason === 'client') this.closeReason = 'error';
    });
    sink.on('close', () => this.finish());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** How late it is: the oldest frame its reader has not read where its socket tells, else its last write's lag, ms. */
  get behindMs(): number {
    return this.linked ? (this.link as LinkMonitor).backlogMs : this.lastLatencyMs;
  }

  /** Whether its socket's TCP state is read (see LinkMonitor); false until its first write completed. */
  get linked(): boolean {
    return this.link !== undefined && this.lastLinkMs > -Infinity;
  }

  /** The lower of the requested and adaptive frame-rate caps (undefined: none). */
  get frameRateCap(): number | undefined {
    return minDefined(this.requested.limit, this.adaptive.limit);
  }

  /** The adaptive frame-rate cap (undefined: none). */
  setAdaptiveFps(maxFps: number | undefined): void {
    this.adaptive.setLimit(maxFps);
  }

  /** A new frame was published on the viewer's channel. Retains it if it is kept for writing. */
  offer(frame: Frame): void {
    if (this.closed || this.failed) return;
    const monoMs = frame.capture.monoMs;
    if (!this.requested.admit(monoMs)) return;
    if (!this.adaptive.admit(monoMs)) {
      this.drops.adapted++;
      this.counters.drops.adapted++;
      return;
    }
    if (this.draining) {
      if (!this.drained(performance.now())) {
        // Its reader is still behind: the newest frame waits, the one it replaces is dropped.
        const displaced = this.queue.push(frame.retain());
        if (displaced !== undefined) this.dropWhileDraining(displaced);
        return;
      }
      // Drained: this frame is newer than the one that waited.
      for (let waiting = this.queue.shift(); waiting !== undefined; waiting = this.queue.shift()) this.dropWhileDraining(waiting);
    }
    if (this.writing === undefined) {
      this.write(frame.retain());
      return;
    }
    const displaced = this.queue.push(frame.retain());
    if (displaced !== undefined) {
      displaced.release();
      this.drops.replaced++;
      this.counters.drops.replaced++;
      const link = this.linked ? this.link : undefined;
      const behind = link === undefined || link.backlogMs >= BEHIND_MS;
      if (!behind) this.counters.serverLate++;
      if (this.controller?.dropped(performance.now(), behind) === true) this.onAdapt?.(this);
    }
  }

  private dropWhileDraining(frame: Frame): void {
    frame.release();
    this.drops.draining++;
    this.counters.drops.draining++;
  }

  /** Whether a drain is over: its reader read everything, or the drain's time is up. Reads the socket. */
  private drained(nowMs: number): boolean {
    const link = this.link as LinkMonitor;
    const read = link.update(nowMs, this.bytesSent);
    if (read && !link.caughtUp && nowMs < this.drainUntilMs) return false;
    // Over by time, or unreadable: what the socket said is stale, measure afresh.
    if (!read || !link.caughtUp) link.assumeCaughtUp();
    this.draining = false;
    return true;
  }

  /** Sends nothing until the reader has read what it holds: about its pending bytes at its measured rate. */
  private startDrain(nowMs: number, link: LinkMonitor): void {
    this.draining = true;
    const expectedMs = link.capacity > 0 ? (link.pendingBytes / link.capacity) * 1000 : DRAIN_MAX_MS / 2;
    this.drainUntilMs = nowMs + Math.min(DRAIN_MAX_MS, Math.max(DRAIN_MIN_MS, expectedMs));
  }

  /**
   * The stream paused on `frame`, the newest (an unchanged frame was skipped, or the
   * source stopped delivering). WebKit shows the last part of a series late, only
   * once another arrives; a viewer asking for dual final frames (µStreamer's
   * dual_final_frames) gets it once more, if it is idle and sent it only once.
   */
  repeatFinal(frame: Frame): void {
    if (!this.dualFinalFrames || this.closed || this.failed || this.draining || this.writing !== undefined || this.finalRepeated || this.lastSentSequence !== frame.sequence) return;
    this.finalRepeated = true;
    this.write(frame.retain());
  }

  /** Counts a frame this viewer's encoder skipped (see ProfileEncoder). */
  countEncoderBusy(): void {
    this.drops.encoder_busy++;
    this.counters.drops.encoder_busy++;
  }

  /** Ends the stream (the socket closes once buffered bytes are out). */
  close(reason: ViewerCloseReason): void {
    if (this.closed) return;
    this.closeReason = reason;
    this.sink.end();
    // A viewer that is not reading would keep the socket open forever.
    if (reason === 'shutdown' || reason === 'stalled') this.sink.destroy();
  }

  stats(nowMs: number = performance.now()): ViewerStats {
    const level = this.controller?.level ?? 0;
    return {
      id: this.id,
      remote: this.info.remote,
      userAgent: this.info.userAgent,
      connectedAt: this.connectedAt.toISOString(),
      framesSent: this.framesSent,
      bytesSent: this.bytesSent,
      fps: Math.round(this.delivered.rate(nowMs) * 100) / 100,
      drops: this.drops.toJSON(),
      queued: this.queue.length,
      bytesInFlight: this.writingBytes,
      link: this.linkStats(),
      lastLatencyMs: Math.round(this.lastLatencyMs * 100) / 100,
      lastPartAgeMs: this.lastWrittenMs < 0 ? null : Math.round(nowMs - this.lastWrittenMs),
      level,
      maxFps: this.frameRateCap ?? null,
      profile: this.profile,
    };
  }

  private linkStats(): ViewerStats['link'] {
    const link = this.linked ? this.link : undefined;
    if (link === undefined) return null;
    return { backlogMs: Math.round(link.backlogMs), pendingBytes: link.pendingBytes, capacity: Math.round(link.capacity), draining: this.draining };
  }

  private write(frame: Frame): void {
    this.writing = frame;
    this.writeStartedMs = performance.now();
    this.stallTimer.arm();
    this.writingBytes = this.sink.send(frame, this.afterWrite);
  }

  /** The previous part reached the kernel (or failed): release it, send the next. */
  private written(error: Error | null | undefined): void {
    const frame = this.writing;
    this.writing = undefined;
    if (frame === undefined) return;
    const bytes = this.writingBytes;
    this.writingBytes = 0;
    if (error == null && frame.sequence === this.lastSentSequence) {
      // A dual final frame: its bytes count, but its age is no measure of this viewer's lag.
      this.bytesSent += bytes;
      this.counters.bytesSent += bytes;
    } else if (error == null) {
      const now = performance.now();
      this.lastSentSequence = frame.sequence;
      this.finalRepeated = false;
      this.framesSent++;
      this.bytesSent += bytes;
      this.counters.framesSent++;
      this.counters.bytesSent += bytes;
      this.lastLatencyMs = now - frame.capture.monoMs;
      this.counters.latency.record(this.lastLatencyMs, now);
      this.lastWrittenMs = now;
      this.delivered.mark(now);
      this.judge(now);
    }
    frame.release();
    if (error != null) {
      // Nothing more goes out: the frames waiting are let go now, and a frame offered
      // before the transport's 'close' arrives is not sent after the older one failed.
      this.failed = true;
      this.releaseQueued();
      return;
    }
    if (this.closed || this.draining) return;
    const next = this.queue.shift();
    if (next !== undefined) this.write(next);
  }

  /**
   * After a completed write: what the viewer's socket says (read at most every
   * LINK_SAMPLE_MS, at once when the write was late) and its lag go to its
   * controller; a backlog of unread frames starts a drain.
   */
  private judge(now: number): void {
    const link = this.link;
    if (link !== undefined) {
      // On a shared connection the frame's end is the kernel's count now: read at every write.
      const shared = link.sharedConnection;
      if (!shared) link.wrote(this.bytesSent, now);
      if (shared || now - this.lastLinkMs >= LINK_SAMPLE_MS || this.lastLatencyMs >= BEHIND_MS) {
        if (link.update(now, this.bytesSent)) {
          this.lastLinkMs = now;
          if (shared) link.wrote(link.taken, now);
        } else if (this.lastLinkMs === -Infinity) {
          // The socket cannot be read (not TCP, or no descriptor): lag alone decides.
          this.link = undefined;
          if (this.controller !== undefined) this.controller.link = undefined;
        }
      }
    }
    if (this.link === undefined || this.lastLinkMs === -Infinity) {
      if (this.controller?.written(now, this.lastLatencyMs) === true) this.onAdapt?.(this);
      return;
    }
    // A backlog deeper than a reader that reads in bursts ever holds is drained and judged at once;
    // otherwise what it never catches up on (see LinkMonitor.standingMs), or how long the kernel
    // took to accept this write: a full send queue is the viewer's link too (a shaped link keeps
    // its backlog in the network, where it is in flight, not unread).
    const deep = this.link.backlogMs > Math.min(this.drainAboveMs, this.controller?.probeCeilingMs(now) ?? Infinity);
    if (deep) this.startDrain(now, this.link);
    const viewerMs = deep ? this.link.backlogMs : Math.max(this.link.standingMs, now - this.writeStartedMs);
    const observed = this.controller?.observe(now, this.lastLatencyMs, viewerMs);
    if (observed === 'server-late') this.counters.serverLate++;
    if (observed === 'changed') this.onAdapt?.(this);
  }

  /** The socket closed: release every frame still waiting. An in-flight write is released by its callback. */
  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.stallTimer.cancel();
    this.releaseQueued();
    this.onClose(this, this.closeReason);
  }

  private releaseQueued(): void {
    for (let frame = this.queue.shift(); frame !== undefined; frame = this.queue.shift()) frame.release();
  }
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
