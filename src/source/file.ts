import { SourceSpecError } from './errors.js';
import { fileArgs } from './ffmpeg-args.js';
import { FfmpegSource, type SourceDefaults } from './ffmpeg-source.js';
import type { ProcessSource } from './process-source.js';
import { SourceQuery, splitQuery } from './source-url.js';

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

