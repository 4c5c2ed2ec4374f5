import type { AddressInfo, Server } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { BufferPool, CamstreamError, type BufferPoolOptions } from './frame/index.js';
import { Authenticator, ClientAddress, CorsPolicy, createHttpServer, StreamAdmission, ViewerLoops, addressOf, type AuthOptions, type CorsOptions, type LoopCamera, type StreamLimits, type TrustProxy } from './http/index.js';
import { ProcessMonitor } from './metrics/index.js';
import { DEFAULT_SOURCE, NoSignalRenderer, parseSource, type Source } from './source/index.js';
import { Camera, DEFAULT_ENCODE_BUDGET_MS, DEFAULT_PROFILES, openKernelQueue, type AdaptationLevel, type AdaptiveOptions, type Profile } from './stream/index.js';
import { VERSION } from './version.js';
import { CamstreamEmitter, type CamstreamEventName, type CamstreamEvents } from './camstream-events.js';
import { routeInto, type RequestHandler, type UpgradeHandler } from './mount.js';

/** See CamstreamOptions.sendQueueBytes. */
export const DEFAULT_SEND_QUEUE_BYTES = 64 * 1024;

/** Viewer loops beyond the main thread: more than a few only adds threads contending for the same cores. */
export const MAX_WORKERS = 16;

/** What a camera id may be: it appears in /cam/<id>/stream. */
export const CAMERA_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** One camera: its id (in /cam/<id>/…), its source, and how to run it. */
export interface CameraConfig {
  id: string;
  /** A source URL (see SOURCE_FORMS) or a Source object. */
  source: string | Source;
  /** Keep the source running with no viewers. Default false (on demand). */
  alwaysOn?: boolean;
  /** Seconds without viewers before an on-demand source stops. Default 30. */
  idleTimeoutSeconds?: number;
  /** Seconds without a frame before the source counts as stalled and is restarted. Default 5. */
  stallTimeoutSeconds?: number;
  /** Seconds after the last frame before viewers get "no signal" cards. Default 5. */
  noSignalAfterSeconds?: number;
  /** JPEG quality 1–100 for sources camstream encodes (RTSP, files, raw webcams). Default 85. */
  quality?: number;
  rtspTransport?: 'tcp' | 'udp';
  /** Frames a viewer may have waiting behind the one it writes (power of two). Default 1. */
  queueCapacity?: number;
  /** Slow-viewer adaptation thresholds, or false to turn it off. */
  adaptive?: Partial<AdaptiveOptions> | false;
  /** Re-encoding profiles by name, added to (or replacing) DEFAULT_PROFILES (full-q60, half-q60, third-q60, quarter-q40). */
  profiles?: Record<string, Profile>;
  /** The adaptation ladder, best first. */
  ladder?: AdaptationLevel[];
  /** Seconds a viewer's write may make no progress before it is disconnected. Default 10. */
  viewerStallTimeoutSeconds?: number;
  /**
   * CPU milliseconds per second this camera's re-encoding for adapted viewers may
   * take (default 200, DEFAULT_ENCODE_BUDGET_MS); over it, those viewers get fewer frames.
   */
  encodeBudgetMs?: number;
  /** Skip frames byte-identical to the previous one (one is still sent every second). Default false. */
  dropSameFrames?: boolean;
}

