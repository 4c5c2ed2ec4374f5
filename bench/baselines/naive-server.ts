/**
 * Baseline (a) for bench/compare.ts: an MJPEG server on node:http that reproduces
 * the original design's problems, serving camstream's synthetic ring at 60 fps in
 * camstream's part format (so bench/load.ts parses it):
 *
 * - the latest frame is cloned when it is read (Buffer.from(latest));
 * - a fixed 33 ms setInterval polls for the latest frame, whatever the source rate
 *   (so a 60 fps source is delivered at ~30 fps, skipping frames);
 * - every viewer gets a new buffer per frame (Buffer.concat of header + JPEG + trailer);
 * - per-viewer queues are unbounded: res.write() never waits for 'drain'.
 *
 * The response is not chunked (Transfer-Encoding removed; the stream ends when the
 * connection closes), because camstream's parser reads the parts as they are.
 *
 *   node dist/bench/baselines/naive-server.js [--port 0]
 */
import { createServer, type ServerResponse } from 'node:http';
import { FIRST_BOUNDARY, PART_TRAILER, partHeader, STREAM_CONTENT_TYPE } from '../../src/frame/multipart.js';
import { listen, startSyntheticSource, type PublishedFrame } from './common.js';

const POLL_MS = 33;

const viewers = new Set<ServerResponse>();
let latest: PublishedFrame | undefined;

const source = await startSyntheticSource((frame) => {
  latest = frame;
});

let lastSent = -1;
const poller = setInterval(() => {
  if (latest === undefined || latest.sequence === lastSent) return;
  // Cloned on read.
  const frame = { data: Buffer.from(latest.data), wallMicros: latest.wallMicros, sequence: latest.sequence };
  lastSent = frame.sequence;
  for (const res of viewers) {
    // A new buffer per viewer per frame, written without regard to backpressure.
    const part = Buffer.concat([Buffer.from(partHeader(frame.data.length, frame.wallMicros, frame.sequence), 'latin1'), frame.data, PART_TRAILER]);
    res.write(part);
  }
}, POLL_MS);

const server = createServer((req, res) => {
  if (req.url !== '/stream') {
    res.writeHead(404).end();
    return;
  }
  res.removeHeader('Transfer-Encoding');
  res.writeHead(200, { 'Content-Type': STREAM_CONTENT_TYPE, 'Cache-Control': 'no-cache', Pragma: 'no-cache', Connection: 'close' });
  res.write(FIRST_BOUNDARY);
  res.on('error', () => undefined);
  viewers.add(res);
  res.once('close', () => viewers.delete(res));
});

listen(server, () => {
  clearInterval(poller);
  source.stop();
});
