import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { CameraEvents, SourceState, ViewerCloseReason } from './stream/index.js';

/** A viewer as the events describe it: its id (as in /api/stats), address and user agent. */
export interface ViewerIdentity {
  id: number;
  /** `address:port` of the client. */
  remote: string;
  userAgent: string | undefined;
}

/** An MJPEG stream (or one camera of a /ws connection) started. */
export interface ViewerJoinedEvent {
  /** The camera's id. */
  camera: string;
  viewer: ViewerIdentity;
}

/** A viewer's stream ended, with its totals. */
export interface ViewerLeftEvent {
  camera: string;
  viewer: ViewerIdentity;
  /** client: the client went away; error: the socket failed; stalled: its writes made no progress; shutdown: camstream stopped. */
  reason: ViewerCloseReason;
  framesSent: number;
  bytesSent: number;
  /** Frames this viewer did not get because it was behind (all reasons). */
  drops: number;
}

/** A camera's source changed state (idle, starting, live, stalled, retrying, stopped). */
export interface SourceStateEvent {
  camera: string;
  from: SourceState;
  to: SourceState;
  /** Why the source is not live (e.g. "401 Unauthorized: …"); null when live or not known. */
  reason: string | null;
}

/** Camstream's events and their listeners. */
export interface CamstreamEvents {
  'viewer-joined': (event: ViewerJoinedEvent) => void;
  'viewer-left': (event: ViewerLeftEvent) => void;
  'source-state': (event: SourceStateEvent) => void;
}

export type CamstreamEventName = keyof CamstreamEvents;

/**
 * Camstream's typed events on a node:events EventEmitter. Listeners run
 * synchronously on the frame path's event loop, each on its own: one that throws
 * (or returns a promise that rejects) is logged and the others, and every
 * stream, go on. The emitter itself stays private so only camstream emits.
 */
export class CamstreamEmitter {
  private readonly emitter = new EventEmitter();
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  on<E extends CamstreamEventName>(event: E, listener: CamstreamEvents[E]): void {
    this.emitter.on(event, listener);
  }

  once<E extends CamstreamEventName>(event: E, listener: CamstreamEvents[E]): void {
    this.emitter.once(event, listener);
  }

  off<E extends CamstreamEventName>(event: E, listener: CamstreamEvents[E]): void {
    this.emitter.off(event, listener);
  }

  listenerCount(event: CamstreamEventName): number {
    return this.emitter.listenerCount(event);
  }

  /** The hooks a Camera calls, turned into this emitter's events for camera `camera`. */
  forCamera(camera: string): CameraEvents {
    return {
      viewerJoined: (viewer) => this.emit('viewer-joined', { camera, viewer: identity(viewer) }),
      viewerLeft: (viewer, reason) =>
        this.emit('viewer-left', { camera, viewer: identity(viewer), reason, framesSent: viewer.framesSent, bytesSent: viewer.bytesSent, drops: viewer.drops.total }),
      sourceState: (change) => this.emit('source-state', { camera, ...change }),
    };
  }

  private emit<E extends CamstreamEventName>(event: E, payload: Parameters<CamstreamEvents[E]>[0]): void {
    // rawListeners keeps once() wrappers, which remove themselves when called.
    for (const listener of this.emitter.rawListeners(event) as ((payload: unknown) => unknown)[]) {
      try {
        const result = listener(payload);
        if (result instanceof Promise) result.catch((error: unknown) => this.listenerFailed(event, error));
      } catch (error) {
        this.listenerFailed(event, error);
      }
    }
  }

  private listenerFailed(event: CamstreamEventName, error: unknown): void {
    this.log.error({ err: error, event }, `a '${event}' listener threw; ignored`);
  }
}

function identity(viewer: { id: number; info: { remote: string; userAgent?: string | undefined } }): ViewerIdentity {
  return { id: viewer.id, remote: viewer.info.remote, userAgent: viewer.info.userAgent };
}
