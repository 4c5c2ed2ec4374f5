export type { Source, SourceContext } from './source.js';
export { SyntheticSource } from './synthetic.js';
export type { SyntheticOptions } from './synthetic.js';
export { renderSyntheticFrames } from './synthetic-frames.js';
export type { RenderOptions } from './synthetic-frames.js';
export { parseSource, DEFAULT_SOURCE } from './parse-source.js';
export { SourceSpecError } from './errors.js';
