import { parseArgs } from 'node:util';
import { DEFAULT_SEND_QUEUE_BYTES, MAX_WORKERS, type CameraConfig } from '../camstream.js';
import { CamstreamError } from '../frame/index.js';
import { DEFAULT_SOURCE, parseSource, SOURCE_FORMS, SourceSpecError } from '../source/index.js';
import { ConfigError, loadConfigFile, LOG_LEVELS, type FileConfig } from './config.js';

/** A bad command line or environment variable. The CLI prints the message and exits with status 2. */
export class UsageError extends CamstreamError {
  constructor(message: string) {
    super('CAMSTREAM_USAGE', message);
  }
}

/** Everything the CLI needs to run, after flags > environment > config file > defaults. */
export interface Settings {
  help: boolean;
  version: boolean;
  host: string;
  port: number;
  logLevel: string;
  queueCapacity: number;
  snapshotTimeoutSeconds: number;
  sendQueueBytes: number;
  workers: number;
  cameras: CameraConfig[];
  /** The config file read, if any. */
  configFile: string | undefined;
}

export const USAGE = `Usage: camstream [options]

Serves cameras to many viewers as MJPEG streams over HTTP.

Options:
  -s, --source <url>          one camera, id 'default' (default ${DEFAULT_SOURCE}):
${SOURCE_FORMS.map((form) => `                                ${form}`).join('\n')}
  -c, --config <file.yaml>    cameras and settings from a YAML file (see README)
      --host <address>        address to listen on (default 127.0.0.1)
  -p, --port <number>         port to listen on, 0 for any free port (default 8080)
      --log-level <level>     ${LOG_LEVELS.join(', ')} (default info)
      --queue-capacity <n>    frames a viewer may have waiting, a power of two 1–64 (default 1)
      --send-queue <bytes>    unsent bytes the kernel may hold per viewer (default 65536; 0: kernel default)
      --workers <n>           extra threads that serve viewers, 0–${MAX_WORKERS} (default 0: one event loop; on a
                              machine with N cores, N-1 lets hundreds of viewers use every core)
  -h, --help                  show this help
  -v, --version               show the version

Each option can also come from the environment: CAMSTREAM_SOURCE, CAMSTREAM_CONFIG,
CAMSTREAM_HOST, CAMSTREAM_PORT, CAMSTREAM_LOG_LEVEL, CAMSTREAM_QUEUE_CAPACITY,
CAMSTREAM_SEND_QUEUE, CAMSTREAM_WORKERS.
Flags override the environment, which overrides the config file. A --source
replaces the file's cameras with that one camera.

Endpoints:
  GET /                                the live dashboard
  GET /stream, /cam/<id>/stream        MJPEG stream (multipart/x-mixed-replace)
  GET /snapshot, /cam/<id>/snapshot    the latest frame as a JPEG
  GET /healthz                         liveness
  GET /api/stats                       JSON statistics
  GET /api/events                      the same, as Server-Sent Events once a second
  GET /metrics                         Prometheus metrics
  GET /ws                              WebSocket: any set of cameras over one connection
`;

const FLAGS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  source: { type: 'string', short: 's' },
  config: { type: 'string', short: 'c' },
  host: { type: 'string' },
  port: { type: 'string', short: 'p' },
  'log-level': { type: 'string' },
  'queue-capacity': { type: 'string' },
  'send-queue': { type: 'string' },
  workers: { type: 'string' },
} as const;

type StringFlag = 'source' | 'config' | 'host' | 'port' | 'log-level' | 'queue-capacity' | 'send-queue' | 'workers';

/**
 * Works out the settings from argv (without node and script), the environment and
 * the config file; throws UsageError or ConfigError naming the flag, variable or
 * file line that is wrong.
 */
export async function resolveSettings(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Settings> {
  let values: Partial<Record<StringFlag, string>> & { help?: boolean; version?: boolean };
  try {
    ({ values } = parseArgs({ args: [...argv], strict: true, allowPositionals: false, options: FLAGS }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message.replace(/\. To specify a positional argument.*$/s, '')}; see camstream --help`);
  }

  /** A setting's raw value and the name to blame when it is bad. */
  const raw = (flag: StringFlag): [string, string] | undefined => {
    const fromFlag = values[flag];
    if (fromFlag !== undefined) return [fromFlag, `--${flag}`];
    const name = `CAMSTREAM_${flag.toUpperCase().replace(/-/g, '_')}`;
    const fromEnv = env[name];
    return fromEnv === undefined || fromEnv === '' ? undefined : [fromEnv, name];
  };

  const configPath = raw('config');
  const file: FileConfig = configPath === undefined ? {} : await loadConfigFile(configPath[0]);

  const settings: Settings = {
    help: values.help ?? false,
    version: values.version ?? false,
    host: file.host ?? '127.0.0.1',
    port: file.port ?? 8080,
    logLevel: file.logLevel ?? 'info',
    queueCapacity: file.queueCapacity ?? 1,
    snapshotTimeoutSeconds: file.snapshotTimeoutSeconds ?? 5,
    sendQueueBytes: file.sendQueueBytes ?? DEFAULT_SEND_QUEUE_BYTES,
    workers: file.workers ?? 0,
    cameras: file.cameras ?? [{ id: 'default', source: DEFAULT_SOURCE }],
    configFile: configPath?.[0],
  };

  const host = raw('host');
  if (host !== undefined) {
    if (host[0].trim() === '') throw new UsageError(`${host[1]}: expected an address such as 127.0.0.1, 0.0.0.0 or ::1, got an empty value`);
    settings.host = host[0];
  }
  const port = raw('port');
  if (port !== undefined) settings.port = integer(port, 0, 65535, 'a port number 0–65535 (0 picks a free port)');
  const logLevel = raw('log-level');
  if (logLevel !== undefined) {
    if (!LOG_LEVELS.includes(logLevel[0])) throw new UsageError(`${logLevel[1]}: expected one of ${LOG_LEVELS.join(', ')}, got '${logLevel[0]}'`);
    settings.logLevel = logLevel[0];
  }
  const queueCapacity = raw('queue-capacity');
  if (queueCapacity !== undefined) {
    const capacity = integer(queueCapacity, 1, 64, 'a power of two 1–64');
    if ((capacity & (capacity - 1)) !== 0) throw new UsageError(`${queueCapacity[1]}: expected a power of two 1–64, got ${capacity}`);
    settings.queueCapacity = capacity;
  }
  const sendQueue = raw('send-queue');
  if (sendQueue !== undefined) settings.sendQueueBytes = integer(sendQueue, 0, 16 * 1024 * 1024, 'bytes 0–16777216 (0: the kernel default)');
  const workers = raw('workers');
  if (workers !== undefined) settings.workers = integer(workers, 0, MAX_WORKERS, `a number of threads 0–${MAX_WORKERS}`);
  const source = raw('source');
  if (source !== undefined) {
    try {
      parseSource(source[0]);
    } catch (error) {
      if (error instanceof SourceSpecError) throw new UsageError(`${source[1]}: ${error.message}`);
      throw error;
    }
    settings.cameras = [{ id: 'default', source: source[0] }];
  }
  return settings;
}

function integer([value, name]: [string, string], min: number, max: number, accepted: string): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`${name}: expected ${accepted}, got '${value}'`);
  const number = Number(value);
  if (number < min || number > max) throw new UsageError(`${name}: expected ${accepted}, got ${number}`);
  return number;
}

export { ConfigError };
