/**
 * A viewer loop: a worker thread with its own event loop that serves some of the
 * viewers, so a second core shares the work of writing frames to sockets (the
 * kernel's copy of every frame into every socket is most of a server's CPU).
 *
 * Each camera here is a mirror: a Camera whose source is a RelaySource fed with
 * the main thread's frames, as views of its shared pooled memory. Everything else
 * per viewer is the same code as on the main thread: the latest-frame queue, the
 * adaptation (re-encoding happens here, for this loop's viewers), the counters.
 */
import net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { BufferPool, Frame } from '../frame/index.js';
import { Camera, RelayedMemory, RelaySource, startViewerIdsAt } from '../stream/index.js';
import type { FromLoop, LoopSetup, ToLoop, ViewerMessage } from './loop-protocol.js';
import { startStream } from './mjpeg-response.js';

/** Viewer ids of loop n start here, so ids stay unique across loops in /api/stats. */
const VIEWER_IDS_PER_LOOP = 1_000_000;
/** A mirror never restarts its relay for a lack of frames: the main thread's supervisor does that. */
const NEVER_MS = 2 ** 31 - 1;
/** A mirror with no viewers lets go of its latest frame soon, so the main thread's pool gets it back. */
const MIRROR_IDLE_MS = 1000;

const port = parentPort;
if (port === null) throw new Error('viewer-loop.js runs as a worker thread of camstream, not on its own');
const setup = workerData as LoopSetup;
startViewerIdsAt((setup.index + 1) * VIEWER_IDS_PER_LOOP);
const log = pino({ level: setup.logLevel }).child({ loop: setup.index + 1 });
const pool = new BufferPool();
/** Main-thread capture times (performance.now() there) to this thread's clock. */
const clockOffsetMs = setup.timeOrigin - performance.timeOrigin;
const post = (message: FromLoop): void => port.postMessage(message);
const releaseRelayed = (id: number): void => post({ type: 'release', id });

const sources = setup.cameras.map((camera) => new RelaySource(camera.url, camera.nominalFps));
const cameras = setup.cameras.map(
  (camera, index) =>
    new Camera({
      id: camera.id,
      source: sources[index] as RelaySource,
      pool,
      log,
      idleTimeoutMs: MIRROR_IDLE_MS,
      queueCapacity: camera.queueCapacity,
      adaptive: camera.adaptive,
      profiles: camera.profiles,
      ladder: camera.ladder,
      viewerStallTimeoutMs: camera.viewerStallTimeoutMs,
      supervisor: { stallTimeoutMs: NEVER_MS },
    }),
);

function addViewer(message: ViewerMessage): void {
  const camera = cameras[message.camera];
  const socket = new net.Socket({ fd: message.fd, readable: true, writable: true });
  if (camera === undefined) {
    socket.destroy();
    return;
  }
  // Read (and ignore) what the client sends, so its close is seen.
  socket.resume();
  startStream(camera, socket, message.httpVersion, { remote: message.remote, userAgent: message.userAgent }, message.request, message.extraHeadLines);
  post({ type: 'viewers', camera: message.camera, count: camera.viewerCount });
  // Registered after the viewer's own 'close' listener, so the count has dropped by then.
  socket.once('close', () => post({ type: 'viewers', camera: message.camera, count: camera.viewerCount, left: message.remote }));
}

port.on('message', (message: ToLoop) => {
  switch (message.type) {
    case 'frame': {
      const memory = new RelayedMemory(message.memory, message.id, releaseRelayed);
      const capture = { monoMs: message.monoMs + clockOffsetMs, wallMicros: message.wallMicros };
      const frame = new Frame(memory, message.jpegLength, message.sequence, capture, message.partStart);
      (sources[message.camera] as RelaySource).deliver(frame);
      break;
    }
    case 'viewer':
      addViewer(message);
      break;
    case 'stats':
      post({ type: 'stats', requestId: message.requestId, cameras: cameras.map((camera) => camera.stats()) });
      break;
    case 'stop':
      void Promise.all(cameras.map((camera) => camera.stop())).then(() => {
        post({ type: 'stopped' });
        port.close();
      });
      break;
  }
});
