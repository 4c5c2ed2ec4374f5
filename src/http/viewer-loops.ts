import type { Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Frame } from '../frame/index.js';
import { openKernelQueue, type Camera, type CameraStats, type FrameTap, type KernelQueue, type ViewerRequest } from '../stream/index.js';
import type { FromLoop, FrameMessage, LoopCamera, ToLoop, ViewerMessage } from './loop-protocol.js';

/** How long /api/stats waits for a loop's figures before answering without them. */
const STATS_TIMEOUT_MS = 1000;
/** How long stop() waits for a loop to close its viewers before terminating it. */
const STOP_TIMEOUT_MS = 2000;
/**
 * Frames a loop may hold per viewer (one being written, one waiting) plus per
 * camera (its latest, one being re-encoded, slack). A loop whose thread stopped
 * answering would otherwise make the main thread hold every frame it relays.
 */
const HELD_PER_VIEWER = 2;
const HELD_PER_CAMERA = 4;

export interface ViewerLoopsOptions {
  /** Worker threads to start besides the main thread. */
  count: number;
  cameras: readonly Camera[];
  /** The settings each camera's mirror in a loop needs, by camera index. */
  settings: readonly LoopCamera[];
  log: Logger;
  /** A stream handed to a loop ended (its client's `remote`), or the loop died with it. */
  onStreamEnded?: ((remote: string) => void) | undefined;
}

/**
 * The main thread's side of the viewer loops (see viewer-loop.ts): starts them,
 * hands each new viewer's connection to the least busy event loop (this one
 * included), relays every camera's frames to the loops that have viewers of it,
 * and gathers their figures for /api/stats.
 *
 * A connection moves by file descriptor: the main thread parses the request, dups
 * the socket's descriptor, posts the copy, and destroys its own socket (closing
 * only its descriptor; the connection stays open). A frame moves as a reference
 * to its SharedArrayBuffer-backed pooled buffer: the main thread keeps one
 * reference per loop until the loop reports that its last holder released it.
 */
export class ViewerLoops {
  private readonly loops: Loop[];
  private readonly cameras: readonly Camera[];
  private readonly kernel: KernelQueue;
  private readonly log: Logger;

  constructor(options: ViewerLoopsOptions) {
    this.cameras = options.cameras;
    this.log = options.log;
    this.kernel = openKernelQueue();
    if (!this.kernel.available) {
      this.log.warn({ reason: this.kernel.reason }, 'viewer loops need dup(2) through koffi: serving every viewer on the main thread');
      this.loops = [];
      return;
    }
    const level = options.log.level;
    this.loops = Array.from({ length: options.count }, (_, index) => new Loop(index, options.settings, level, options.cameras, options.log, options.onStreamEnded));
  }

  /**
   * Serves `socket`'s stream request in the least busy loop, if that is not this
   * one. True when handed over (the socket here is then destroyed); false: the
   * caller serves it here.
   */
  take(camera: Camera, socket: Socket, httpVersion: string, remote: string, userAgent: string | undefined, request: ViewerRequest, extraHeadLines = ''): boolean {
    let here = 0;
    for (const each of this.cameras) here += each.viewerCount;
    let best: Loop | undefined;
    for (const loop of this.loops) if (loop.alive && loop.viewers < (best?.viewers ?? here)) best = loop;
    if (best === undefined) return false;
    const cameraIndex = this.cameras.indexOf(camera);
    const fd = this.kernel.duplicate(socket);
    if (fd === undefined || cameraIndex < 0) return false;
    best.addViewer(cameraIndex, { type: 'viewer', camera: cameraIndex, fd, httpVersion, remote, userAgent, request, extraHeadLines });
    socket.destroy();
    return true;
  }

  /** Each loop's camera figures (cameras in the order given), from those that answer in time. */
  async stats(): Promise<CameraStats[][]> {
    const answers = await Promise.all(this.loops.map((loop) => loop.stats()));
    return answers.filter((answer): answer is CameraStats[] => answer !== undefined);
  }

  async stop(): Promise<void> {
    await Promise.all(this.loops.map((loop) => loop.stop()));
  }
}

/** One worker thread, and the frames and viewers the main thread has given it. */
class Loop {
  alive = true;
  /** Viewers it serves, all cameras. */
  viewers = 0;
  /** The remotes of the streams it serves (admission is counted on the main thread). */
  private readonly streams: string[] = [];
  private readonly worker: Worker;
  private readonly viewersByCamera: number[];
  /** Frames the loop holds, by message id; each holds one reference here. */
  private readonly relayed = new Map<number, Frame>();
  private nextFrameId = 1;
  /** Frames not relayed because the loop held too many already (it is stuck or far behind). */
  skipped = 0;
  private nextRequestId = 1;
  private readonly pendingStats = new Map<number, (cameras: CameraStats[] | undefined) => void>();
  private stopped: (() => void) | undefined;

