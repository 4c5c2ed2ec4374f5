/**
 * The reference for issue #5's figures: the least a Node program can do to send
 * MJPEG over loopback. No HTTP library, no pool, no per-viewer state beyond "a
 * write is in flight"; each part is one prebuilt buffer written by every viewer.
 *
 * - `--mode saturated`: one fixed part (a 1080p ring JPEG, no X-Timestamp, no
 *   sequence) written to each socket again as soon as the kernel took the last one,
 *   as fast as it can. It measures the cost of moving bytes, and pays more per
 *   byte than a paced server: every write finds the socket's queue full.
 * - `--mode paced` (default): 60 parts a second from a drift-free clock, each
 *   stamped like camstream's (X-Timestamp, X-Frame-Sequence written into space
 *   reserved in front of the JPEG), to every viewer whose previous write is done
 *   (a busy one skips the frame). The fair comparison for a 60 fps server.
 *
 *   node dist/bench/baselines/raw-writer.js [--mode paced|saturated] [--fps 60] [--port 0]
 */
import { createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { FIRST_BOUNDARY, HEADER_SPACE, PART_TRAILER, STREAM_CONTENT_TYPE, writePartHeader } from '../../src/frame/multipart.js';
import { renderRingInChild } from '../../src/source/render-ring.js';
import { listen, RING_OPTIONS, SOURCE_FPS, wallMicrosNow } from './common.js';

/** Paced parts are stamped in place, so a part is not rewritten while a write may still read it. */
const RING_SLOTS = 4;
const RESPONSE_HEAD = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: ${STREAM_CONTENT_TYPE}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n`, 'latin1');

const { values } = parseArgs({ options: { mode: { type: 'string', default: 'paced' }, fps: { type: 'string', default: String(SOURCE_FPS) }, port: { type: 'string', default: '0' } } });
if (values.mode !== 'paced' && values.mode !== 'saturated') throw new Error(`raw-writer: --mode is paced or saturated, got '${values.mode}'`);
const saturated = values.mode === 'saturated';
const [jpeg] = await renderRingInChild({ ...RING_OPTIONS, count: 1 });
if (jpeg === undefined) throw new Error('raw-writer: no frame rendered');

/** [header space][JPEG][trailer]: the header is right-aligned in front of the JPEG, as camstream lays out a part. */
function partBuffer(): Buffer {
  const buffer = Buffer.allocUnsafeSlow(HEADER_SPACE + (jpeg as Buffer).length + PART_TRAILER.length);
  (jpeg as Buffer).copy(buffer, HEADER_SPACE);
  PART_TRAILER.copy(buffer, HEADER_SPACE + (jpeg as Buffer).length);
  return buffer;
}

/** A viewer: its socket and whether a write is in flight. */
interface Viewer {
  socket: Socket;
  busy: boolean;
  done: () => void;
}
const viewers = new Set<Viewer>();

/** The saturated mode's one part, without timestamp or sequence. */
const fixedPart = ((): Buffer => {
  const buffer = partBuffer();
  const header = `Content-Type: image/jpeg\r\nContent-Length: ${(jpeg as Buffer).length}\r\n\r\n`;
  buffer.write(header, HEADER_SPACE - header.length, 'latin1');
  return buffer.subarray(HEADER_SPACE - header.length);
})();

const server = createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  // Whatever the request, once its head is in, the stream starts.
  let request = '';
  const onData = (chunk: Buffer): void => {
    request += chunk.toString('latin1');
    if (!request.includes('\r\n\r\n')) return;
    socket.off('data', onData);
    socket.write(RESPONSE_HEAD);
    socket.write(FIRST_BOUNDARY);
    const viewer: Viewer = { socket, busy: false, done: () => undefined };
    // Saturated, the next write waits for setImmediate: a write the kernel takes at
    // once calls back on nextTick, so writing again from there would never let the
    // loop accept the other viewers or read their requests.
    const writeAgain = (): void => void socket.write(fixedPart, viewer.done);
    viewer.done = saturated ? () => void setImmediate(writeAgain) : () => void (viewer.busy = false);
    viewers.add(viewer);
    socket.once('close', () => viewers.delete(viewer));
    if (saturated) writeAgain();
  };
  socket.on('data', onData);
});

let timer: NodeJS.Timeout | undefined;
if (!saturated) {
  const slots = Array.from({ length: RING_SLOTS }, partBuffer);
  /** Writes in flight per slot. */
  const inFlight = new Array<number>(RING_SLOTS).fill(0);
  const periodMs = 1000 / Number(values.fps);
  const startMs = performance.now();
  let sequence = 0;
  const tick = (): void => {
    const slot = sequence % RING_SLOTS;
    // A slot still being written RING_SLOTS frames later: skip this frame rather than rewrite it.
    if (inFlight[slot] === 0) {
      const buffer = slots[slot] as Buffer;
      const start = writePartHeader(buffer, HEADER_SPACE, (jpeg as Buffer).length, wallMicrosNow(), sequence);
      const part = buffer.subarray(start);
      for (const viewer of viewers) {
        if (viewer.busy) continue;
        viewer.busy = true;
        (inFlight[slot] as number)++;
        viewer.socket.write(part, () => {
          (inFlight[slot] as number)--;
          viewer.done();
        });
      }
    }
    sequence++;
    timer = setTimeout(tick, Math.max(0, startMs + sequence * periodMs - performance.now()));
  };
  tick();
}

listen(server, () => {
  clearTimeout(timer);
  for (const viewer of viewers) viewer.socket.destroy();
});
