import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { formatTimestamp, type BufferPool } from '../frame/index.js';
import type { ProcessMonitor } from '../metrics/index.js';
import type { Camera } from '../stream/index.js';
import type { Authenticator } from './auth.js';
import { cameraFigures } from './camera-figures.js';
import { ClientAddress } from './client-address.js';
import { addCompatRoutes, ustreamerSnapshotHeaders } from './compat-routes.js';
import { headLines, type CorsPolicy } from './cors.js';
import { addDashboardRoutes } from './dashboard-route.js';
import { addEventsRoute } from './events-route.js';
import { addGuards } from './guard.js';
import { addMetricsRoute } from './metrics-route.js';
import { startStream, STREAM_HEADERS } from './mjpeg-response.js';
import { addressOf, RETRY_AFTER_SECONDS, type StreamAdmission } from './stream-admission.js';
import { parseStreamQuery } from './stream-query.js';
import type { ViewerLoops } from './viewer-loops.js';
import { addWebSocketRoute } from './ws-route.js';

export interface HttpServerOptions {
  /** The cameras served; the first one answers /stream and /snapshot. */
  cameras: readonly Camera[];
  pool: BufferPool;
  processMonitor: ProcessMonitor;
  log: Logger;
  version: string;
  /** How long a snapshot waits for an on-demand camera's first frame. Default 5 s. */
  snapshotTimeoutMs?: number;
  /** Other event loops that share the viewers (see viewer-loops.ts); none: all are served here. */
  loops?: ViewerLoops | undefined;
  /** Who may watch; none (or one without users and tokens): everyone who can connect. */
  auth?: Authenticator | undefined;
  /** Other sites allowed to read the answers; none: CORS off. */
  cors?: CorsPolicy | undefined;
  /** Bounds on streaming connections; none: no bound. */
  admission?: StreamAdmission | undefined;
  /** Serve HTTPS with this PEM key and certificate. */
  tls?: { key: string | Buffer; cert: string | Buffer } | undefined;
  /** Largest request head accepted (431 beyond). Default 8 KiB. */
  maxHeaderBytes?: number | undefined;
  /** Time to send a whole request (head and body), so a slow sender (slowloris) cannot hold a socket. Default 10 s. */
  requestTimeoutMs?: number | undefined;
  /** Whose X-Forwarded-For names the client; default: nobody's (the socket's address is the client). */
  clients?: ClientAddress | undefined;
}

/** Default largest request head: far above any real client's, far below Node's 16 KiB. */
export const DEFAULT_MAX_HEADER_BYTES = 8 * 1024;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

const ENDPOINTS = ['/ (dashboard)', '/stream', '/snapshot', '/cam/<id>/stream', '/cam/<id>/snapshot', '/healthz', '/api/stats', '/api/events', '/metrics', '/ws (WebSocket)', '/state', '/cam/<id>/state', '/?action=stream', '/?action=snapshot'];

interface HttpError extends Error {
  statusCode?: number;
  code?: string;
}

/**
 * The HTTP face of camstream, on fastify. Ordinary endpoints go through fastify's
 * reply; /stream takes the socket over (`reply.hijack()`) and hands it to a
 * Viewer, which writes the shared frame parts to it directly.
 */
