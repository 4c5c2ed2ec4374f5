import { SourceSpecError } from './errors.js';
import { rtspArgs } from './ffmpeg-args.js';
import { FfmpegSource, type SourceDefaults } from './ffmpeg-source.js';
import type { ProcessSource } from './process-source.js';
import { maskPassword } from './source-url.js';

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

