import type { Writable } from 'node:stream';
import type { Frame } from '../frame/index.js';
import { DropCounters } from '../metrics/index.js';
import type { CameraCounters } from './camera-counters.js';
import { FrameQueue } from './frame-queue.js';

export type ViewerCloseReason = 'client' | 'error' | 'shutdown';

export interface ViewerInfo {
  /** The client's address, for logs and stats. */
  remote: string;
  userAgent?: string | undefined;
}

/** What /api/stats says of one viewer. */
export interface ViewerStats {
  id: number;
  remote: string;
  userAgent: string | undefined;
  connectedAt: string;
  framesSent: number;
  bytesSent: number;
  drops: ReturnType<DropCounters['toJSON']>;
  queued: number;
  /** Capture to the last completed write of this viewer, in milliseconds. */
  lastLatencyMs: number;
}

let nextViewerId = 1;

/**
 * One MJPEG viewer: writes frames' shared parts to its socket, one at a time.
 *
 * A frame is written only once the previous write has completed (handed to the
 * kernel), so Node's socket buffer holds at most one part and never grows. Frames
 * published meanwhile wait in a bounded FrameQueue where the latest frame wins;
 * the ones that give way are counted as drops. This is µStreamer's per-client
 * loop (re-arm the write when the socket drains, skip to the newest frame).
 *
 * Nothing here allocates per frame: the write callback is bound once, counters
 * are plain fields, and the part written is the frame's own shared view.
 */
export class Viewer {
  readonly id = nextViewerId++;
  readonly info: ViewerInfo;
  readonly connectedAt = new Date();
  readonly drops = new DropCounters();
  framesSent = 0;
  bytesSent = 0;
  lastLatencyMs = 0;

  private readonly sink: Writable;
  private readonly queue: FrameQueue;
  private readonly counters: CameraCounters;
  private writing: Frame | undefined;
  private closed = false;
  private closeReason: ViewerCloseReason = 'client';
  private readonly onClose: (viewer: Viewer, reason: ViewerCloseReason) => void;
  private readonly afterWrite = this.written.bind(this);

  constructor(
    sink: Writable,
    info: ViewerInfo,
    counters: CameraCounters,
    queueCapacity: number,
    onClose: (viewer: Viewer, reason: ViewerCloseReason) => void,
  ) {
    this.sink = sink;
    this.info = info;
    this.counters = counters;
    this.queue = new FrameQueue(queueCapacity);
    this.onClose = onClose;
    sink.on('error', () => {
      if (this.closeReason === 'client') this.closeReason = 'error';
    });
    sink.on('close', () => this.finish());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** A new frame was published. Retains it if it is kept for writing. */
  offer(frame: Frame): void {
    if (this.closed) return;
    if (this.writing === undefined) {
      this.write(frame.retain());
      return;
    }
    const displaced = this.queue.push(frame.retain());
    if (displaced !== undefined) {
      displaced.release();
      this.drops.replaced++;
      this.counters.drops.replaced++;
    }
  }

  /** Ends the stream (the socket closes once buffered bytes are out). */
  close(reason: ViewerCloseReason): void {
    if (this.closed) return;
    this.closeReason = reason;
    this.sink.end();
    // A viewer that is not reading would keep the socket open forever.
    if (reason === 'shutdown') this.sink.destroy();
  }

  stats(): ViewerStats {
    return {
      id: this.id,
      remote: this.info.remote,
      userAgent: this.info.userAgent,
      connectedAt: this.connectedAt.toISOString(),
      framesSent: this.framesSent,
      bytesSent: this.bytesSent,
      drops: this.drops.toJSON(),
      queued: this.queue.length,
      lastLatencyMs: this.lastLatencyMs,
    };
  }

  private write(frame: Frame): void {
    this.writing = frame;
    this.sink.write(frame.part, this.afterWrite);
  }

  /** The previous part reached the kernel (or failed): release it, send the next. */
  private written(error: Error | null | undefined): void {
    const frame = this.writing;
    this.writing = undefined;
    if (frame === undefined) return;
    if (error == null) {
      const bytes = frame.part.length;
      this.framesSent++;
      this.bytesSent += bytes;
      this.counters.framesSent++;
      this.counters.bytesSent += bytes;
      this.lastLatencyMs = performance.now() - frame.capture.monoMs;
    }
    frame.release();
    if (this.closed || error != null) return;
    const next = this.queue.shift();
    if (next !== undefined) this.write(next);
  }

  /** The socket closed: release every frame still waiting. An in-flight write is released by its callback. */
  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    for (let frame = this.queue.shift(); frame !== undefined; frame = this.queue.shift()) frame.release();
    this.onClose(this, this.closeReason);
  }
}
