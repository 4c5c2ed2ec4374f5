import { Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import { sharedKernelQueue, type Camera, type LinkSample, type ViewerInfo } from '../stream/index.js';
import type { Authenticator } from './auth.js';
import { ClientAddress } from './client-address.js';
import { headLines } from './cors.js';
import { unauthorized } from './guard.js';
import { addressOf, RETRY_AFTER_SECONDS, type StreamAdmission } from './stream-admission.js';
import { parseStreamQuery, StreamQueryError } from './stream-query.js';
import { ClientMessageError, CLOSE_GOING_AWAY, CLOSE_POLICY_VIOLATION, CLOSE_UNSUPPORTED_DATA, FrameHeaderCache, MAX_CLIENT_MESSAGE_BYTES, MAX_SUBSCRIBED_CAMERAS, parseClientMessage, WS_CLOSED, WS_OPEN } from './ws-message.js';
import { SendGate } from './ws-send-gate.js';
import { WebSocketSink, type SlotOwner } from './ws-sink.js';

export const WEBSOCKET_PATH = '/ws';
/** How long a closing handshake may take at shutdown (or after a camera stopped) before the socket is cut. */
const CLOSE_GRACE_MS = 500;
const CLOSE_INTERNAL_ERROR = 1011;

interface Refusal {
  status: 400 | 401 | 404 | 426 | 503;
  error: string;
  message: string;
  headers?: Record<string, string>;
}

/** Who may open a WebSocket, and how many may be open. */
export interface WebSocketGuard {
  auth?: Authenticator | undefined;
  admission?: StreamAdmission | undefined;
  clients?: ClientAddress | undefined;
}

/** The cameras one connection watches (each an ordinary Viewer, see WebSocketSink) and its subscribe protocol. */
class WebSocketViewers implements SlotOwner {
  private readonly slots = new Map<string, WebSocketSink>();
  private failed = false;
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly gate: SendGate;
  private readonly readLink: ((out: LinkSample) => boolean) | undefined;

  constructor(
    readonly socket: WebSocket,
    private readonly info: ViewerInfo,
    private readonly cameras: ReadonlyMap<string, Camera>,
    private readonly headers: ReadonlyMap<string, FrameHeaderCache>,
    private readonly log: FastifyBaseLogger,
    /** The connection's TCP socket, whose state its slots read (undefined: not TCP, or not readable here). */
    tcp?: Socket,
  ) {
    this.gate = new SendGate(socket);
    const kernel = sharedKernelQueue();
    this.readLink = tcp !== undefined && kernel.available ? (out) => kernel.readLink(tcp, out) : undefined;
    socket.on('message', (data, isBinary) => this.received(data, isBinary));
    socket.on('error', (error) => {
      this.failed = true;
      log.debug({ err: error, remote: info.remote }, 'WebSocket error');
    });
    socket.once('close', () => {
      if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
      for (const sink of this.slots.values()) sink.connectionClosed(this.failed);
      this.slots.clear();
    });
  }

  subscribe(ids: readonly string[], maxFps: number | undefined): void {
    const unknown = ids.filter((id) => !this.cameras.has(id));
    const known = ids.filter((id) => this.cameras.has(id));
    if (new Set([...this.slots.keys(), ...known]).size > MAX_SUBSCRIBED_CAMERAS) {
      return this.close(CLOSE_POLICY_VIOLATION, `more than ${MAX_SUBSCRIBED_CAMERAS} cameras on one connection`);
    }
    for (const id of known) {
      // Subscribing again replaces the viewer (a new maxFps); its frames in flight still complete.
      this.slots.get(id)?.detach();
      const sink = new WebSocketSink(this.socket, this.headers.get(id) as FrameHeaderCache, this, this.gate, this.readLink);
      this.slots.set(id, sink);
      sink.on('close', () => {
        if (this.slots.get(id) === sink) this.slots.delete(id);
      });
      (this.cameras.get(id) as Camera).addViewer(sink, this.info, { maxFps });
    }
    if (unknown.length > 0) this.sendJson({ type: 'error', message: `no camera ${unknown.map((id) => `'${id}'`).join(', ')}; cameras: ${[...this.cameras.keys()].join(', ')}` });
  }

  unsubscribe(ids: readonly string[]): void {
    for (const id of ids) this.slots.get(id)?.detach();
  }

  /**
   * A viewer of `cameraId` must end now. Its camera stopped (only shutdown stops
   * one): the client gets a closing handshake. Else it stalled: a client that does
   * not read could not take a close frame either, so the connection is cut.
   */
  abort(cameraId: string): void {
    if (this.socket.readyState !== WS_OPEN) return;
    if (this.cameras.get(cameraId)?.currentState === 'stopped') this.close(CLOSE_GOING_AWAY, 'server shutting down');
    else this.socket.terminate();
  }

  /**
   * Closes with `code`: every slot ends at once (its viewer releases its frames).
   * At shutdown a client that does not answer the closing handshake is cut after a
   * short grace; otherwise ws's own close timeout (30 s) does that.
   */
  close(code: number, reason: string): void {
    for (const sink of [...this.slots.values()]) sink.detach();
    this.slots.clear();
    if (this.socket.readyState === WS_OPEN) this.socket.close(code, truncate(reason, 123));
    if (code === CLOSE_GOING_AWAY && this.graceTimer === undefined && this.socket.readyState !== WS_CLOSED) {
      this.graceTimer = setTimeout(() => this.socket.terminate(), CLOSE_GRACE_MS);
      this.graceTimer.unref();
    }
  }

  sendJson(message: object): void {
    if (this.socket.readyState === WS_OPEN) this.socket.send(JSON.stringify(message));
  }

  private received(data: RawData, isBinary: boolean): void {
    // After our close frame, the client's last messages are moot.
    if (this.socket.readyState !== WS_OPEN) return;
    if (isBinary) return this.close(CLOSE_UNSUPPORTED_DATA, 'binary messages are not accepted; send JSON text');
    try {
      const message = parseClientMessage(data.toString());
      if (message.type === 'subscribe') this.subscribe(message.cameras, message.maxFps);
      else this.unsubscribe(message.cameras);
    } catch (error) {
      if (error instanceof ClientMessageError) return this.close(error.code, error.message);
      this.log.error({ err: error, remote: this.info.remote }, 'WebSocket message failed');
      this.close(CLOSE_INTERNAL_ERROR, 'internal server error; see the server log');
    }
  }
}

/**
 * `/ws`: any set of cameras over one WebSocket (a browser opens only ~6 HTTP/1.1
 * connections per host, so a page of 12 MJPEG streams stalls). Each (connection,
 * camera) pair is an ordinary Viewer of that camera. With viewer loops, these
 * viewers stay on the main thread.
 */
export function addWebSocketRoute(app: FastifyInstance, cameras: readonly Camera[], version: string, guard: WebSocketGuard = {}): void {
  const byId = new Map(cameras.map((camera) => [camera.id, camera]));
  const clients = guard.clients ?? new ClientAddress();
  const headers = new Map(cameras.map((camera) => [camera.id, new FrameHeaderCache(camera.id)]));
  const hello = JSON.stringify({ type: 'hello', version, cameras: cameras.map((camera) => ({ id: camera.id, nominalFps: camera.source.nominalFps ?? null })) });
  // Loaded with the first WebSocket, not at start (see WS_OPEN).
  let server: Promise<WebSocketServer> | undefined;
  const websockets = (): Promise<WebSocketServer> =>
    (server ??= import('ws').then(({ WebSocketServer }) => new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_CLIENT_MESSAGE_BYTES, clientTracking: false })));
  const connections = new Set<WebSocketViewers>();
  let shuttingDown = false;

  /** Why `/ws?cameras=a,b&fps=10` cannot be served, or the cameras and rate it asks for. */
  const readQuery = (url: string | undefined): Refusal | { ids: string[]; maxFps: number | undefined } => {
    const query = new URL(url ?? '/', 'http://localhost').searchParams;
    const listed = query.getAll('cameras');
    if (listed.length > 1) return { status: 400, error: 'bad_query', message: 'cameras is given more than once; give one comma-separated list' };
    const ids = [...new Set((listed[0] ?? '').split(',').map((id) => id.trim()).filter((id) => id !== ''))];
    let maxFps: number | undefined;
    try {
      const fps = query.getAll('fps');
      maxFps = parseStreamQuery(fps.length === 0 ? {} : { fps: fps.length === 1 ? fps[0] : fps }).maxFps;
    } catch (error) {
      if (error instanceof StreamQueryError) return { status: 400, error: error.code, message: error.message };
      throw error;
    }
    const unknown = ids.filter((id) => !byId.has(id));
    if (unknown.length > 0) return { status: 404, error: 'unknown_camera', message: `no camera ${unknown.map((id) => `'${id}'`).join(', ')}; cameras: ${[...byId.keys()].join(', ')}` };
    if (ids.length > MAX_SUBSCRIBED_CAMERAS) return { status: 400, error: 'bad_query', message: `more than ${MAX_SUBSCRIBED_CAMERAS} cameras` };
    return { ids, maxFps };
  };

  const upgrade = async (request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== WEBSOCKET_PATH) return refuse(socket, { status: 404, error: 'not_found', message: `no WebSocket endpoint at ${path}; it is ${WEBSOCKET_PATH}` });
    if (shuttingDown) return refuse(socket, { status: 503, error: 'shutting_down', message: 'the server is shutting down' });
    // Browsers send the page's basic-auth credentials (or ?access_token=) with the upgrade.
    const verdict = (await guard.auth?.check(request.url ?? '/', request.headers)) ?? 'public';
    if (verdict === 'missing' || verdict === 'invalid') return refuse(socket, { status: 401, ...unauthorized(verdict), headers: { 'WWW-Authenticate': guard.auth?.challenge ?? '' } });
    if (socket.destroyed) return;
    const wanted = readQuery(request.url);
    if ('status' in wanted) return refuse(socket, wanted);
    const remote = clients.remoteOf(request);
    const address = addressOf(remote);
    const full = guard.admission?.admit(address);
    if (full !== undefined) return refuse(socket, { status: 503, error: 'too_many_viewers', message: full, headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } });
    if (guard.admission !== undefined) socket.once('close', () => guard.admission?.leave(address));
    // Each message's fragments should leave at once, as an MJPEG part does.
    if (socket instanceof Socket) socket.setNoDelay(true);
    (await websockets()).handleUpgrade(request, socket, head, (ws) => {
      const connection = new WebSocketViewers(ws, { remote, userAgent: request.headers['user-agent'] }, byId, headers, app.log, socket instanceof Socket ? socket : undefined);
      connections.add(connection);
      ws.once('close', () => connections.delete(connection));
      ws.send(hello);
      if (wanted.ids.length > 0) connection.subscribe(wanted.ids, wanted.maxFps);
    });
  };
  // Nothing thrown here may reach the server's event emitter: it would be uncaught.
  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrade(request, socket, head).catch((error: unknown) => {
      app.log.warn({ err: error, url: request.url }, 'WebSocket upgrade failed');
      if (!socket.destroyed) refuse(socket, { status: 400, error: 'bad_request', message: 'cannot read this upgrade request' });
    });
  });

  // A plain GET (no Upgrade) gets the same answers for a bad query, else 426.
  app.get(WEBSOCKET_PATH, (request, reply) => {
    const wanted = readQuery(request.url);
    const refusal: Refusal = 'status' in wanted ? wanted : { status: 426, error: 'upgrade_required', message: `${WEBSOCKET_PATH} is a WebSocket endpoint: new WebSocket('ws://host${WEBSOCKET_PATH}')` };
    void reply.code(refusal.status).header('upgrade', 'websocket').send({ error: refusal.error, message: refusal.message });
  });

  // preClose, not onClose: fastify's own onClose waits for server.close(), which waits for these sockets.
  app.addHook('preClose', async () => {
    shuttingDown = true;
    const closed = [...connections].map((connection) => new Promise<void>((resolve) => {
      if (connection.socket.readyState === WS_CLOSED) return resolve();
      connection.socket.once('close', () => resolve());
      connection.close(CLOSE_GOING_AWAY, 'server shutting down');
    }));
    await Promise.all(closed);
  });
}

/** Answers an upgrade request with an HTTP error, as fastify would answer a plain one. */
function refuse(socket: Duplex, refusal: Refusal): void {
  const body = JSON.stringify({ error: refusal.error, message: refusal.message });
  const text = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 426: 'Upgrade Required', 503: 'Service Unavailable' }[refusal.status];
  const extra = headLines(refusal.headers);
  socket.on('error', () => socket.destroy());
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${refusal.status} ${text}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`);
}

function truncate(text: string, maxBytes: number): string {
  return Buffer.byteLength(text) <= maxBytes ? text : Buffer.from(text).subarray(0, maxBytes - 3).toString().replace(/\uFFFD*$/, '') + '...';
}
