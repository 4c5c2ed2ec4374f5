export type { Source, SourceContext } from './source.js';
export { SyntheticSource } from './synthetic.js';
export type { SyntheticOptions } from './synthetic.js';
export { parseSource, DEFAULT_SOURCE } from './parse-source.js';
export { SourceSpecError, SourceError } from './errors.js';
