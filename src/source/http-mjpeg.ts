import net from 'node:net';
import tls from 'node:tls';
import { captureTimeNow, type CaptureTime, type Frame, type FrameFactory } from '../frame/index.js';
import { DEFAULT_MAX_FRAME_BYTES, JpegFramer, type JpegFramerStats } from '../frame/jpeg-framer.js';
import { SourceError, SourceSpecError } from './errors.js';
import { HttpResponseParser, printable, type HttpResponseHandler, type ResponseHead } from './http-response-parser.js';
import { MultipartParser, newMultipartCounters, parseBoundary, type MultipartCounters, type MultipartHandler } from './multipart-parser.js';
import type { Source, SourceContext } from './source.js';
import { ThrottledWarning } from './throttled-warning.js';
import { maskPassword } from './source-url.js';

export interface HttpMjpegSourceOptions {
  /** Time allowed to connect and receive the response head. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Once streaming, the source fails when no byte arrives for this long. Default 30000 ms. */
  idleTimeoutMs?: number;
  /**
   * https only: accept any certificate. By default the server's certificate must be
   * valid for the URL's host and signed by a trusted CA (Node's list, or `ca`).
   */
  insecure?: boolean;
  /** https only: CA certificates (PEM) to trust instead of Node's list, e.g. a camera's own. */
  ca?: string | Buffer | (string | Buffer)[];
  /** Parts longer than this are dropped. Default 16 MiB. */
  maxFrameBytes?: number;
  /** Default `camstream`. */
  userAgent?: string;
}

/** Counters since the source was made (they add up across restarts). */
export interface HttpMjpegStats extends MultipartCounters {
  /** Connections that got a stream. */
  connections: number;
  /** Frames published. */
  frames: number;
  bytesReceived: number;
  /** Frames stamped with the upstream's X-Timestamp (its capture time) instead of their arrival time. */
  upstreamTimestamps: number;
  /** X-Timestamps ignored as implausible: further than a day from this machine's clock. */
  implausibleTimestamps: number;
  /** The JpegFramer's counters (it cuts parts without Content-Length), once started. */
  framer: JpegFramerStats | undefined;
}

const READ_BUFFER_BYTES = 64 * 1024;

/**
 * An upstream X-Timestamp further than this from our clock is not a wall clock time
 * we can use: mjpg-streamer and µStreamer often send the V4L2 buffer's timestamp,
 * seconds since boot, and a camera without NTP may think it is 1970. A day leaves
 * room for any real clock skew between an origin and its relays.
 */
const MAX_UPSTREAM_CLOCK_SKEW_MICROS = 24 * 3600 * 1e6;

/**
 * An MJPEG stream from an HTTP(S) upstream: an IP camera, mjpg-streamer, µStreamer
 * or another camstream. One GET, then the multipart body is cut into frames as it
 * arrives (see MultipartParser) and published. A frame keeps the upstream's
 * X-Timestamp as its wall clock capture time when it is plausible (see captureTime),
 * so a relay's viewers see the origin's capture time.
 *
 * Reads go into one reused 64 KiB buffer (`onread`), for https too (Node ≥ 15.1
 * passes tls.connect's `onread` to the TLS socket), so a chunk costs no allocation;
 * every parser copies what it needs before the read callback returns.
 *
 * Whatever stops the stream (the upstream ends it, resets the connection, sends
 * bytes that cannot be parsed, goes silent) closes the socket and is reported
 * once: by rejecting start() before the stream began, by context.fail() after.
 */
