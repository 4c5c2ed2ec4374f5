import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { readJpegSize } from '../frame/index.js';
import type { Camera, CameraStats, ViewerRequest } from '../stream/index.js';
import { browserQuirks, type BrowserQuirks } from './browser-quirks.js';
import { cameraFigures } from './camera-figures.js';
import type { RootHandler } from './dashboard-route.js';
import { parseStreamKey, parseStreamQuery } from './stream-query.js';
import type { ViewerLoops } from './viewer-loops.js';

/**
 * Endpoints in the shapes of µStreamer (`/state`; `/stream` and `/snapshot` are
 * camstream's own, with µStreamer's query parameters and snapshot headers) and of
 * mjpg-streamer (`/?action=stream`, `/?action=snapshot`), so that clients made for
 * those (OctoPrint, Home Assistant's MJPEG camera, PiKVM-style pages) work
 * unchanged. Thin on purpose: streams and snapshots are server.ts's own handlers.
 */

/** server.ts's /stream or /snapshot handler, for a camera chosen here. */
export type CameraHandler = (camera: Camera, request: FastifyRequest, reply: FastifyReply) => unknown;

export interface CompatRoutesOptions {
  cameras: readonly Camera[];
  loops?: ViewerLoops | undefined;
  stream: CameraHandler;
  snapshot: CameraHandler;
  /** The client's `address:port`, as the viewer is named (see ClientAddress). */
  remoteOf: (request: FastifyRequest) => string;
}

/** µStreamer's GET /state (src/ustreamer/http/server.c), without its optional h264 and sinks parts. */
export interface UstreamerState {
  ok: true;
  result: {
    instance_id: string;
    encoder: { type: 'CPU' | 'HW'; quality: number };
    source: { resolution: { width: number; height: number }; online: boolean; desired_fps: number; captured_fps: number };
    stream: { queued_fps: number; clients: number; clients_stat: Record<string, UstreamerClient> };
  };
}

/** One viewer in `clients_stat`, under its id in hex (as µStreamer's PRIx64 ids). */
export interface UstreamerClient {
  fps: number;
  extra_headers: boolean;
  advance_headers: boolean;
  dual_final_frames: boolean;
  zero_data: boolean;
  /** The `key` it gave /stream, or "0" as µStreamer says for none. */
  key: string;
}

/** mjpg-streamer's actions; `_<n>` picks its n-th input plugin, here the n-th camera (from 0). */
const ACTION = /^(stream|snapshot)(?:_(\d{1,3}))?$/;
const SUPPORTED_ACTIONS = 'action=stream, action=snapshot (action=stream_<n> or snapshot_<n> for camera n, from 0)';

/**
 * Adds /state and /cam/<id>/state, and remembers what each /stream request asked
 * for (its `key`, its quirks) for /state's clients_stat. Returns the handler
 * picker for `/` with an `action` query, for addDashboardRoutes.
 */
