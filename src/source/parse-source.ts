import { SourceSpecError } from './errors.js';
import type { Source } from './source.js';
import { SyntheticSource } from './synthetic.js';

export const DEFAULT_SOURCE = 'synthetic:1280x720@30';

const SYNTHETIC_FORM = 'synthetic:WIDTHxHEIGHT@FPS (e.g. synthetic:1920x1080@60; width and height 16–7680, fps 0.1–240)';
const SYNTHETIC = /^synthetic:(\d+)x(\d+)@(\d+(?:\.\d+)?)$/;

/** Turns a source URL as the user wrote it into a Source, or explains what is accepted. */
export function parseSource(spec: string): Source {
  if (spec.startsWith('synthetic:')) {
    const match = SYNTHETIC.exec(spec);
    if (match === null) {
      throw new SourceSpecError(spec, `cannot read source '${spec}': expected ${SYNTHETIC_FORM}`);
    }
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
  throw new SourceSpecError(spec, `unknown source '${spec}'; accepted: ${SYNTHETIC_FORM}`);
}
