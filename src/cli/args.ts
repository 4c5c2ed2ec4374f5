import { parseArgs } from 'node:util';
import { CamstreamError } from '../frame/index.js';
import { DEFAULT_SOURCE, parseSource, SOURCE_FORMS, SourceSpecError } from '../source/index.js';

/** A bad command line. The CLI prints the message and exits with status 2. */
export class UsageError extends CamstreamError {
  constructor(message: string) {
    super('CAMSTREAM_USAGE', message);
  }
}

export interface CliOptions {
  help: boolean;
  version: boolean;
  source: string;
  host: string;
  port: number;
  logLevel: string;
  queueCapacity: number;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export const USAGE = `Usage: camstream [options]

Serves a camera to many viewers as an MJPEG stream over HTTP.

Options:
  -s, --source <url>          where frames come from (default ${DEFAULT_SOURCE}):
${SOURCE_FORMS.map((form) => `                                ${form}`).join('\n')}
      --host <address>        address to listen on (default 127.0.0.1)
  -p, --port <number>         port to listen on, 0 for any free port (default 8080)
      --log-level <level>     ${LOG_LEVELS.join(', ')} (default info)
      --queue-capacity <n>    frames a viewer may have waiting, a power of two 1–64 (default 1)
  -h, --help                  show this help
  -v, --version               show the version

Endpoints:
  GET /stream      MJPEG stream (multipart/x-mixed-replace)
  GET /snapshot    the latest frame as a JPEG
  GET /healthz     liveness
  GET /api/stats   JSON statistics
`;

/** Parses and validates argv (without node and script); throws UsageError naming the flag. */
export function parseCli(argv: readonly string[]): CliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        source: { type: 'string', short: 's' },
        host: { type: 'string' },
        port: { type: 'string', short: 'p' },
        'log-level': { type: 'string' },
        'queue-capacity': { type: 'string' },
      },
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message.replace(/\. To specify a positional argument.*$/s, '')}; see camstream --help`);
  }

  const source = values.source ?? DEFAULT_SOURCE;
  try {
    parseSource(source);
  } catch (error) {
    if (error instanceof SourceSpecError) throw new UsageError(`--source: ${error.message}`);
    throw error;
  }

  const host = values.host ?? '127.0.0.1';
  if (host.trim() === '') throw new UsageError('--host: expected an address such as 127.0.0.1, 0.0.0.0 or ::1, got an empty value');

  const port = integerFlag('--port', values.port ?? '8080', 0, 65535, 'a port number 0–65535 (0 picks a free port)');
  const logLevel = values['log-level'] ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'`);
  const queueCapacity = integerFlag('--queue-capacity', values['queue-capacity'] ?? '1', 1, 64, 'a power of two 1–64');
  if ((queueCapacity & (queueCapacity - 1)) !== 0) throw new UsageError(`--queue-capacity: expected a power of two 1–64, got ${queueCapacity}`);

  return { help: values.help ?? false, version: values.version ?? false, source, host, port, logLevel, queueCapacity };
}

function integerFlag(flag: string, raw: string, min: number, max: number, accepted: string): number {
  if (!/^\d+$/.test(raw)) throw new UsageError(`${flag}: expected ${accepted}, got '${raw}'`);
  const value = Number(raw);
  if (value < min || value > max) throw new UsageError(`${flag}: expected ${accepted}, got ${value}`);
  return value;
}
