import { emptyLinkSample, type LinkSample } from './kernel-queue.js';

/** Frames remembered per viewer: more than a second of video at 60 fps before the oldest is forgotten. */
const REMEMBERED_FRAMES = 64;
/** Capacity is measured over at least this much time behind, so one burst of reading is not taken for a rate. */
const CAPACITY_WINDOW_MS = 500;
/**
 * Only intervals between readings this close count: a longer one spans a drain or an
 * idle spell (nothing sent), in which the reader may have sat idle with nothing to read.
 */
const CAPACITY_MAX_INTERVAL_MS = 250;

/**
 * What one viewer's connection says about the viewer, from its socket's TCP state
 * (see KernelQueue.readLink): how late the oldest frame its *application* has not
 * yet read is, and how fast it reads while it is the bottleneck (while the kernel
 * holds bytes it cannot send).
 *
 * Why: a write completes when the kernel took the bytes, and a reader's receive
 * buffer (auto-tuned to megabytes) can hold seconds of video while every write still
 * completes at once. The peer acknowledges what reached its receive buffer, and
 * advertises how much room is left in it; the room it lost since it last had the
 * most is what its reader holds unread (a lower bound: the buffer only grows). So
 * the bytes not yet read are those not yet acknowledged plus that, and the frames
 * they belong to are known from the viewer's own byte count at the end of each write.
 *
 * `update` is called right after a write completed or while nothing is being written,
 * when the kernel holds every byte the viewer wrote. Plain fields and two preallocated
 * arrays: nothing is allocated per frame.
 */
export class LinkMonitor {
  /** How late the oldest frame its application has not finished reading is, ms; 0 when it read everything. */
  backlogMs = 0;
  /** Bytes written and not yet read by its application: unsent, in flight, or in its receive buffer. */
  pendingBytes = 0;
  /** Bytes per second its application read while it was behind; 0 until measured. */
  capacity = 0;
  /** When capacity was last measured (performance.now() ms). */
  capacityAtMs = -Infinity;

  private readonly sample: LinkSample = emptyLinkSample();
  private readonly ends = new Float64Array(REMEMBERED_FRAMES);
  private readonly captures = new Float64Array(REMEMBERED_FRAMES);
  private head = 0;
  private count = 0;
  private widestWindow = 0;
  private lastMs = -Infinity;
  private lastConsumed = 0;
  private lastNotSent = 0;
  private behindBytes = 0;
  private behindMs = 0;

  /** Bytes the kernel had taken from the connection at the last read. */
  taken = 0;

  constructor(
    private readonly read: (out: LinkSample) => boolean,
    /**
     * The connection carries other viewers' bytes too (a /ws connection's cameras): positions
     * are then the kernel's own count (`taken` after a read at each write's end), not the viewer's.
     */
    readonly sharedConnection = false,
  ) {}

  /** A frame captured at `captureMs` was handed to the kernel; the viewer has now written `viewerBytes` in all. */
  wrote(viewerBytes: number, captureMs: number): void {
    if (this.count === REMEMBERED_FRAMES) {
      // Over a second behind: forget the oldest; the backlog then reads a little younger than it is.
      this.head = (this.head + 1) % REMEMBERED_FRAMES;
      this.count--;
    }
    const slot = (this.head + this.count) % REMEMBERED_FRAMES;
    this.ends[slot] = viewerBytes;
    this.captures[slot] = captureMs;
    this.count++;
  }

  /**
   * Reads the socket; false when it cannot be read (the figures then stay as they were).
   * `viewerBytes` is the viewer's own byte count (ignored on a shared connection).
   */
  update(nowMs: number, viewerBytes: number): boolean {
    const sample = this.sample;
    if (!this.read(sample)) return false;
    this.taken = sample.bytesTaken;
    const position = this.sharedConnection ? sample.bytesTaken : viewerBytes;
    if (sample.receiveWindow > this.widestWindow) this.widestWindow = sample.receiveWindow;
    const unread = this.widestWindow - sample.receiveWindow;
    this.pendingBytes = Math.max(0, sample.bytesTaken - sample.bytesAcked) + unread;
    const consumed = position - this.pendingBytes;
    while (this.count > 0 && (this.ends[this.head] as number) <= consumed) {
      this.head = (this.head + 1) % REMEMBERED_FRAMES;
      this.count--;
    }
    this.backlogMs = this.count > 0 ? Math.max(0, nowMs - (this.captures[this.head] as number)) : 0;
    if (this.lastNotSent > 0 && sample.notSent > 0 && nowMs > this.lastMs && nowMs - this.lastMs <= CAPACITY_MAX_INTERVAL_MS) {
      // The kernel held bytes it could not send at both ends (the window or the link was
      // full throughout): the viewer read as fast as it could, so what it read is its rate.
      this.behindBytes += Math.max(0, consumed - this.lastConsumed);
      this.behindMs += nowMs - this.lastMs;
      if (this.behindMs >= CAPACITY_WINDOW_MS) {
        this.capacity = (this.behindBytes / this.behindMs) * 1000;
        this.capacityAtMs = nowMs;
        this.behindBytes = 0;
        this.behindMs = 0;
      }
    }
    this.lastMs = nowMs;
    this.lastConsumed = consumed;
    this.lastNotSent = sample.notSent;
    return true;
  }

  /** Every frame written has been read (or the socket cannot tell). */
  get caughtUp(): boolean {
    return this.count === 0;
  }
}