export interface CamstreamOptions {
  /** The cameras; the first also answers /stream and /snapshot. Default: one camera from `source`. */
  cameras?: CameraConfig[];
  /** Shorthand for one camera with id `default`. Default `synthetic:1280x720@30`. */
  source?: string | Source;
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** Port to listen on; 0 picks a free one. Default 8080. */
  port?: number;
  /**
   * false: do not listen; start() only starts the cameras and readies the routes,
   * which another server serves through `handler` (see src/mount.ts). Default true.
   */
  listen?: boolean;
  /** A pino logger, or the level for camstream's own (default 'info'). */
  logger?: Logger;
  logLevel?: string;
  /** Frames a viewer may have waiting behind the one it writes (power of two). Default 1. */
  queueCapacity?: number;
  pool?: BufferPoolOptions;
  /** How long a snapshot waits for an on-demand camera's first frame. Default 5 s. */
  snapshotTimeoutMs?: number;
  /**
   * Unsent bytes the kernel may queue per viewer (TCP_NOTSENT_LOWAT on the listening
   * socket, inherited by every viewer's). Default 64 KiB; 0 leaves the kernel's
   * default (megabytes: seconds of delay for a slow viewer). See ARCHITECTURE.md.
   */
  sendQueueBytes?: number;
  /**
   * Worker threads that serve viewers beside the main thread (viewer loops): each
   * new viewer goes to the loop with the fewest. Frames are shared, not copied.
   * Default 0: one event loop, which saturates one core near 300 viewers of 1080p60.
   */
  workers?: number;
  /** HTTP basic users and bearer tokens; none: anyone who can connect may watch (fine on 127.0.0.1). */
  auth?: AuthOptions;
  /** Serve HTTPS (and wss:) with this PEM private key and certificate. Not with workers. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Let pages on these other sites read the answers (CORS). Default: off. */
  cors?: CorsOptions;
  /** Bounds: streaming connections in all and per client, request head size, request time. */
  limits?: Limits;
  /** Behind a reverse proxy: whose X-Forwarded-For names the client (see TrustProxy). Default: nobody's. */
  trustProxy?: TrustProxy;
}

export interface Limits extends StreamLimits {
  /** Largest request head in bytes (431 beyond). Default 8192. */
  maxHeaderBytes?: number;
  /** Seconds to receive a whole request (not a stream's response), against slow senders. Default 10. */
  requestTimeoutSeconds?: number;
}

/** Addresses that only this machine can reach: no warning when listening there without auth. */
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** The server could not listen; the message names the address and what to change. */
export class ListenError extends CamstreamError {
  constructor(message: string) {
    super('CAMSTREAM_LISTEN', message);
  }
}

/**
 * A running camstream: buffer pool, camera (source → exchange → viewers) and HTTP
 * server, wired together. The CLI is a thin shell round this.
 */
export class Camstream {
  readonly log: Logger;
  readonly pool: BufferPool;
  readonly cameras: readonly Camera[];
  readonly http: FastifyInstance;
  private readonly processMonitor = new ProcessMonitor();
  private readonly noSignalRenderer = new NoSignalRenderer();
  private readonly sendQueueBytes: number;
  private readonly host: string;
  private readonly port: number;
  private readonly loops: ViewerLoops | undefined;
  private readonly auth: Authenticator;
  private readonly tls: boolean;
  private stopping: Promise<void> | undefined;
  private readonly events: CamstreamEmitter;
  private readonly listens: boolean;
  /** Routes ready and not stopping: `handler` dispatches into them. */
  private serving = false;

  constructor(options: CamstreamOptions = {}) {
    this.log = options.logger ?? pino({ level: options.logLevel ?? 'info' });
    this.events = new CamstreamEmitter(this.log);
    this.listens = options.listen ?? true;
    const workers = options.workers ?? 0;
    if (!Number.isInteger(workers) || workers < 0 || workers > MAX_WORKERS) throw new CamstreamError('CAMSTREAM_CONFIG', `workers must be a whole number 0–${MAX_WORKERS}, got ${workers}`);
    // Viewer loops in other threads send the same pooled memory.
    this.pool = new BufferPool({ ...options.pool, shared: workers > 0 });
    const configs = options.cameras ?? [{ id: 'default', source: options.source ?? DEFAULT_SOURCE }];
    if (configs.length === 0) throw new CamstreamError('CAMSTREAM_CONFIG', 'no cameras configured: give a --source or a config file with cameras');
    const seen = new Set<string>();
    for (const { id, encodeBudgetMs: budget } of configs) {
      if (!CAMERA_ID.test(id)) throw new CamstreamError('CAMSTREAM_CONFIG', `camera id '${id}' is not usable in a URL; use letters, digits, '-' and '_' (up to 64)`);
      if (seen.has(id)) throw new CamstreamError('CAMSTREAM_CONFIG', `two cameras have the id '${id}'; ids must be unique`);
      if (budget !== undefined && !(Number.isFinite(budget) && budget > 0)) {
        throw new CamstreamError('CAMSTREAM_CONFIG', `camera '${id}': encodeBudgetMs must be CPU milliseconds per second above 0 (default ${DEFAULT_ENCODE_BUDGET_MS}), got ${budget}; with 0 no adapted viewer would get a re-encoded frame`);
      }
      seen.add(id);
    }
    this.tls = options.tls !== undefined;
    if (this.tls && workers > 0) {
      throw new CamstreamError('CAMSTREAM_CONFIG', 'workers cannot be used with TLS: an encrypted connection cannot move to another thread; set workers to 0, or terminate TLS in a reverse proxy (docs/DEPLOY.md)');
    }
    this.auth = new Authenticator(options.auth);
    const admission = new StreamAdmission(options.limits);
    this.cameras = configs.map((config) => this.makeCamera(config, options.queueCapacity));
    this.loops =
      workers === 0
        ? undefined
        : new ViewerLoops({
            count: workers,
            cameras: this.cameras,
            settings: configs.map((config, index) => loopCamera(config, this.cameras[index] as Camera, options.queueCapacity)),
            log: this.log,
            onStreamEnded: (remote) => admission.leave(addressOf(remote)),
          });
    this.sendQueueBytes = options.sendQueueBytes ?? DEFAULT_SEND_QUEUE_BYTES;
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port ?? 8080;
    this.http = createHttpServer({
      cameras: this.cameras,
      pool: this.pool,
      processMonitor: this.processMonitor,
      log: this.log,
      version: VERSION,
      snapshotTimeoutMs: options.snapshotTimeoutMs,
      loops: this.loops,
      auth: this.auth,
      cors: options.cors === undefined ? undefined : new CorsPolicy(options.cors),
      admission,
      tls: options.tls,
      maxHeaderBytes: options.limits?.maxHeaderBytes,
      requestTimeoutMs: options.limits?.requestTimeoutSeconds === undefined ? undefined : options.limits.requestTimeoutSeconds * 1000,
      clients: new ClientAddress(options.trustProxy),
    });
  }