export class HttpMjpegSource implements Source {
  /** The URL with its password masked (`http://user:***@host/…`). */
  readonly url: string;
  readonly nominalFps: number | undefined = undefined;
  private readonly target: HttpTarget;
  private readonly request: Buffer;
  private readonly connectTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly maxFrameBytes: number;
  private readonly insecure: boolean;
  private readonly ca: HttpMjpegSourceOptions['ca'];
  private readonly readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  private readonly counters = { connections: 0, frames: 0, bytesReceived: 0, upstreamTimestamps: 0, implausibleTimestamps: 0, ...newMultipartCounters() };
  private context: SourceContext | undefined;
  private socket: net.Socket | undefined;
  private socketClosed: Promise<void> = Promise.resolve();
  private response: HttpResponseParser | undefined;
  private multipart: MultipartParser | undefined;
  private framer: JpegFramer | undefined;
  private framerFactory: FrameFactory | undefined;
  private pending: { resolve: () => void; reject: (error: SourceError) => void } | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private connected = false;
  private secured = false;
  /** The connection is over (failed, ended or stopped): its remaining events are ignored. */
  private over = true;
  private stopping = false;
  /** Inside a read callback, where the framer must not be reset (it may be mid-push). */
  private reading = false;
  private readonly responseHandler: HttpResponseHandler;
  private readonly multipartHandler: MultipartHandler;
  private discards: ThrottledWarning | undefined;
  private reportedImplausible = false;
  private readonly publishFrame = (frame: Frame): void => {
    const context = this.context;
    if (this.over || context === undefined) {
      frame.release();
      return;
    }
    this.counters.frames++;
    context.publish(frame);
  };
  /**
   * A relay keeps the origin's capture time: the wall clock part (X-Timestamp, what
   * viewers and the next hop see) is the upstream's when it sent a plausible one, so
   * latency across hops stays measurable. The monotonic part stays the local arrival
   * time, because frame intervals, local latency and stall detection must not follow
   * another machine's clock.
   */
  private readonly captureTime = (upstreamWallMicros: number | undefined): CaptureTime => {
    const arrival = captureTimeNow();
    if (upstreamWallMicros === undefined) return arrival;
    const skewMicros = upstreamWallMicros - arrival.wallMicros;
    if (Math.abs(skewMicros) > MAX_UPSTREAM_CLOCK_SKEW_MICROS) {
      this.counters.implausibleTimestamps++;
      if (!this.reportedImplausible) {
        // Once per connection: common (cameras that send time since boot) and harmless.
        this.reportedImplausible = true;
        this.context?.log.info({ source: this.url, skewSeconds: Math.round(skewMicros / 1e6) }, 'upstream X-Timestamp is not this clock\'s time (off by more than a day): frames are stamped on arrival');
      }
      return arrival;
    }
    this.counters.upstreamTimestamps++;
    return { monoMs: arrival.monoMs, wallMicros: upstreamWallMicros };
  };

  constructor(url: string, options: HttpMjpegSourceOptions = {}) {
    this.url = maskPassword(url);
    this.target = parseHttpTarget(url);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.insecure = options.insecure ?? false;
    this.ca = options.ca;
    if (!(this.connectTimeoutMs > 0) || !(this.idleTimeoutMs > 0) || !Number.isInteger(this.maxFrameBytes) || this.maxFrameBytes < 4) {
      throw new SourceSpecError(this.url, `source '${this.url}': connectTimeoutMs and idleTimeoutMs must be > 0, maxFrameBytes a whole number >= 4`);
    }
    const { target } = this;
    this.request = Buffer.from(
      `GET ${target.path} HTTP/1.1\r\n` +
        `Host: ${target.hostHeader}\r\n` +
        (target.authorization === undefined ? '' : `Authorization: ${target.authorization}\r\n`) +
        `User-Agent: ${options.userAgent ?? 'camstream'}\r\n` +
        'Accept: multipart/x-mixed-replace, image/jpeg\r\n' +
        'Connection: close\r\n\r\n',
      'latin1',
    );
    this.responseHandler = {
      onHead: (head) => this.onHead(head),
      onBody: (data, start, end) => this.multipart?.push(data, start, end),
      onEnd: () => this.terminate(`upstream ${this.target.hostPort} ended the stream`),
      onError: (reason) => this.terminate(reason),
    };
    this.multipartHandler = {
      frame: this.publishFrame,
      close: () => this.terminate(`upstream ${this.target.hostPort} ended the stream (closing boundary)`),
      error: (reason) => this.terminate(reason),
      captureTime: this.captureTime,
      discard: (reason, bytes) =>
        this.discards?.warn({ reason, bytes }, reason === 'oversize' ? `dropped a ${bytes}-byte part over the ${this.maxFrameBytes}-byte limit from ${this.target.hostPort}` : `dropped a part that is not a JPEG from ${this.target.hostPort}`),
    };
  }

