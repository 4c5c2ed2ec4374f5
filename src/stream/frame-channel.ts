import type { Frame } from '../frame/index.js';
import type { Viewer } from './viewer.js';

/**
 * One stream of frames and the viewers watching it: the latest-frame exchange and
 * its fan-out. A camera has one channel for its source's own frames and one per
 * re-encoded profile (smaller or lower quality) that some viewer currently needs.
 *
 * Everything runs on the one event loop: fanOut replaces `latest` and offers the
 * frame to every viewer in one synchronous pass, so no reader ever sees a
 * half-replaced frame and no lock is needed. Reference counts decide when a
 * frame's memory may be reused.
 */
export class FrameChannel {
  private latestFrame: Frame | undefined;
  private readonly members: Viewer[] = [];

  get latest(): Frame | undefined {
    return this.latestFrame;
  }

  get viewers(): readonly Viewer[] {
    return this.members;
  }

  /** The hot path: makes `frame` the latest and offers it to every viewer. Takes over the caller's reference. */
  fanOut(frame: Frame): void {
    const previous = this.latestFrame;
    this.latestFrame = frame;
    // Viewers leave only from a socket 'close' event or a level change between
    // frames, never synchronously inside offer(), so the array cannot change
    // under this loop.
    const viewers = this.members;
    for (let i = 0; i < viewers.length; i++) (viewers[i] as Viewer).offer(frame);
    previous?.release();
  }

  /** Adds a viewer; it gets the latest frame at once. */
  add(viewer: Viewer): void {
    this.members.push(viewer);
    if (this.latestFrame !== undefined) viewer.offer(this.latestFrame);
  }

  remove(viewer: Viewer): boolean {
    const index = this.members.indexOf(viewer);
    if (index < 0) return false;
    this.members.splice(index, 1);
    return true;
  }

  /** Releases the latest frame (the source stopped, or nobody watches this channel). */
  clear(): void {
    this.latestFrame?.release();
    this.latestFrame = undefined;
  }
}
