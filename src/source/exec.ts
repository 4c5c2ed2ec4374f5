import { SourceSpecError } from './errors.js';
import { ProcessSource } from './process-source.js';

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
