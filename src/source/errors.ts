import { CamstreamError } from '../frame/index.js';

/** A `--source` value that cannot be understood; the message says what is accepted. */
export class SourceSpecError extends CamstreamError {
  readonly spec: string;
  constructor(spec: string, message: string) {
    super('CAMSTREAM_SOURCE_SPEC', message);
    this.spec = spec;
  }
}
