import { access, constants } from 'node:fs/promises';
import { SourceError, SourceSpecError } from './errors.js';
import { fileArgs, rtspArgs, v4l2Args } from './ffmpeg-args.js';
import { ProcessSource } from './process-source.js';
import type { SourceContext } from './source.js';
import { maskPassword, SourceQuery, splitQuery } from './source-url.js';

/** Options a camera's config may set for sources that encode JPEGs. */
export interface SourceDefaults {
  /** JPEG quality 1–100 for re-encoded video. Default 85. */
  quality?: number;
  /** RTSP over TCP (default: survives packet loss and NAT) or UDP. */
  rtspTransport?: 'tcp' | 'udp';
  /** Path to the ffmpeg program. Default `ffmpeg` on PATH. */
  ffmpegPath?: string;
}

const FFMPEG_MISSING = 'ffmpeg is not installed: install it (Debian/Ubuntu: apt-get install ffmpeg) or put it on PATH';

/**
 * A ProcessSource running ffmpeg that first checks its input path exists, so a
 * missing file or device is reported as such, not as ffmpeg's exit code.
 */
class FfmpegSource extends ProcessSource {
  private readonly inputPath: string | undefined;

  constructor(url: string, args: string[], defaults: SourceDefaults, nominalFps?: number, inputPath?: string) {
    super({ url, command: defaults.ffmpegPath ?? 'ffmpeg', args, nominalFps, missingCommandHint: FFMPEG_MISSING });
    this.inputPath = inputPath;
  }

  override async start(context: SourceContext): Promise<void> {
    if (this.inputPath !== undefined) {
      try {
        await access(this.inputPath, constants.R_OK);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new SourceError(
          code === 'ENOENT' ? `No such file or directory: ${this.inputPath}` :
          code === 'EACCES' ? `Permission denied: the server may not read ${this.inputPath} (for a webcam, add the user to the video group)` :
          `cannot open ${this.inputPath}: ${(error as Error).message}`,
          { cause: error },
        );
      }
    }
    return super.start(context);
  }
}

/** `v4l2:///dev/video0?size=1280x720&fps=30&format=mjpeg&quality=85` */
export function v4l2Source(spec: string, defaults: SourceDefaults): ProcessSource {
  const [path, queryText] = splitQuery(spec.slice('v4l2://'.length));
  if (!path.startsWith('/dev/')) {
    throw new SourceSpecError(spec, `source '${spec}': expected a device such as v4l2:///dev/video0?size=1280x720&fps=30&format=mjpeg`);
  }
  const query = new SourceQuery(spec, queryText, ['size', 'fps', 'format', 'quality']);
  const fps = query.number('fps', 0.1, 240);
  const args = v4l2Args({
    device: path,
    size: query.size('size'),
    fps,
    format: query.oneOf('format', ['mjpeg', 'yuyv422', 'nv12', 'h264'] as const) ?? 'mjpeg',
    quality: query.number('quality', 1, 100) ?? defaults.quality ?? 85,
  });
  return new FfmpegSource(spec, args, defaults, fps, path);
}

/** `rtsp://user:pass@host/path` or `rtsps://…`, passed to ffmpeg as written. */
export function rtspSource(spec: string, defaults: SourceDefaults): ProcessSource {
  try {
    new URL(spec);
  } catch {
    throw new SourceSpecError(maskPassword(spec), `source '${maskPassword(spec)}' is not a valid URL; expected rtsp://[user:password@]host[:port]/path`);
  }
  const args = rtspArgs({ url: spec, transport: defaults.rtspTransport ?? 'tcp', timeoutMs: 10_000, encode: { quality: defaults.quality ?? 85 } });
  return new FfmpegSource(maskPassword(spec), args, defaults);
}

/** `file:///path/video.mp4?loop=1`, or a plain path (`/…`, `./…`, `../…`): any file ffmpeg reads, at its own rate. */
export function fileSource(spec: string, defaults: SourceDefaults): ProcessSource {
  let path: string;
  let queryText: string;
  if (spec.startsWith('file:')) {
    const [rest, query] = splitQuery(spec.slice('file:'.length));
    path = decodeURIComponent(rest.replace(/^\/\//, ''));
    queryText = query;
  } else {
    [path, queryText] = [spec, ''];
  }
  if (path === '') throw new SourceSpecError(spec, `source '${spec}': expected a path, e.g. file:///home/me/video.mp4?loop=1`);
  const query = new SourceQuery(spec, queryText, ['loop', 'quality']);
  const args = fileArgs({ path, loop: query.flag('loop') ?? true, encode: { quality: query.number('quality', 1, 100) ?? defaults.quality ?? 85 } });
  return new FfmpegSource(spec, args, defaults, undefined, path);
}

/** `exec:<command line>`: any command printing MJPEG on stdout, run by /bin/sh. */
export function execSource(spec: string): ProcessSource {
  const command = spec.slice('exec:'.length).trim();
  if (command === '') throw new SourceSpecError(spec, "source 'exec:' needs a command, e.g. exec:rpicam-vid -t 0 --codec mjpeg -o -");
  return new ProcessSource({
    url: spec,
    command: '/bin/sh',
    args: ['-c', command],
    missingCommandHint: 'cannot run /bin/sh for the exec: command',
  });
}
