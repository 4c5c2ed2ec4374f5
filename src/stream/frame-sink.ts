import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { Frame } from '../frame/index.js';
import type { KernelQueue, LinkSample } from './kernel-queue.js';

/** Called once a send's bytes are handed to the kernel, or with the error that stopped them. */
export type SendDone = (error?: Error | null) => void;

/**
 * Where a Viewer's frames go: an MJPEG response's socket, or one camera's slot on a
 * WebSocket connection. The Viewer decides *which* frames to send and when (one at
 * a time, latest wins); the sink only knows how a frame goes over its transport.
 */
export interface FrameSink {
  /** Starts sending `frame` (the viewer holds a reference until `done`); returns the bytes it sends. */
  send(frame: Frame, done: SendDone): number;
  /** Ends after what is buffered has gone out. */
  end(): void;
  /** Ends now (a viewer that does not read would keep a graceful end waiting forever). */
  destroy(): void;
  /** `close` once the transport is gone; `error` before it when it failed. */
  on(event: 'close' | 'error', listener: () => void): unknown;
  /**
   * Reads the transport's TCP state into `out` (see KernelQueue.readLink); absent when
   * the sink's bytes share a connection with others or cannot be seen (false: not now).
   */
  readLink?(out: LinkSample): boolean;
  /** Other sinks write to the same connection (a /ws connection's cameras): see LinkMonitor.sharedConnection. */
  readonly sharedConnection?: boolean;
}

/** How an MJPEG viewer's parts are cut from a frame (see src/frame/multipart.ts). */
export type PartStyle = 'standard' | 'advance-headers';

/**
 * An MJPEG viewer's socket. Every frame is one write of a view of the frame's own
 * pooled buffer, shared with every other viewer: its part (header, JPEG, boundary),
 * or with advance headers the JPEG, boundary and the next part's header.
 */
export class MjpegSink implements FrameSink {
  readonly readLink: ((out: LinkSample) => boolean) | undefined;

  constructor(
    private readonly socket: Writable,
    readonly style: PartStyle = 'standard',
    /** Reads the socket's TCP state, when it is a TCP socket and the kernel queue is available. */
    kernel?: KernelQueue,
  ) {
    this.readLink = kernel?.available === true ? (out) => kernel.readLink(socket as Socket, out) : undefined;
  }

  send(frame: Frame, done: SendDone): number {
    const bytes = this.style === 'standard' ? frame.part : frame.advancedPart;
    this.socket.write(bytes, done);
    return bytes.length;
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  on(event: 'close' | 'error', listener: () => void): this {
    this.socket.on(event, listener);
    return this;
  }
}
