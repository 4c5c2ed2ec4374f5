import { CamstreamError } from '../frame/index.js';

/** A `--source` value that cannot be understood; the message says what is accepted. */
export class SourceSpecError extends CamstreamError {
  readonly spec: string;
  constructor(spec: string, message: string) {
    super('CAMSTREAM_SOURCE_SPEC', message);
    this.spec = spec;
  }
}

/**
 * A source could not start or stopped producing: the process exited, the upstream
 * refused, the bytes were not JPEG. `reason` is one line a user can act on
 * ("No such file or directory", "401 Unauthorized: check the user and password in
 * the source URL"); the camera shows it in /api/stats and restarts the source.
 */
export class SourceError extends CamstreamError {
  readonly reason: string;
  constructor(reason: string, options?: { cause?: unknown }) {
    super('CAMSTREAM_SOURCE', reason);
    this.reason = reason;
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/**
 * The synthetic camera's ring could not be rendered (the render child failed, or
 * wrote too few frames). Every camera that waited for that render gets this same
 * error; the next start renders again.
 */
export class RingRenderError extends SourceError {
  constructor(what: string, options?: { cause?: unknown }) {
    const cause = options?.cause;
    super(`rendering the synthetic frames (${what}) failed: ${cause instanceof Error ? cause.message : String(cause)}`, options);
  }
}
