/**
 * Builds ffmpeg's command line for each ffmpeg-backed source. Pure functions, so
 * the arguments are tested without a camera (there is no /dev/video0 in CI).
 * Every command writes a stream of whole JPEGs to stdout (`-f mjpeg pipe:1`),
 * which the JPEG framer splits into pooled frames.
 */

export interface EncodeOptions {
  /** JPEG quality 1–100 (mapped to ffmpeg's -q:v 2–31, lower is better). */
  quality: number;
  /** Output size, when the source should be scaled. */
  size?: { width: number; height: number } | undefined;
  /** Output frame rate cap. */
  fps?: number | undefined;
}

const COMMON_INPUT = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error'];

/** ffmpeg's -q:v for a JPEG quality: 100 → 2 (best), 1 → 31 (worst). */
export function qscaleFor(quality: number): number {
  return Math.round(31 - ((Math.min(100, Math.max(1, quality)) - 1) / 99) * 29);
}

function encodeArgs(options: EncodeOptions): string[] {
  const filters: string[] = [];
  if (options.fps !== undefined) filters.push(`fps=${options.fps}`);
  if (options.size !== undefined) filters.push(`scale=${options.size.width}:${options.size.height}`);
  return [
    '-an',
    ...(filters.length > 0 ? ['-vf', filters.join(',')] : []),
    '-c:v', 'mjpeg',
    '-pix_fmt', 'yuvj420p',
    '-q:v', String(qscaleFor(options.quality)),
    '-f', 'mjpeg', 'pipe:1',
  ];
}

export interface V4l2Options {
  device: string;
  size?: { width: number; height: number } | undefined;
  fps?: number | undefined;
  /** What to ask the camera for: `mjpeg` is copied without re-encoding; others are encoded. */
  format: string;
  quality: number;
}

export function v4l2Args(options: V4l2Options): string[] {
  const input = [...COMMON_INPUT, '-f', 'v4l2'];
  if (options.format === 'mjpeg') input.push('-input_format', 'mjpeg');
  else input.push('-input_format', options.format);
  if (options.size !== undefined) input.push('-video_size', `${options.size.width}x${options.size.height}`);
  if (options.fps !== undefined) input.push('-framerate', String(options.fps));
  input.push('-i', options.device);
  if (options.format === 'mjpeg') {
    // The camera's own JPEGs, untouched. Many webcams leave out the Huffman
    // tables (MJPEG/AVI1 style), which browsers cannot decode; mjpeg2jpeg puts
    // the standard tables back in.
    return [...input, '-an', '-c:v', 'copy', '-bsf:v', 'mjpeg2jpeg', '-f', 'mjpeg', 'pipe:1'];
  }
  return [...input, ...encodeArgs({ quality: options.quality })];
}

export interface RtspOptions {
  url: string;
  transport: 'tcp' | 'udp';
  /** Give up on a silent connection after this long (ffmpeg's -timeout, in µs). */
  timeoutMs: number;
  encode: EncodeOptions;
}

export function rtspArgs(options: RtspOptions): string[] {
  return [
    ...COMMON_INPUT,
    '-rtsp_transport', options.transport,
    '-timeout', String(options.timeoutMs * 1000),
    '-i', options.url,
    ...encodeArgs(options.encode),
  ];
}

export interface FileOptions {
  path: string;
  loop: boolean;
  encode: EncodeOptions;
}

export function fileArgs(options: FileOptions): string[] {
  return [
    ...COMMON_INPUT,
    // -re: read at the file's own frame rate, as a camera would deliver it.
    '-re',
    ...(options.loop ? ['-stream_loop', '-1'] : []),
    '-i', options.path,
    ...encodeArgs(options.encode),
  ];
}
