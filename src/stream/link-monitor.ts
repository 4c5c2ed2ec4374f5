import { emptyLinkSample, type LinkSample } from './kernel-queue.js';

/** Frames remembered per viewer: more than a second of video at 60 fps before the oldest is forgotten. */
const REMEMBERED_FRAMES = 64;
/**
 * A reader is behind when the oldest frame it has not read was written this long ago:
 * longer than a reader that reads in bursts (a busy tab, every 250 ms) waits between
 * reads while it keeps up.
 */
const BEHIND_FOR_MS = 300;
/**
 * The read rate is measured over runs of samples with the reader behind this long: two
 * of a busy tab's read periods, whose reads vary in size (measured over 300 ms, one read
 * each, from 0.16 to 2.9 MB/s for a 2 MB/s reader).
 */
const CAPACITY_RUN_MS = 500;
/** The highest rate measured stands 2 to 4 s (two windows of this) before a lower one replaces it. */
const CAPACITY_MAX_WINDOW_MS = 2000;
/**
 * The standing backlog is the least backlog seen over the last one to two of these
 * windows. A reader that reads in bursts (a busy tab, every 250 ms) has a backlog
 * that swings from 0 to its read period; one that cannot keep up never gets back to
 * 0. A window longer than the read period of a tab that reads four times a second.
 * As CoDel judges a queue by its minimum delay over an interval, not its peaks.
 */
const STANDING_WINDOW_MS = 300;
/** The peak backlog is the most seen over the last one to two of these: longer than a busy tab's read period. */
const PEAK_WINDOW_MS = 1000;
/**
 * The room a receive buffer has when its reader has read everything is the widest window
 * seen over the last one to two of these. Not the widest ever: Linux (6.x) scales the
 * window it advertises by the ratio of payload to memory of recent packets, so the same
 * empty buffer advertises less once frames get small; an all-time maximum would then
 * count bytes as unread forever.
 */
const WIDEST_WINDOW_MS = 1000;
/** Window noise below which nothing counts as unread (see update). */
export const UNREAD_NOISE_BYTES = 64 * 1024;

/**
 * The least (or most) of a series over the last one to two windows: the current
 * window's and the one before. A gap of two windows or more forgets the old one, which
 * says nothing of now. Two numbers, no allocation per value.
 */
class WindowedExtreme {
  private current: number;
  private previous: number;
  private sinceMs = -Infinity;

  constructor(
    private readonly windowMs: number,
    /** Keeps the least (min) or the most (max). */
    private readonly keep: 'min' | 'max',
  ) {
    this.current = this.previous = this.empty;
  }

  /** Adds `value` seen at `nowMs`; returns the extreme over the last one to two windows. */
  add(nowMs: number, value: number): number {
    if (nowMs - this.sinceMs >= this.windowMs) {
      this.previous = nowMs - this.sinceMs < 2 * this.windowMs ? this.current : this.empty;
      this.current = this.empty;
      this.sinceMs = nowMs;
    }
    this.current = this.pick(this.current, value);
    return this.pick(this.current, this.previous);
  }

  /** Forgets every value. */
  reset(): void {
    this.current = this.previous = this.empty;
    this.sinceMs = -Infinity;
  }

  private get empty(): number {
    return this.keep === 'min' ? Infinity : 0;
  }

  private pick(a: number, b: number): number {
    return this.keep === 'min' ? Math.min(a, b) : Math.max(a, b);
  }
}

/**
 * What one viewer's connection says about the viewer, from its socket's TCP state
 * (see KernelQueue.readLink): how long ago the oldest frame its *application* has
 * not yet read was written, and how fast it reads while it is the bottleneck.
 *
 * Why: a write completes when the kernel took the bytes, and a reader's receive
 * buffer (auto-tuned to megabytes) can hold seconds of video while every write still
 * completes at once. The peer acknowledges what reached its receive buffer, and
 * advertises how much room is left in it; the room it lost since it last had the
 * most (lately) is what its reader holds unread. So
 * the bytes not yet read are those not yet acknowledged plus that, and the frames
 * they belong to are known from the viewer's own byte count at the end of each write,
 * and how long they have waited from when each write completed.
 *
 * `update` is called right after a write completed or while nothing is being written,
 * when the kernel holds every byte the viewer wrote. Plain fields and two preallocated
 * arrays: nothing is allocated per frame.
 */
export class LinkMonitor {
  /** How long ago the oldest frame its application has not finished reading was written, beyond the round trip, ms; 0 when it read everything. */
  backlogMs = 0;
  /** The least backlogMs over the last 0.3–0.6 s: what the reader never catches up on. */
  standingMs = 0;
  /** The most backlogMs over the last 1–2 s: how far a reader swings that reads in bursts (a busy tab: its read period). */
  peakMs = 0;
  /** Bytes written and not yet read by its application: unsent, in flight, or in its receive buffer. */
  pendingBytes = 0;
  /** Bytes per second its application read while it was behind (the most in a run over the last 2–4 s); 0 until measured. */
  capacity = 0;
  /** When it was last measured (performance.now() ms). */
  capacityAtMs = -Infinity;

  private readonly sample: LinkSample = emptyLinkSample();
  private readonly ends = new Float64Array(REMEMBERED_FRAMES);
  private readonly writtenAt = new Float64Array(REMEMBERED_FRAMES);
  private head = 0;
  private count = 0;
  /** The widest receive window lately: the room of its buffer with nothing unread. */
  private readonly widest = new WindowedExtreme(WIDEST_WINDOW_MS, 'max');
  /** The most read in a run lately (capacity). */
  private readonly mostRead = new WindowedExtreme(CAPACITY_MAX_WINDOW_MS, 'max');
  /** The most backlog lately (peakMs). */
  private readonly mostBacklog = new WindowedExtreme(PEAK_WINDOW_MS, 'max');
  /** The least backlog lately (standingMs). */
  private readonly leastBacklog = new WindowedExtreme(STANDING_WINDOW_MS, 'min');
  /** When the last sample was read. */
  private lastSampleMs = -Infinity;
  /** Where the current run of samples with the reader behind began: when, what it had read, retransmitted bytes then. */
  private runSinceMs = -Infinity;
  private runConsumed = 0;
  private runRetransmitted = 0;

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