  get stats(): HttpMjpegStats {
    return { ...this.counters, framer: this.framer === undefined ? undefined : { ...this.framer.stats } };
  }

  start(context: SourceContext): Promise<void> {
    if (!this.over) return Promise.reject(new SourceError(`source ${this.url} is already started`));
    this.context = context;
    if (this.framer === undefined || this.framerFactory !== context.frames) {
      this.discards = new ThrottledWarning(context.log);
      const discards = this.discards;
      this.framer = new JpegFramer(context.frames, this.publishFrame, { maxFrameBytes: this.maxFrameBytes }, (reason, bytes) =>
        discards.warn({ reason, bytes }, `discarded a ${reason} JPEG of ${bytes} bytes from ${this.target.hostPort}`),
      );
      this.framerFactory = context.frames;
    }
    this.over = false;
    this.reportedImplausible = false;
    this.connected = false;
    this.secured = false;
    this.response = new HttpResponseParser(this.responseHandler);
    this.multipart = undefined;
    return new Promise<void>((resolve, reject) => {
      this.pending = { resolve, reject };
      const socket = this.connect();
      this.socket = socket;
      this.socketClosed = new Promise((closed) => socket.once('close', () => closed()));
      this.connectTimer = setTimeout(() => this.onConnectTimeout(), this.connectTimeoutMs);
      socket.write(this.request); // queued until connected
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.terminate('stopped before the upstream answered');
    this.stopping = false;
    this.context = undefined;
    await this.socketClosed;
  }

  private connect(): net.Socket {
    const { host, port, servername } = this.target;
    const onread: net.OnReadOpts = {
      buffer: this.readBuffer,
      callback: (length: number, buffer: Uint8Array): boolean => {
        this.receive(socket, buffer as Buffer, length);
        return true;
      },
    };
    // @types/node does not list tls.connect's `onread` (Node >= 15.1 supports it when no `socket` is given).
    const tlsOptions: tls.ConnectionOptions & { onread: net.OnReadOpts } = { host, port, servername, onread, rejectUnauthorized: !this.insecure, ca: this.ca };
    const socket: net.Socket = this.target.https ? tls.connect(tlsOptions) : net.connect({ host, port, onread });
    socket.once('connect', () => {
      this.connected = true;
    });
    socket.once('secureConnect', () => {
      this.secured = true;
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (socket !== this.socket) return;
      this.terminate(describeSocketError(error, this.target, this.response?.inBody === true, this.multipart?.inFrame === true), error);
    });
    socket.on('end', () => {
      if (socket !== this.socket) return;
      const { hostPort } = this.target;
      if (this.response?.inBody !== true) this.terminate(`${hostPort} closed the connection without answering: is it an HTTP server?`);
      else if (this.multipart?.inFrame === true) this.terminate(`upstream ${hostPort} closed the connection in the middle of a frame`);
      else this.terminate(`upstream ${hostPort} ended the stream`);
    });
    socket.on('timeout', () => {
      if (socket === this.socket) this.terminate(`no data from upstream ${this.target.hostPort} for ${this.idleTimeoutMs / 1000} s`);
    });
    socket.on('close', () => {
      if (socket === this.socket) this.terminate(`connection to ${this.target.hostPort} closed`);
    });
    return socket;
  }

  private receive(socket: net.Socket, data: Buffer, length: number): void {
    if (socket !== this.socket || this.over) return;
    this.counters.bytesReceived += length;
    this.reading = true;
    try {
      this.response?.push(data, 0, length);
    } catch (error) {
      this.terminate(`internal error while reading the stream: ${(error as Error).message}`, error);
    } finally {
      this.reading = false;
      if (this.over) this.framer?.reset();
    }
  }

  /** Accepts a 200 multipart/x-mixed-replace answer; anything else ends the connection with a reason. */
  private onHead(head: ResponseHead): boolean {
    const verdict = this.judgeHead(head);
    if (typeof verdict === 'string') {
      this.terminate(verdict);
      return false;
    }
    const context = this.context as SourceContext;
    this.multipart = new MultipartParser(verdict.boundary, context.frames, this.framer as JpegFramer, this.multipartHandler, this.counters, this.maxFrameBytes);
    this.clearConnectTimer();
    this.socket?.setTimeout(this.idleTimeoutMs);
    this.counters.connections++;
    context.log.info({ source: this.url, boundary: verdict.boundary, chunked: head.headers.has('transfer-encoding') }, 'http upstream streaming');
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve();
    return true;
  }

  private judgeHead(head: ResponseHead): { boundary: string } | string {
    const { statusCode, headers } = head;
    const { hostPort, pathname } = this.target;
    const status = head.statusText === '' ? String(statusCode) : `${statusCode} ${printable(head.statusText)}`;
    if (statusCode === 401) {
      if (this.target.authorization === undefined) return `401 Unauthorized: ${hostPort} needs a user and password; put them in the source URL (http://user:password@host/…)`;
      const challenge = headers.get('www-authenticate') ?? '';
      if (/^\s*digest/i.test(challenge) && !/basic/i.test(challenge)) {
        return '401 Unauthorized: the upstream asks for Digest authentication, which camstream does not support; enable Basic authentication on the camera';
      }
      return '401 Unauthorized: check the user and password in the source URL';
    }
    if (statusCode === 403) return `403 Forbidden: ${hostPort} refuses access to ${pathname} for this user`;
    if (statusCode === 404) return `404 Not Found: ${hostPort} has no stream at ${pathname}; check the path in the source URL`;
    const location = headers.get('location');
    if (statusCode >= 300 && statusCode < 400 && location !== undefined) return `upstream answered ${status}, redirecting to ${printable(maskPassword(location))}: use that URL as the source`;
    if (statusCode !== 200) return `upstream answered ${status}`;
    const contentType = headers.get('content-type');
    if (contentType === undefined) return 'upstream answered without a Content-Type, not an MJPEG stream (multipart/x-mixed-replace)';
    const mediaType = (contentType.split(';')[0] as string).trim().toLowerCase();
    // multipart/mixed too: a few cameras label their MJPEG streams so.
    if (mediaType !== 'multipart/x-mixed-replace' && mediaType !== 'multipart/mixed') {
      return `upstream answered ${printable(mediaType)}, not an MJPEG stream (multipart/x-mixed-replace)`;
    }
    const boundary = parseBoundary(contentType);
    if (boundary === undefined) return `upstream's Content-Type "${printable(contentType)}" has no boundary parameter, so its parts cannot be found`;
    return { boundary };
  }

  private onConnectTimeout(): void {
    const { hostPort } = this.target;
    const ms = this.connectTimeoutMs;
    if (!this.connected) this.terminate(`no connection to ${hostPort} within ${ms} ms: is the camera on and reachable?`);
    else if (this.target.https && !this.secured) this.terminate(`TLS handshake with ${hostPort} did not finish within ${ms} ms`);
    else this.terminate(`${hostPort} accepted the connection but sent no answer within ${ms} ms`);
  }

  /**
   * Ends the connection once: closes the socket, returns pooled buffers, and reports
   * `reason` (start() rejects if it is pending, else context.fail(), unless stopping).
   */
  private terminate(reason: string, cause?: unknown): void {
    if (this.over) return;
    this.over = true;
    this.clearConnectTimer();
    this.response?.stop();
    this.multipart?.close();
    if (!this.reading) this.framer?.reset(); // else when the read callback returns
    this.socket?.destroy();
    const error = new SourceError(reason, cause === undefined ? undefined : { cause });
    const pending = this.pending;
    this.pending = undefined;
    if (pending !== undefined) pending.reject(error);
    else if (!this.stopping) this.context?.fail(error);
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }
}

/** Where an http(s) source connects and what it sends, from its URL. */
interface HttpTarget {
  https: boolean;
  /** For connecting: no brackets round an IPv6 address. */
  host: string;
  port: number;
  /** For messages: `host:port`. */
  hostPort: string;
  hostHeader: string;
  /** Path and query, as sent in the request line. */
  path: string;
  /** Path only, for messages (a query may hold secrets). */
  pathname: string;
  /** `Basic …` from the URL's user info, if any. */
  authorization: string | undefined;
  /** TLS server name (SNI): the host, unless it is an IP address. */
  servername: string | undefined;
}

const URL_FORM = 'http://[user:password@]host[:port]/path or https://…';

function parseHttpTarget(spec: string): HttpTarget {
  const shown = maskPassword(spec);
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new SourceSpecError(shown, `cannot read source '${shown}': expected ${URL_FORM}`);
  }
  const https = url.protocol === 'https:';
  if ((!https && url.protocol !== 'http:') || url.hostname === '') {
    throw new SourceSpecError(shown, `cannot read source '${shown}': expected ${URL_FORM}`);
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? (https ? 443 : 80) : Number(url.port);
  let authorization: string | undefined;
  if (url.username !== '' || url.password !== '') {
    let credentials: string;
    try {
      credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    } catch {
      throw new SourceSpecError(shown, `source '${shown}': the user or password has a bad %-escape`);
    }
    authorization = `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
  }
  return {
    https,
    host,
    port,
    hostPort: `${url.hostname}:${port}`,
    hostHeader: url.host,
    path: `${url.pathname}${url.search}`,
    pathname: url.pathname,
    authorization,
    servername: net.isIP(host) === 0 ? host : undefined,
  };
}

/** One line a user can act on, for a socket error before or during the stream. */
function describeSocketError(error: NodeJS.ErrnoException, target: HttpTarget, streaming: boolean, inFrame: boolean): string {
  const { hostPort } = target;
  const code = error.code ?? '';
  if (streaming) {
    if (code === 'ECONNRESET') return `upstream ${hostPort} reset the connection${inFrame ? ' in the middle of a frame' : ''}`;
    return `connection to upstream ${hostPort} failed: ${error.message}`;
  }
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused by ${hostPort}: is the camera on and the URL right?`;
    case 'ENOTFOUND':
      return `cannot resolve host '${target.host}': check the host name in the source URL`;
    case 'EAI_AGAIN':
      return `cannot resolve host '${target.host}' right now (DNS lookup failed temporarily): check the network and DNS`;
    case 'ECONNRESET':
      return `connection reset by ${hostPort} before it answered${target.https ? '' : ' (an https server?)'}`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${hostPort} is unreachable (${code}): check the network and the address in the source URL`;
    case 'ETIMEDOUT':
      return `no connection to ${hostPort}: timed out (is the camera on and reachable?)`;
  }
  if (/CERT|UNABLE_TO_|SELF_SIGNED/.test(code)) {
    return `TLS certificate of ${hostPort} not accepted (${code}: ${error.message}): give its CA with the 'ca' option, or set 'insecure' to skip verification`;
  }
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS')) return `TLS handshake with ${hostPort} failed (${code}): is it an https server?`;
  return `cannot connect to ${hostPort}: ${error.message}`;
}