export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const { cameras, pool, processMonitor, version, loops, admission, cors } = options;
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const clients = options.clients ?? new ClientAddress();
  const requestLimits = { maxHeaderSize: options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES, headersTimeout: requestTimeoutMs, connectionsCheckingInterval: 1000 };
  const remoteOf = (request: FastifyRequest): string => clients.remoteOf(request.raw);
  const snapshotTimeoutMs = options.snapshotTimeoutMs ?? 5000;
  const first = cameras[0];
  if (first === undefined) throw new Error('createHttpServer needs at least one camera');
  const byId = new Map(cameras.map((camera) => [camera.id, camera]));

  const app = Fastify({
    loggerInstance: options.log.child({ component: 'http' }) as FastifyBaseLogger,
    // Viewer connects and disconnects are logged by the camera, with their totals.
    logController: new LogController({ disableRequestLogging: true }),
    // Streams stay open for as long as viewers watch: no idle timeout on sockets.
    connectionTimeout: 0,
    // …but a request must arrive whole in time (a stream's request is small; only
    // its response is long). Node checks these every connectionsCheckingInterval.
    requestTimeout: requestTimeoutMs,
    ...(options.tls === undefined ? { http: requestLimits } : { https: { ...requestLimits, key: options.tls.key, cert: options.tls.cert } }),
  });
  // Only origin-form targets (`/path?query`): fastify's router would read `*stream`
  // or `http://host/stream` as a path, and drop a `#fragment` (which a client never
  // sends) with the query after it. (`OPTIONS *` asks about the server: 204.)
  app.addHook('onRequest', async (request, reply) => {
    if (request.raw.url?.startsWith('/') === true && !request.raw.url.includes('#')) return undefined;
    if (request.method === 'OPTIONS' && request.raw.url === '*') return reply.code(204).header('allow', 'GET, HEAD, OPTIONS').send();
    return reply.code(400).send({ error: 'bad_request_target', message: `request target '${(request.raw.url ?? '').slice(0, 60)}' is not a path; send GET /stream, GET /api/stats, …` });
  });
  addGuards(app, options.auth, cors);

  /** The camera a /cam/<id>/… request names, or a JSON 404 listing the ids. */
  const cameraFor = (request: FastifyRequest, reply: FastifyReply): Camera | undefined => {
    const id = (request.params as { id?: string }).id;
    if (id === undefined) return first;
    const camera = byId.get(id);
    if (camera === undefined) {
      void reply.code(404).send({ error: 'unknown_camera', message: `no camera '${id}'; cameras: ${[...byId.keys()].join(', ')}` });
    }
    return camera;
  };

  const stream = (request: FastifyRequest, reply: FastifyReply): void => {
    const camera = cameraFor(request, reply);
    if (camera !== undefined) streamFrom(camera, request, reply);
  };

  /** Streams `camera` on the request's connection (also mjpg-streamer's /?action=stream, see compat-routes.ts). */
  const streamFrom = (camera: Camera, request: FastifyRequest, reply: FastifyReply): void => {
    // Validated before the socket is taken over, so a bad value gets a plain 400.
    const wanted = parseStreamQuery(request.query);
    // HEAD (fastify also sends a HEAD of `/?action=stream` here): the head a GET would get, no stream.
    if (request.method === 'HEAD') {
      void reply.headers(STREAM_HEADERS).send();
      return;
    }
    const refusal = camera.refuses(wanted);
    if (refusal !== undefined) {
      void reply.code(503).header('retry-after', '10').send({ error: 'too_many_profiles', message: refusal });
      return;
    }
    const remote = remoteOf(request);
    const address = addressOf(remote);
    const full = admission?.admit(address);
    if (full !== undefined) {
      void reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS)).send({ error: 'too_many_viewers', message: full });
      return;
    }
    reply.hijack();
    const socket = request.raw.socket;
    const userAgent = request.headers['user-agent'];
    const extraHeadLines = headLines(cors?.headersFor(request.headers.origin));
    // A loop reports the end of a stream it took (see Camstream); here, the socket's close does.
    if (loops?.take(camera, socket, request.raw.httpVersion, remote, userAgent, wanted, extraHeadLines) === true) return;
    if (admission !== undefined) socket.once('close', () => admission.leave(address));
    startStream(camera, socket, request.raw.httpVersion, { remote, userAgent }, wanted, extraHeadLines);
  };

  const snapshot = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const camera = cameraFor(request, reply);
    return camera === undefined ? reply : snapshotFrom(camera, request, reply);
  };

  /** The latest frame of `camera` (also mjpg-streamer's /?action=snapshot, see compat-routes.ts). */
  const snapshotFrom = async (camera: Camera, _request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const frame = await camera.snapshotWhenReady(snapshotTimeoutMs);
    if (frame === undefined) {
      const { state, reason } = camera.sourceStatus();
      return reply
        .code(503)
        .header('retry-after', '1')
        .send({
          error: 'no_frame_yet',
          message: `camera '${camera.id}' has not delivered a frame yet (source ${state}${reason === null ? '' : `: ${reason}`}); retry in a moment`,
        });
    }
    // The response sends the pooled JPEG itself; release it once the response is done or aborted.
    reply.raw.once('close', () => frame.release());
    return reply
      .header('content-type', 'image/jpeg')
      .header('cache-control', 'no-store')
      .header('x-timestamp', formatTimestamp(frame.capture.wallMicros))
      .header('x-frame-sequence', String(frame.sequence))
      .headers(ustreamerSnapshotHeaders(camera, frame.jpeg))
      .send(frame.jpeg);
  };

  for (const prefix of ['', '/cam/:id']) {
    app.route({ method: 'GET', url: `${prefix}/stream`, exposeHeadRoute: false, handler: stream });
    app.route({ method: 'HEAD', url: `${prefix}/stream`, handler: stream });
    app.get(`${prefix}/snapshot`, snapshot);
  }

  app.get('/healthz', () => ({ status: 'ok' }));
  // µStreamer's /state and mjpg-streamer's /?action=… (over the handlers above); `/` without an action is the dashboard.
  addDashboardRoutes(app, addCompatRoutes(app, { cameras, loops, stream: streamFrom, snapshot: snapshotFrom, remoteOf }));

  const stats = async (): Promise<Record<string, unknown>> => ({
    version,
    time: new Date().toISOString(),
    cameras: await cameraFigures(cameras, loops),
    pool: pool.stats(),
    process: processMonitor.stats(),
  });
  app.get('/api/stats', stats);
  addEventsRoute(app, stats);

  addMetricsRoute(app, async () => ({ cameras: await cameraFigures(cameras, loops), pool: pool.stats() }));
  addWebSocketRoute(app, cameras, version, { auth: options.auth, admission, clients });

  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({
      error: 'not_found',
      message: `no route for ${request.method} ${request.url.split('?')[0]}; endpoints: ${ENDPOINTS.join(', ')}`,
    });
  });

  app.setErrorHandler((error: HttpError, request: FastifyRequest, reply: FastifyReply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (status >= 500) request.log.error({ err: error, url: request.url }, 'request failed');
    // Never a stack trace: the message for client errors, a generic one for ours.
    void reply.code(status).send({
      error: error.code ?? (status >= 500 ? 'internal_error' : 'bad_request'),
      message: status >= 500 ? 'internal server error; see the server log' : error.message,
    });
  });

  return app;
}


