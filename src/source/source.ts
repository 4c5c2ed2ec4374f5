import type { Logger } from 'pino';
import type { Frame, FrameFactory } from '../frame/index.js';
import type { SourceError } from './errors.js';

/**
 * What a camera hands its source: where frames come from (pooled, numbered) and
 * where they go. `publish` takes over the frame's reference.
 */
export interface SourceContext {
  readonly frames: FrameFactory;
  publish(frame: Frame): void;
  /**
   * The source stopped producing on its own (its process exited, the connection
   * dropped, the upstream sent garbage). The camera restarts it with backoff.
   * Called at most once per start; nothing is published after it.
   */
  fail(error: SourceError): void;
  readonly log: Logger;
}

/**
 * A camera's frame producer. Every kind of source (synthetic, ffmpeg, command,
 * HTTP upstream) implements this and nothing more: it pushes frames when the
 * device delivers them; nobody polls it.
 */
export interface Source {
  /** The source as the user wrote it, e.g. `synthetic:1280x720@30`. */
  readonly url: string;
  /** The frame rate the source aims for, when it knows one. */
  readonly nominalFps: number | undefined;
  /**
   * Resolves once the source is producing (or about to produce) frames; rejects
   * with a SourceError when it cannot start (missing program, file, device).
   */
  start(context: SourceContext): Promise<void>;
  /** Stops producing; no publish() happens after this resolves. */
  stop(): Promise<void>;
}