export function addCompatRoutes(app: FastifyInstance, options: CompatRoutesOptions): (request: FastifyRequest) => RootHandler | undefined {
  const { cameras, loops, stream, snapshot, remoteOf } = options;
  const clients = new StreamClients();

  // Every /stream and /cam/<id>/stream request, after any auth hook and before its handler.
  app.addHook('preHandler', async (request) => {
    if (request.method === 'GET' && request.routeOptions.url?.endsWith('/stream') === true) clients.remember(request, remoteOf(request));
  });

  const state = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | UstreamerState> => {
    const id = (request.params as { id?: string }).id;
    const index = id === undefined ? 0 : cameras.findIndex((camera) => camera.id === id);
    const camera = cameras[index];
    if (camera === undefined) {
      return reply.code(404).send({ error: 'unknown_camera', message: `no camera '${id ?? ''}'; cameras: ${cameras.map((each) => each.id).join(', ')}` });
    }
    // Viewers in other event loops too (--workers), as /api/stats counts them.
    const figures = await cameraFigures(cameras, loops);
    // Every camera's viewers: a record is kept while its viewer watches any of them.
    clients.forgetAllBut(figures.flatMap((each) => each.viewerList.map((viewer) => viewer.remote)));
    return ustreamerState(camera, figures[index] as CameraStats, clients);
  };
  app.get('/state', state);
  app.get('/cam/:id/state', state);

  const action = (request: FastifyRequest, reply: FastifyReply): unknown => {
    const asked = (request.query as Record<string, unknown>).action;
    const match = typeof asked === 'string' ? ACTION.exec(asked) : null;
    if (match === null) {
      return reply.code(400).send({ error: 'unknown_action', message: `action=${String(asked).slice(0, 40)} is not supported; supported: ${SUPPORTED_ACTIONS}` });
    }
    const index = Number(match[2] ?? 0);
    const camera = cameras[index];
    if (camera === undefined) {
      return reply.code(404).send({ error: 'unknown_camera', message: `no camera ${index} in action=${asked}; cameras 0–${cameras.length - 1}: ${cameras.map((each) => each.id).join(', ')}` });
    }
    if (match[1] === 'snapshot') return snapshot(camera, request, reply);
    // fastify answers HEAD / with the GET handler; `stream` answers a HEAD with the head alone.
    if (request.method !== 'HEAD') clients.remember(request, remoteOf(request));
    return stream(camera, request, reply);
  };
  return (request) => ((request.query as Record<string, unknown> | undefined)?.action === undefined ? undefined : action);
}

/**
 * µStreamer's /snapshot headers that apply (X-Timestamp is camstream's own): whether
 * the source is live, and the JPEG's size. Its other X-UStreamer-* fields time
 * steps of its own pipeline (grab, encode, expose) that camstream does not have.
 */
export function ustreamerSnapshotHeaders(camera: Camera, jpeg: Uint8Array): Record<string, string> {
  const size = readJpegSize(jpeg);
  const headers: Record<string, string> = { 'x-ustreamer-online': String(camera.currentState === 'live') };
  if (size !== undefined) {
    headers['x-ustreamer-width'] = String(size.width);
    headers['x-ustreamer-height'] = String(size.height);
  }
  return headers;
}

/** What one /stream request asked for, kept for /state by the connection's address. */
interface StreamClient {
  key: string | undefined;
  quirks: Partial<BrowserQuirks>;
  atMs: number;
}

/** A stream request becomes a viewer within milliseconds; one not a viewer after this is gone. */
const FORGET_AFTER_MS = 10_000;
/** Kept at most, oldest forgotten first, should /state never be asked to prune them. */
const MAX_CLIENTS = 1024;

/**
 * The key and quirks of each stream request, by remote address and port (which
 * /api/stats shows for each viewer). Kept by address rather than by socket because
 * with --workers the socket is handed to another thread at once; pruned against the
 * viewer list on each /state.
 */
class StreamClients {
  private readonly byRemote = new Map<string, StreamClient>();

  remember(request: FastifyRequest, remote: string): void {
    let asked: ViewerRequest;
    try {
      asked = parseStreamQuery(request.query);
    } catch {
      return; // the stream handler answers it with a 400
    }
    this.byRemote.delete(remote);
    this.byRemote.set(remote, { key: parseStreamKey(request.query), quirks: { advanceHeaders: asked.advanceHeaders, dualFinalFrames: asked.dualFinalFrames }, atMs: performance.now() });
    if (this.byRemote.size > MAX_CLIENTS) this.byRemote.delete(this.byRemote.keys().next().value as string);
  }

  get(remote: string): StreamClient | undefined {
    return this.byRemote.get(remote);
  }

  /** Forgets requests that are not among `viewers` (remotes, any camera's) and no longer new. */
  forgetAllBut(viewers: readonly string[]): void {
    const live = new Set(viewers);
    const before = performance.now() - FORGET_AFTER_MS;
    for (const [remote, client] of this.byRemote) if (client.atMs < before && !live.has(remote)) this.byRemote.delete(remote);
  }
}