  private makeCamera(config: CameraConfig, queueCapacity: number | undefined): Camera {
    const source =
      typeof config.source === 'object'
        ? config.source
        : parseSource(config.source, { quality: config.quality, rtspTransport: config.rtspTransport });
    return new Camera({
      id: config.id,
      source,
      pool: this.pool,
      log: this.log,
      ...viewerSettings(config, queueCapacity),
      alwaysOn: config.alwaysOn,
      idleTimeoutMs: config.idleTimeoutSeconds === undefined ? undefined : config.idleTimeoutSeconds * 1000,
      supervisor: config.stallTimeoutSeconds === undefined ? {} : { stallTimeoutMs: config.stallTimeoutSeconds * 1000 },
      dropSameFrames: config.dropSameFrames,
      noSignalRenderer: this.noSignalRenderer,
      noSignalAfterMs: config.noSignalAfterSeconds === undefined ? undefined : config.noSignalAfterSeconds * 1000,
      events: this.events.forCamera(config.id),
    });
  }

  /** Starts the cameras, then listens. Resolves with the server's URL. */
  async start(): Promise<string> {
    for (const camera of this.cameras) camera.start();
    if (!this.listens) {
      // Mounted in another server: routes ready, no socket of our own (url stays '').
      await this.http.ready();
      this.serving = true;
      this.log.info({ version: VERSION, cameras: this.cameras.map((camera) => `${camera.id}: ${camera.source.url}`) }, 'camstream ready to be mounted');
      return '';
    }
    try {
      await this.http.listen({ host: this.host, port: this.port });
    } catch (error) {
      await Promise.all(this.cameras.map((camera) => camera.stop()));
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new ListenError(`port ${this.port} on ${this.host} is already in use; stop the other server or choose another port with --port`);
      if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new ListenError(`cannot listen on host '${this.host}': no such local address; use --host 127.0.0.1, 0.0.0.0 or an address of this machine`);
      if (code === 'EACCES') throw new ListenError(`not allowed to listen on port ${this.port}; ports below 1024 need privileges, choose another with --port`);
      throw error;
    }
    this.boundSendQueue();
    const url = this.url;
    this.log.info({ url, version: VERSION, cameras: this.cameras.map((camera) => `${camera.id}: ${camera.source.url}`), auth: this.auth.enabled, tls: this.tls }, 'camstream listening');
    if (!this.auth.enabled && !LOOPBACK.test(this.host)) {
      this.log.warn({ host: this.host }, `listening on ${this.host} without authentication: anyone who can reach this address can watch every camera; configure auth users or tokens (README, "Security")`);
    }
    return url;
  }