  constructor(
    private readonly index: number,
    settings: readonly LoopCamera[],
    logLevel: string,
    private readonly cameras: readonly Camera[],
    private readonly log: Logger,
    private readonly onStreamEnded: ((remote: string) => void) | undefined,
  ) {
    this.viewersByCamera = cameras.map(() => 0);
    this.worker = new Worker(new URL('./viewer-loop.js', import.meta.url), {
      workerData: { index, cameras: settings, logLevel, timeOrigin: performance.timeOrigin },
    });
    this.worker.on('message', (message: FromLoop) => this.receive(message));
    this.worker.on('error', (error) => log.error({ loop: index + 1, err: error }, 'viewer loop failed; its viewers are disconnected'));
    this.worker.on('exit', () => this.exited());
    cameras.forEach((camera, cameraIndex) => camera.addTap(new CameraTap(this, cameraIndex)));
  }

  addViewer(cameraIndex: number, message: ViewerMessage): void {
    this.viewers++;
    this.streams.push(message.remote);
    const before = this.viewersByCamera[cameraIndex] ?? 0;
    this.viewersByCamera[cameraIndex] = before + 1;
    this.worker.postMessage(message);
    const camera = this.cameras[cameraIndex] as Camera;
    // Its first frame now, not at the camera's next one.
    if (before === 0) {
      const latest = camera.snapshot();
      if (latest !== undefined) {
        this.relay(cameraIndex, latest);
        latest.release();
      }
    }
    this.updateDemand(cameraIndex);
  }

  /** The hot path's share here: one message per frame per loop, whatever its viewer count. */
  relay(cameraIndex: number, frame: Frame): void {
    if (!this.alive || this.viewersByCamera[cameraIndex] === 0) return;
    const memory = frame.part.buffer;
    if (!(memory instanceof SharedArrayBuffer)) return;
    if (this.relayed.size >= HELD_PER_VIEWER * this.viewers + HELD_PER_CAMERA * this.cameras.length) {
      if (this.skipped++ === 0) this.log.warn({ loop: this.index + 1, held: this.relayed.size }, 'viewer loop is not releasing frames: skipping frames for it until it does');
      return;
    }
    const id = this.nextFrameId++;
    this.relayed.set(id, frame.retain());
    const message: FrameMessage = {
      type: 'frame',
      camera: cameraIndex,
      id,
      memory,
      partStart: frame.part.byteOffset,
      jpegLength: frame.jpeg.length,
      sequence: frame.sequence,
      monoMs: frame.capture.monoMs,
      wallMicros: frame.capture.wallMicros,
    };
    this.worker.postMessage(message);
  }

  stats(): Promise<CameraStats[] | undefined> {
    if (!this.alive) return Promise.resolve(undefined);
    const requestId = this.nextRequestId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pendingStats.delete(requestId);
        resolve(undefined);
      }, STATS_TIMEOUT_MS);
      this.pendingStats.set(requestId, (cameras) => {
        clearTimeout(timer);
        resolve(cameras);
      });
      this.worker.postMessage({ type: 'stats', requestId } satisfies ToLoop);
    });
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    const closed = new Promise<void>((resolve) => {
      this.stopped = resolve;
      setTimeout(resolve, STOP_TIMEOUT_MS).unref();
    });
    this.worker.postMessage({ type: 'stop' } satisfies ToLoop);
    await closed;
    await this.worker.terminate();
  }

  private receive(message: FromLoop): void {
    switch (message.type) {
      case 'release': {
        const frame = this.relayed.get(message.id);
        if (frame !== undefined) {
          this.relayed.delete(message.id);
          frame.release();
        }
        break;
      }
      case 'viewers': {
        const before = this.viewersByCamera[message.camera] ?? 0;
        this.viewersByCamera[message.camera] = message.count;
        this.viewers += message.count - before;
        this.updateDemand(message.camera);
        if (message.left !== undefined) this.streamEnded(message.left);
        break;
      }
      case 'stats':
        this.pendingStats.get(message.requestId)?.(message.cameras);
        this.pendingStats.delete(message.requestId);
        break;
      case 'stopped':
        this.stopped?.();
        break;
    }
  }

  private updateDemand(cameraIndex: number): void {
    (this.cameras[cameraIndex] as Camera).setRemoteViewers(this.viewersByCamera[cameraIndex] ?? 0);
  }

  /** The thread ended (stopped, or crashed): whatever it held is released here. */
  private streamEnded(remote: string): void {
    const index = this.streams.indexOf(remote);
    if (index < 0) return;
    this.streams.splice(index, 1);
    this.onStreamEnded?.(remote);
  }

  private exited(): void {
    if (!this.alive) return;
    this.alive = false;
    for (const remote of this.streams.splice(0)) this.onStreamEnded?.(remote);
    for (const frame of this.relayed.values()) frame.release();
    this.relayed.clear();
    this.viewers = 0;
    for (let i = 0; i < this.viewersByCamera.length; i++) {
      this.viewersByCamera[i] = 0;
      this.updateDemand(i);
    }
    for (const resolve of this.pendingStats.values()) resolve(undefined);
    this.pendingStats.clear();
    this.stopped?.();
    this.log.debug({ loop: this.index + 1 }, 'viewer loop ended');
  }
}

/** A camera's frames into one loop. */
class CameraTap implements FrameTap {
  constructor(
    private readonly loop: Loop,
    private readonly cameraIndex: number,
  ) {}

  offer(frame: Frame): void {
    this.loop.relay(this.cameraIndex, frame);
  }
}
