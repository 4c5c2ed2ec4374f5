/**
 * Errors raised by the frame layer. Each carries a stable `code` so callers can
 * branch on the cause without parsing messages (undici's lib/core/errors.js style).
 */
export class CamstreamError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A pooled buffer was released more often than it was retained: an ownership bug. */
export class BufferOwnershipError extends CamstreamError {
  constructor(message: string) {
    super('CAMSTREAM_BUFFER_OWNERSHIP', message);
  }
}

/** A pool or frame was asked for something it cannot hold (bad size, bad option). */
export class FrameSizeError extends CamstreamError {
  constructor(message: string) {
    super('CAMSTREAM_FRAME_SIZE', message);
  }
}