  /**
   * A frame was handed to the kernel at `nowMs`; the viewer has now written `viewerBytes`
   * in all. The backlog counts from here, not from capture: what happened before the
   * write (encoding, the server's own delays) is the server's, not the reader's.
   */
  wrote(viewerBytes: number, nowMs: number): void {
    if (this.count === REMEMBERED_FRAMES) {
      // Over a second behind: forget the oldest; the backlog then reads a little younger than it is.
      this.head = (this.head + 1) % REMEMBERED_FRAMES;
      this.count--;
    }
    const slot = (this.head + this.count) % REMEMBERED_FRAMES;
    this.ends[slot] = viewerBytes;
    this.writtenAt[slot] = nowMs;
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
    const widestWindow = this.widest.add(nowMs, sample.receiveWindow);
    // The window of an empty buffer wanders: a receiver reopens it in steps of segments
    // (silly-window avoidance), rounds it to its scale, and Linux 6 rescales it to recent
    // packet sizes. Seen with everything read: 4 to 6 segments below the widest on a
    // shaped veth (MSS 1448: under 9 KB), at most one segment on loopback (MSS 64 KB;
    // p90 0, max 64 KiB with 115 KB frames at 30 fps). Only what is lost beyond 64 KiB,
    // or one segment where segments are larger, is unread: the backlogs that matter are
    // a busy tab's megabytes, and a link's own backlog shows as bytes not yet acknowledged.
    // (Four segments, as before, hid 256 KB on loopback: a quarter second at 1 MB/s.)
    const noise = Math.max(sample.mss, UNREAD_NOISE_BYTES);
    const unread = Math.max(0, widestWindow - sample.receiveWindow - noise);
    this.pendingBytes = Math.max(0, sample.bytesTaken - sample.bytesAcked) + unread;
    const consumed = position - this.pendingBytes;
    while (this.count > 0 && (this.ends[this.head] as number) <= consumed) {
      this.head = (this.head + 1) % REMEMBERED_FRAMES;
      this.count--;
    }
    // Beyond the path's round trip: a frame in flight to a distant viewer that reads at once is not a backlog.
    this.backlogMs = this.count > 0 ? Math.max(0, nowMs - (this.writtenAt[this.head] as number) - sample.minRttUs / 1000) : 0;
    this.standingMs = this.leastBacklog.add(nowMs, this.backlogMs);
    this.peakMs = this.mostBacklog.add(nowMs, this.backlogMs);
    this.measureCapacity(nowMs, consumed, sample.bytesRetransmitted);
    return true;
  }

  /**
   * The read rate, over runs of samples in which the reader never ran out of bytes to
   * read: at each sample the oldest frame it has not read was written BEHIND_FOR_MS ago
   * or more, so it had bytes to read all along (however it read) and what it read is its
   * own rate, not the rate we sent at. (Asking only that it had not read what was
   * written by the sample before, 100 ms earlier, measured a busy tab that keeps up at
   * the rate it was sent: 22 KB/s for a 2 MB/s reader.) A run of at least CAPACITY_RUN_MS
   * gives one figure, and the next run starts where it ended.
   */
  private measureCapacity(nowMs: number, consumed: number, retransmitted: number): void {
    // Behind all along since the last sample, close enough to it, and no retransmission since
    // the run began (a loss or a timeout reads low while the link is as fast as before).
    const behind = this.backlogMs >= BEHIND_FOR_MS && nowMs - this.lastSampleMs <= BEHIND_FOR_MS;
    this.lastSampleMs = nowMs;
    if (!behind || retransmitted !== this.runRetransmitted) {
      this.runSinceMs = nowMs;
      this.runConsumed = consumed;
      this.runRetransmitted = retransmitted;
      return;
    }
    if (nowMs - this.runSinceMs < CAPACITY_RUN_MS) return;
    // A run in which it read nothing says it stalled, not how fast it reads: the old figure stands.
    if (consumed > this.runConsumed) {
      // The most it read in any run lately, as BBR keeps the most a path delivered: a run
      // with a pause of the reader in it reads low without the reader having become slower.
      // A lower figure is news too: it says the measure is current (capacityAtMs).
      this.capacity = this.mostRead.add(nowMs, ((consumed - this.runConsumed) / (nowMs - this.runSinceMs)) * 1000);
      this.capacityAtMs = nowMs;
    }
    this.runSinceMs = nowMs;
    this.runConsumed = consumed;
  }

  /**
   * A drain ended without the socket saying the reader caught up. A receiver that read
   * everything advertises its reopened window only with its next acknowledgement, and
   * nothing was sent to acknowledge: what is known is stale. Take it as caught up and
   * measure afresh from the next writes; a reader still behind shows it again at once.
   */
  assumeCaughtUp(): void {
    this.head = 0;
    this.count = 0;
    this.widest.reset();
    this.leastBacklog.reset();
    this.mostBacklog.reset();
    this.backlogMs = 0;
    this.standingMs = 0;
    this.peakMs = 0;
  }

  /** Every frame written has been read (or the socket cannot tell). */
  get caughtUp(): boolean {
    return this.count === 0;
  }
}