function ustreamerState(camera: Camera, stats: CameraStats, clients: StreamClients): UstreamerState {
  const clientsStat: Record<string, UstreamerClient> = {};
  for (const viewer of stats.viewerList) {
    // No record: a /ws viewer, which has no multipart quirks.
    const asked = clients.get(viewer.remote);
    const quirks = asked === undefined ? { advanceHeaders: false, dualFinalFrames: false } : browserQuirks(viewer.userAgent, asked.quirks);
    clientsStat[viewer.id.toString(16)] = {
      fps: Math.round(viewer.fps),
      // Accepted and not applied (see parseStreamKey), so reported off.
      extra_headers: false,
      advance_headers: quirks.advanceHeaders,
      dual_final_frames: quirks.dualFinalFrames,
      zero_data: false,
      key: asked?.key ?? '0',
    };
  }
  // Read from the latest frame, as µStreamer reports its exposed frame's; 0 before the first.
  const frame = camera.snapshot();
  const size = frame === undefined ? undefined : readJpegSize(frame.jpeg);
  const quality = frame === undefined ? undefined : estimateJpegQuality(frame.jpeg);
  frame?.release();
  return {
    ok: true,
    result: {
      instance_id: camera.id,
      encoder: { type: encoderType(stats.source), quality: quality ?? 0 },
      source: {
        resolution: { width: size?.width ?? 0, height: size?.height ?? 0 },
        online: stats.state === 'live',
        desired_fps: Math.round(stats.nominalFps ?? 0),
        captured_fps: Math.round(stats.fps),
      },
      stream: {
        // µStreamer counts how often frames were queued to its clients: the fastest viewer's rate.
        queued_fps: Math.round(Math.max(0, ...stats.viewerList.map((viewer) => viewer.fps))),
        clients: stats.viewerList.length,
        clients_stat: clientsStat,
      },
    },
  };
}

/**
 * µStreamer's encoder names: "HW" when the JPEGs come already encoded and are passed
 * through (an MJPEG webcam or stream, a command's or a folder's JPEGs), "CPU" when
 * ffmpeg or libvips encode them here (synthetic, RTSP, files, raw webcam formats).
 */
function encoderType(sourceUrl: string): 'CPU' | 'HW' {
  if (sourceUrl.startsWith('v4l2:')) return /[?&]format=(?!mjpeg\b)/.test(sourceUrl) ? 'CPU' : 'HW';
  return /^(https?:|exec:|jpegdir:)/i.test(sourceUrl) ? 'HW' : 'CPU';
}

/** The sum of the IJG luminance table (JPEG Annex K.1), which libjpeg scales by quality. */
const IJG_LUMINANCE_SUM = 3688;

/**
 * The JPEG quality (1–100) a libjpeg-style encoder used, from its first luminance
 * quantization table: exact for libjpeg's tables from quality 30 to 95 (lower ones
 * saturate at 255 and read a little high). Undefined without a DQT segment.
 */
export function estimateJpegQuality(jpeg: Uint8Array): number | undefined {
  if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) return undefined;
  let offset = 2;
  while (offset + 4 <= jpeg.length && jpeg[offset] === 0xff) {
    const marker = jpeg[offset + 1] as number;
    if (marker === 0xff) {
      offset++; // fill byte
      continue;
    }
    const length = ((jpeg[offset + 2] as number) << 8) | (jpeg[offset + 3] as number);
    if (marker === 0xda || marker === 0xd9 || length < 2) return undefined;
    if (marker === 0xdb) {
      // Tables: a byte (precision << 4 | id), then 64 values of 1 or 2 bytes.
      for (let at = offset + 4; at < offset + 2 + length && at < jpeg.length; ) {
        const wide = (jpeg[at] as number) >> 4 === 1;
        const id = (jpeg[at] as number) & 0x0f;
        let sum = 0;
        for (let i = 0; i < 64; i++) sum += wide ? ((jpeg[at + 1 + 2 * i] ?? 0) << 8) | (jpeg[at + 2 + 2 * i] ?? 0) : (jpeg[at + 1 + i] ?? 0);
        if (id === 0) {
          const scale = (sum * 100) / IJG_LUMINANCE_SUM;
          return Math.min(100, Math.max(1, Math.round(scale <= 100 ? (200 - scale) / 2 : 5000 / scale)));
        }
        at += 1 + (wide ? 128 : 64);
      }
    }
    offset += 2 + length;
  }
  return undefined;
}
