import { SourceSpecError } from './errors.js';
import { execSource } from './exec.js';
import type { SourceDefaults } from './ffmpeg-source.js';
import { fileSource } from './file.js';
import { rtspSource } from './rtsp.js';
import { v4l2Source } from './v4l2.js';
import { HttpMjpegSource } from './http-mjpeg.js';
import { JpegDirSource } from './jpegdir.js';
import type { Source } from './source.js';
import { SourceQuery, splitQuery } from './source-url.js';
import { SyntheticSource } from './synthetic.js';

export const DEFAULT_SOURCE = 'synthetic:1280x720@30';

/** Every accepted form, for error messages and --help. */
export const SOURCE_FORMS = [
  'synthetic:WIDTHxHEIGHT@FPS (built-in test camera, e.g. synthetic:1920x1080@60)',
  'v4l2:///dev/video0?size=1280x720&fps=30&format=mjpeg',
  'rtsp://[user:password@]host/path (or rtsps://)',
  'http://[user:password@]host/path (an MJPEG stream; or https://)',
  'file:///path/video.mp4?loop=1, or a plain /path or ./path',
  'exec:<command printing MJPEG>, e.g. exec:rpicam-vid -t 0 --codec mjpeg -o -',
  'jpegdir:/path/to/folder?fps=10',
];

const SYNTHETIC_FORM = 'synthetic:WIDTHxHEIGHT@FPS (e.g. synthetic:1920x1080@60; width and height 16–7680, fps 0.1–240)';
const SYNTHETIC = /^synthetic:(\d+)x(\d+)@(\d+(?:\.\d+)?)$/;

/** Turns a source URL as the user wrote it into a Source, or explains what is accepted. */
export function parseSource(spec: string, defaults: SourceDefaults = {}): Source {
  const trimmed = spec.trim();
  if (trimmed.startsWith('synthetic:')) return syntheticSource(trimmed);
  if (trimmed.startsWith('v4l2://')) return v4l2Source(trimmed, defaults);
  if (/^rtsps?:\/\//.test(trimmed)) return rtspSource(trimmed, defaults);
  if (/^https?:\/\//i.test(trimmed)) return new HttpMjpegSource(trimmed);
  if (trimmed.startsWith('file:') || /^\.{0,2}\//.test(trimmed)) return fileSource(trimmed, defaults);
  if (trimmed.startsWith('exec:')) return execSource(trimmed);
  if (trimmed.startsWith('jpegdir:')) return jpegDirSource(trimmed);
  throw new SourceSpecError(spec, `unknown source '${spec}'; accepted:\n  ${SOURCE_FORMS.join('\n  ')}`);
}

function syntheticSource(spec: string): Source {
  const match = SYNTHETIC.exec(spec);
  if (match === null) throw new SourceSpecError(spec, `cannot read source '${spec}': expected ${SYNTHETIC_FORM}`);
  const width = Number(match[1]);
  const height = Number(match[2]);
  const fps = Number(match[3]);
  if (width < 16 || width > 7680 || height < 16 || height > 7680) {
    throw new SourceSpecError(spec, `source '${spec}': size ${width}x${height} is out of range; expected ${SYNTHETIC_FORM}`);
  }
  if (fps < 0.1 || fps > 240) {
    throw new SourceSpecError(spec, `source '${spec}': frame rate ${fps} is out of range; expected ${SYNTHETIC_FORM}`);
  }
  return new SyntheticSource({ width, height, fps });
}

function jpegDirSource(spec: string): Source {
  const [path, queryText] = splitQuery(spec.slice('jpegdir:'.length));
  if (path === '') throw new SourceSpecError(spec, `source '${spec}': expected a folder, e.g. jpegdir:/srv/frames?fps=10`);
  const fps = new SourceQuery(spec, queryText, ['fps']).number('fps', 0.1, 240) ?? 10;
  return new JpegDirSource(path, fps, spec);
}
