import { SourceSpecError } from './errors.js';
import { v4l2Args } from './ffmpeg-args.js';
import { FfmpegSource, type SourceDefaults } from './ffmpeg-source.js';
import type { ProcessSource } from './process-source.js';
import { SourceQuery, splitQuery } from './source-url.js';

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

