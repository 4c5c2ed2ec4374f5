/**
 * The soak's viewers: MJPEG clients (test/helpers/mjpeg-reader.ts's MjpegReader:
 * a raw socket and a parser that checks every part's framing) that behave like one
 * kind of real player:
 *
 * - `fast`: reads everything as it comes;
 * - `slow`: reads at most a few hundred KB/s by pausing its socket, as over a weak
 *   link, so the server's queue drops and adaptation (lower fps, re-encoded
 *   profiles) kick in;
 * - `frozen`: reads for a moment, then stops reading for good (a hung player), so
 *   the server's viewer-stall-timeout must disconnect it;
 * - `profile`: reads everything of a stream it asked to be re-encoded
 *   (`?width=320&quality=50`).
 */
import { MjpegReader } from '../test/helpers/mjpeg-reader.js';

export type ViewerKind = 'fast' | 'slow' | 'frozen' | 'profile';
export const VIEWER_KINDS: readonly ViewerKind[] = ['fast', 'slow', 'frozen', 'profile'];

export interface ViewerBehaviour {
  kind: ViewerKind;
  camera: string;
  /** How long it watches before it leaves, ms. */
  lifetimeMs: number;
  /** slow: bytes per second it reads at most. */
  rateBytesPerSecond?: number;
  /** frozen: ms of normal reading before it stops. */
  freezeAfterMs?: number;
}

/** A paced reader may read this far ahead of its rate, so pacing is not one read per timer. */
const BURST_MS = 10;

export class SoakViewer {
  readonly behaviour: ViewerBehaviour;
  readonly openedMs = performance.now();
  closedMs: number | undefined;
  private leaving = false;
  private frozen = false;
  private linkFreeMs = 0;
  private readonly reader: MjpegReader;
  /** Its leaving, freezing and paced-read timers. */
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly closed: Promise<void>;

  constructor(baseUrl: string, behaviour: ViewerBehaviour) {
    this.behaviour = behaviour;
    const target = new URL(`/cam/${behaviour.camera}/stream${behaviour.kind === 'profile' ? '?width=320&quality=50' : ''}`, baseUrl);
    this.reader = new MjpegReader(target.href, `camstream-soak-${behaviour.kind}`);
    // A second listener only measures what arrived, to pace a slow viewer.
    if (behaviour.rateBytesPerSecond !== undefined) this.reader.socket.on('data', (chunk: Buffer) => this.pace(chunk.length, behaviour.rateBytesPerSecond as number));
    this.closed = this.reader.whenClosed().then(() => {
      this.closedMs ??= performance.now();
      this.clearTimers();
    });
    if (behaviour.kind === 'frozen') {
      this.after(behaviour.freezeAfterMs ?? 1000, () => {
        this.frozen = true;
        this.reader.socket.pause();
      });
    }
    this.after(behaviour.lifetimeMs, () => void this.leave());
  }

  get open(): boolean {
    return this.closedMs === undefined;
  }

  get parts(): number {
    return this.reader.parts.length;
  }

  /** Why the stream failed (socket error, malformed stream, not a 200), if it did. */
  get error(): string | undefined {
    return this.reader.error;
  }

  /** The server ended the connection before this viewer left. */
  get closedByServer(): boolean {
    return this.reader.closedByServer;
  }

  /** Leaves (closes the socket); resolves once it is closed. */
  leave(): Promise<void> {
    if (!this.leaving) {
      this.leaving = true;
      this.closedMs ??= performance.now();
      this.clearTimers();
      this.reader.close();
    }
    return this.closed;
  }

  /** A slow viewer: after `bytes` arrived, pause until a link of `rate` bytes/s would have carried them. */
  private pace(bytes: number, rate: number): void {
    if (this.frozen || this.leaving) return;
    const now = performance.now();
    this.linkFreeMs = Math.max(this.linkFreeMs, now - BURST_MS) + (bytes / rate) * 1000;
    const waitMs = this.linkFreeMs - now;
    if (waitMs <= 0) return;
    this.reader.socket.pause();
    this.after(waitMs, () => {
      if (!this.frozen && !this.leaving) this.reader.socket.resume();
    });
  }

  private after(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
  }

  private clearTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