  /**
   * Bounds what the kernel queues for each viewer: a slow viewer's lag is what sits
   * in its send queue, and by default Linux lets that grow to megabytes. Set once on
   * the listening socket; accepted sockets inherit it. A server that mounts
   * camstream calls this with its own once it listens. False: not bounded (logged).
   */
  boundSendQueue(server: Server = this.http.server): boolean {
    if (this.sendQueueBytes === 0) return false;
    const kernel = openKernelQueue();
    if (!kernel.available || !kernel.setNotSentLowat(server, this.sendQueueBytes)) {
      this.log.warn({ reason: kernel.reason ?? 'setsockopt(TCP_NOTSENT_LOWAT) failed' }, 'cannot bound the kernel send queue nor read viewers\' TCP state: slow viewers may lag by seconds, and are judged by lag alone');
      return false;
    }
    // Viewers' receive buffers are seen through TCP_INFO (see LinkMonitor); say once when they cannot be.
    if (this.tls) {
      this.log.warn('over TLS, viewers\' TCP state (TCP_INFO) is not read: a viewer whose reader is slower than its link is judged by lag alone');
    } else if (!kernel.canReadLink(server)) {
      this.log.warn({ reason: 'getsockopt(TCP_INFO) failed or has no tcpi_snd_wnd (Linux before 5.4)' }, 'cannot read viewers\' TCP state: a viewer whose reader is slower than its link is judged by lag alone');
    }
    return true;
  }

  /**
   * camstream's routes as a node:http request listener, for a server that mounts it
   * (`listen: false`; express strips its mount path, else see stripPrefix). Streams
   * take the host's socket over as they do camstream's own. 503 before start().
   */
  readonly handler: RequestHandler = routeInto(() => (this.serving ? this.http : undefined));

  /** Hands a host server's WebSocket upgrade to camstream's /ws: `server.on('upgrade', camstream.upgrade)`. */
  readonly upgrade: UpgradeHandler = (request, socket, head) => {
    this.http.server.emit('upgrade', request, socket, head);
  };

  /** Listens for a typed event ('viewer-joined', 'viewer-left', 'source-state'); see camstream-events.ts. */
  on<E extends CamstreamEventName>(event: E, listener: CamstreamEvents[E]): this {
    this.events.on(event, listener);
    return this;
  }

  once<E extends CamstreamEventName>(event: E, listener: CamstreamEvents[E]): this {
    this.events.once(event, listener);
    return this;
  }

  off<E extends CamstreamEventName>(event: E, listener: CamstreamEvents[E]): this {
    this.events.off(event, listener);
    return this;
  }

  /** The URL the server listens on (after start). */
  get url(): string {
    const address = this.http.server.address() as AddressInfo | null;
    if (address === null) return '';
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `${this.tls ? 'https' : 'http'}://${host}:${address.port}`;
  }

  /** Stops accepting, ends every stream, stops the cameras. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.serving = false;
    const closed = this.http.close();
    await Promise.all(this.cameras.map((camera) => camera.stop()));
    await this.loops?.stop();
    this.noSignalRenderer.close();
    this.http.server.closeAllConnections();
    await closed;
    this.processMonitor.close();
    this.log.info('camstream stopped');
  }
}

/** How a camera treats its viewers: the same in the main thread and in every viewer loop. */
function viewerSettings(config: CameraConfig, queueCapacity: number | undefined): Omit<LoopCamera, 'id' | 'url' | 'nominalFps'> {
  return {
    queueCapacity: config.queueCapacity ?? queueCapacity,
    adaptive: config.adaptive,
    profiles: config.profiles === undefined ? undefined : { ...DEFAULT_PROFILES, ...config.profiles },
    ladder: config.ladder,
    viewerStallTimeoutMs: config.viewerStallTimeoutSeconds === undefined ? undefined : config.viewerStallTimeoutSeconds * 1000,
    encodeBudgetMs: config.encodeBudgetMs,
  };
}

/** What a viewer loop needs to serve a camera's viewers as the main thread would. */
function loopCamera(config: CameraConfig, camera: Camera, queueCapacity: number | undefined): LoopCamera {
  return { id: config.id, url: camera.source.url, nominalFps: camera.source.nominalFps, ...viewerSettings(config, queueCapacity) };
}

/** Creates a camstream; call start() to serve. */
export function createCamstream(options: CamstreamOptions = {}): Camstream {
  return new Camstream(options);
}
