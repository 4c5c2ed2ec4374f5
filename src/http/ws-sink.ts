import type { WebSocket } from 'ws';
import type { Frame } from '../frame/index.js';
import type { FrameSink, LinkSample, SendDone } from '../stream/index.js';
import { WS_OPEN, type FrameHeaderCache } from './ws-message.js';
import type { ParkedSlot, SendGate } from './ws-send-gate.js';

/** What a sink needs of the connection it is a slot of. */
export interface SlotOwner {
  /** A viewer of `cameraId` must end now (its camera stopped, or it stalled): the whole connection goes. */
  abort(cameraId: string): void;
}

const HEADER_FRAGMENT = { binary: true, fin: false } as const;
const JPEG_FRAGMENT = { binary: true, fin: true } as const;

/**
 * One camera's slot on a WebSocket connection, as a Viewer's FrameSink. Each frame
 * is one binary message in two fragments: the camera's shared header (built once
 * per frame), then the pooled JPEG itself; ws writes unmasked server frames
 * without copying, so the JPEG goes from the pool to the kernel as for MJPEG.
 *
 * The Viewer sends one frame at a time, so at most one `done` is pending: it is
 * kept in a field and called through one callback bound per sink, exactly once,
 * whichever comes first of ws's send callback and the connection closing.
 */
export class WebSocketSink implements FrameSink, ParkedSlot {
  private pendingDone: SendDone | undefined;
  /** A frame waiting for room on the connection (see SendGate), with its header. */
  private parkedFrame: Frame | undefined;
  private parkedHeader: Buffer | undefined;
  private readonly afterSend = this.sent.bind(this);
  private readonly closeListeners: (() => void)[] = [];
  private readonly errorListeners: (() => void)[] = [];
  private closed = false;
  /** The connection's TCP state, shared with its other cameras' slots (see LinkMonitor.sharedConnection). */
  readonly readLink: ((out: LinkSample) => boolean) | undefined;
  readonly sharedConnection = true;

  constructor(
    private readonly socket: WebSocket,
    private readonly headers: FrameHeaderCache,
    private readonly owner: SlotOwner,
    private readonly gate: SendGate,
    readLink?: (out: LinkSample) => boolean,
  ) {
    this.readLink = readLink;
  }

  get cameraId(): string {
    return this.headers.cameraId;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  send(frame: Frame, done: SendDone): number {
    if (this.closed || this.socket.readyState !== WS_OPEN) {
      process.nextTick(done, new Error(`the WebSocket slot of camera '${this.cameraId}' is closed`));
      return 0;
    }
    const header = this.headers.headerFor(frame);
    this.pendingDone = done;
    if (this.gate.open) this.transmit(header, frame);
    else {
      this.parkedFrame = frame;
      this.parkedHeader = header;
      this.gate.park(this);
    }
    return header.length + frame.jpeg.length;
  }

  /** The connection has room again: the parked frame goes out. */
  transmitParked(): void {
    const frame = this.parkedFrame;
    const header = this.parkedHeader;
    this.parkedFrame = undefined;
    this.parkedHeader = undefined;
    if (frame === undefined || header === undefined) return;
    if (this.closed || this.socket.readyState !== WS_OPEN) this.sent(new Error('the WebSocket closed'));
    else this.transmit(header, frame);
  }

  private transmit(header: Buffer, frame: Frame): void {
    // Both fragments are queued in this one synchronous call: no other message can come between them.
    this.socket.send(header, HEADER_FRAGMENT);
    this.socket.send(frame.jpeg, JPEG_FRAGMENT, this.afterSend);
  }

  /** The camera ended this viewer gracefully: only this slot ends; the client is told. */
  end(): void {
    if (this.closed) return;
    if (this.socket.readyState === WS_OPEN) this.socket.send(JSON.stringify({ type: 'ended', camera: this.cameraId }));
    this.detach();
  }

  /** A viewer that must end now: a client that does not read stalls all its cameras anyway, so the connection goes. */
  destroy(): void {
    this.owner.abort(this.cameraId);
  }

  on(event: 'close' | 'error', listener: () => void): this {
    (event === 'close' ? this.closeListeners : this.errorListeners).push(listener);
    return this;
  }

  /** The slot ends without a word to the client (unsubscribed, replaced, or the connection is going). */
  detach(failed = false): void {
    if (this.closed) return;
    this.closed = true;
    if (this.parkedFrame !== undefined) {
      // Never sent, so nothing else will call its done: the viewer gets it back now.
      this.gate.remove(this);
      this.parkedFrame = undefined;
      this.parkedHeader = undefined;
      this.sent(new Error(`the WebSocket slot of camera '${this.cameraId}' closed`));
    }
    if (failed) for (const listener of this.errorListeners) listener();
    for (const listener of this.closeListeners) listener();
  }

  /**
   * The WebSocket is gone. ws calls a pending send's callback (with an error) when
   * its socket closes, before this; should one still be pending, it is called here.
   */
  connectionClosed(failed: boolean): void {
    this.detach(failed);
    if (this.pendingDone !== undefined) this.sent(new Error('the WebSocket closed'));
  }

  private sent(error?: Error | null): void {
    const done = this.pendingDone;
    this.pendingDone = undefined;
    done?.(error);
    // Bytes left the connection's queue (or never will): others waiting for room may go.
    this.gate.drained();
  }
}
