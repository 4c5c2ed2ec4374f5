import type { AdaptationLevel, AdaptiveOptions, CameraStats, Profile, ViewerRequest } from '../stream/index.js';

/**
 * Messages between the main thread and its viewer loops (worker threads that
 * serve some of the viewers; see viewer-loops.ts). Plain data: they cross threads
 * by structured clone, and frames' memory by SharedArrayBuffer (never copied).
 */

/** What a loop needs to mirror one camera: its viewers' settings, not its source. */
export interface LoopCamera {
  id: string;
  url: string;
  nominalFps: number | undefined;
  queueCapacity: number | undefined;
  adaptive: Partial<AdaptiveOptions> | false | undefined;
  profiles: Record<string, Profile> | undefined;
  ladder: readonly AdaptationLevel[] | undefined;
  viewerStallTimeoutMs: number | undefined;
  encodeBudgetMs: number | undefined;
}

/** A loop's workerData. */
export interface LoopSetup {
  index: number;
  cameras: LoopCamera[];
  logLevel: string;
  /** The main thread's performance.timeOrigin: capture times are relative to it. */
  timeOrigin: number;
}

/** A frame of camera `camera`: its part is memory[partStart … ], laid out as Frame lays it out. */
export interface FrameMessage {
  type: 'frame';
  camera: number;
  /** Names the main thread's reference, for 'release'. */
  id: number;
  memory: SharedArrayBuffer;
  partStart: number;
  jpegLength: number;
  sequence: number;
  monoMs: number;
  wallMicros: number;
}

/** A viewer's connection, already answered with nothing: the loop writes the response head. */
export interface ViewerMessage {
  type: 'viewer';
  camera: number;
  fd: number;
  httpVersion: string;
  remote: string;
  userAgent: string | undefined;
  request: ViewerRequest;
  /** Response head lines decided on the main thread (CORS), `Name: value\r\n` each. */
  extraHeadLines: string;
}

export type ToLoop = FrameMessage | ViewerMessage | { type: 'stats'; requestId: number } | { type: 'stop' };

export type FromLoop =
  | { type: 'release'; id: number }
  /** A camera's viewer count in the loop changed; `left`: the remote whose stream ended. */
  | { type: 'viewers'; camera: number; count: number; left?: string }
  | { type: 'stats'; requestId: number; cameras: CameraStats[] }
  | { type: 'stopped' };
