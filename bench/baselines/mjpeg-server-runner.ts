/**
 * Baseline (b) for bench/compare.ts: the npm package mjpeg-server@0.3.1, fed with
 * camstream's synthetic ring at 60 fps (a fresh buffer per frame, see common.ts).
 *
 * The package's API (lib/mjpeg-server.js): createReqHandler(req, res) writes the
 * response head (boundary "myboundary") and returns a Writable; each write(jpeg)
 * does six res.write() calls ("--myboundary", Content-Type, Content-Length, the
 * blank line, the JPEG, CRLF). It sets no X-Timestamp and no sequence number, and,
 * on node:http over HTTP/1.1, the response is chunked. Every frame is written to
 * every viewer at once, ignoring backpressure (as the package's own example does).
 *
 *   node dist/bench/baselines/mjpeg-server-runner.js [--port 0]
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import { listen, startSyntheticSource } from './common.js';

interface MjpegReqHandler extends Writable {
  close(): void;
}
interface MjpegServerModule {
  createReqHandler(req: IncomingMessage, res: ServerResponse): MjpegReqHandler;
}
const mjpegServer = createRequire(import.meta.url)('mjpeg-server') as MjpegServerModule;

const handlers = new Set<MjpegReqHandler>();

const source = await startSyntheticSource((frame) => {
  for (const handler of handlers) {
    handler.write(frame.data);
  }
});

const server = createServer((req, res) => {
  if (req.url !== '/stream') {
    res.writeHead(404).end();
    return;
  }
  res.on('error', () => undefined);
  const handler = mjpegServer.createReqHandler(req, res);
  handler.on('error', () => undefined);
  handlers.add(handler);
  res.once('close', () => handlers.delete(handler));
});

listen(server, () => source.stop());
