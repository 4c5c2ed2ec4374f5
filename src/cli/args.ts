import { parseArgs } from 'node:util';
import { DEFAULT_SEND_QUEUE_BYTES, MAX_WORKERS, type CameraConfig, type Limits } from '../camstream.js';
import { AuthConfigError, Authenticator, ClientAddress, isOrigin, type AuthOptions, type CorsOptions, type TrustProxy } from '../http/index.js';
import { CamstreamError } from '../frame/index.js';
import { DEFAULT_SOURCE, parseSource, SOURCE_FORMS, SourceSpecError } from '../source/index.js';
import { DEFAULT_ENCODE_BUDGET_MS } from '../stream/index.js';
import { ConfigError, encodeBudgetAccepted, loadConfigFile, LOG_LEVELS, maxEncodeBudgetMs, type FileConfig, type TlsFiles } from './config.js';

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
  /**
   * Every camera's encoding budget, CPU ms per second, unless the camera sets its
   * own; undefined: the library's default (DEFAULT_ENCODE_BUDGET_MS).
   */
  encodeBudgetMs: number | undefined;
  snapshotTimeoutSeconds: number;
  sendQueueBytes: number;
  workers: number;
  cameras: CameraConfig[];
  /** The config file read, if any. */
  configFile: string | undefined;
  auth: AuthOptions;
  tls: TlsFiles | undefined;
  cors: CorsOptions | undefined;
  limits: Limits;
  trustProxy: TrustProxy;
  /** --print-config: show these settings (secrets masked) and exit. */
  printConfig: boolean;
  /** --hash-password: read a password on stdin, print its hash, exit. */
  hashPassword: boolean;
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
      --encode-budget <ms>    CPU ms per second each camera may spend re-encoding for slow viewers, a whole
                              number 1–1000 × cores (default ${DEFAULT_ENCODE_BUDGET_MS}; over it they get fewer frames;
                              a camera's own encode-budget in the config file wins)
      --workers <n>           extra threads that serve viewers, 0–${MAX_WORKERS} (default 0: one event loop; on a
                              machine with N cores, N-1 lets hundreds of viewers use every core)
      --tls-cert <file.pem>   serve HTTPS with this certificate (and --tls-key)
      --tls-key <file.pem>    the certificate's private key
      --cors-origin <list>    comma-separated origins (https://example.com) whose pages may read answers, or *
      --max-viewers <n>       streaming connections at once, all clients (503 beyond)
      --max-viewers-per-client <n>  streaming connections at once from one address (503 beyond)
      --trust-proxy <list>    proxies whose X-Forwarded-For names the client: true, or addresses/CIDRs
                              (loopback, 10.0.0.0/8); default: none
      --print-config          show the settings in effect (secrets masked) and exit
      --hash-password         read a password on stdin, print its hash for auth.users, exit
  -h, --help                  show this help
  -v, --version               show the version

Each option can also come from the environment: CAMSTREAM_SOURCE, CAMSTREAM_CONFIG,
CAMSTREAM_HOST, CAMSTREAM_PORT, CAMSTREAM_LOG_LEVEL, CAMSTREAM_QUEUE_CAPACITY,
CAMSTREAM_SEND_QUEUE, CAMSTREAM_ENCODE_BUDGET, CAMSTREAM_WORKERS, CAMSTREAM_TLS_CERT,
CAMSTREAM_TLS_KEY, CAMSTREAM_CORS_ORIGIN, CAMSTREAM_MAX_VIEWERS,
CAMSTREAM_MAX_VIEWERS_PER_CLIENT, CAMSTREAM_TRUST_PROXY.
Flags override the environment, which overrides the config file. A --source
replaces the file's cameras with that one camera.

Authentication (README "Security") comes from the config file's auth section or
the environment, never from flags (they show in ps): CAMSTREAM_USERS='alice:<hash>,bob:<hash>'
(hashes from --hash-password) and CAMSTREAM_TOKENS='<token>,<token>' (16+ characters).

Endpoints:
  GET /                                the live dashboard
  GET /stream, /cam/<id>/stream        MJPEG stream (multipart/x-mixed-replace)
  GET /snapshot, /cam/<id>/snapshot    the latest frame as a JPEG
  GET /healthz                         liveness
  GET /api/stats                       JSON statistics
  GET /api/events                      the same, as Server-Sent Events once a second
  GET /metrics                         Prometheus metrics
  GET /ws                              WebSocket: any set of cameras over one connection
  GET /?action=stream|snapshot         mjpg-streamer's (action=stream_<n>: camera n)
  GET /state, /cam/<id>/state          µStreamer's state JSON
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
  'encode-budget': { type: 'string' },
  workers: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'cors-origin': { type: 'string' },
  'max-viewers': { type: 'string' },
  'max-viewers-per-client': { type: 'string' },
  'trust-proxy': { type: 'string' },
  'print-config': { type: 'boolean' },
  'hash-password': { type: 'boolean' },
} as const;

type StringFlag =
  | 'source'
  | 'config'
  | 'host'
  | 'port'
  | 'log-level'
  | 'queue-capacity'
  | 'send-queue'
  | 'encode-budget'
  | 'workers'
  | 'tls-cert'
  | 'tls-key'
  | 'cors-origin'
  | 'max-viewers'
  | 'max-viewers-per-client'
  | 'trust-proxy';

/**
 * Works out the settings from argv (without node and script), the environment and
 * the config file; throws UsageError or ConfigError naming the flag, variable or
 * file line that is wrong.
 */
export async function resolveSettings(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Settings> {
  let values: Partial<Record<StringFlag, string>> & { help?: boolean; version?: boolean; 'print-config'?: boolean; 'hash-password'?: boolean };
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
    encodeBudgetMs: file.encodeBudgetMs,
    snapshotTimeoutSeconds: file.snapshotTimeoutSeconds ?? 5,
    sendQueueBytes: file.sendQueueBytes ?? DEFAULT_SEND_QUEUE_BYTES,
    workers: file.workers ?? 0,
    cameras: file.cameras ?? [{ id: 'default', source: DEFAULT_SOURCE }],
    configFile: configPath?.[0],
    auth: { ...file.auth },
    tls: file.tls,
    cors: file.cors,
    limits: { ...file.limits },
    trustProxy: file.trustProxy ?? false,
    printConfig: values['print-config'] ?? false,
    hashPassword: values['hash-password'] ?? false,
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
  const encodeBudget = raw('encode-budget');
  if (encodeBudget !== undefined) settings.encodeBudgetMs = integer(encodeBudget, 1, maxEncodeBudgetMs(), encodeBudgetAccepted());
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
  const maxViewers = raw('max-viewers');
  if (maxViewers !== undefined) settings.limits.maxViewers = integer(maxViewers, 1, 1_000_000, 'a number of streaming connections, at least 1');
  const perClient = raw('max-viewers-per-client');
  if (perClient !== undefined) settings.limits.maxViewersPerClient = integer(perClient, 1, 1_000_000, 'a number of streaming connections, at least 1');
  const cors = raw('cors-origin');
  if (cors !== undefined) settings.cors = corsOrigins(cors);
  settings.tls = tlsFiles(raw('tls-cert'), raw('tls-key'), settings.tls);
  const trustProxy = raw('trust-proxy');
  if (trustProxy !== undefined) {
    settings.trustProxy = trustProxy[0] === 'true' ? true : trustProxy[0] === 'false' ? false : trustProxy[0];
    try {
      new ClientAddress(settings.trustProxy);
    } catch (error) {
      throw new UsageError(`${trustProxy[1]}: ${(error as Error).message}; expected true, or addresses and CIDR ranges such as loopback,10.0.0.0/8`);
    }
  }
  readAuthFromEnv(env, settings.auth);
  return settings;
}

function integer([value, name]: [string, string], min: number, max: number, accepted: string): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`${name}: expected ${accepted}, got '${value}'`);
  const number = Number(value);
  if (number < min || number > max) throw new UsageError(`${name}: expected ${accepted}, got ${number}`);
  return number;
}

export { ConfigError };

/**
 * The cameras as the library takes them: the top-level encode budget (file, environment
 * or flag) fills in every camera that sets none of its own, as queue-capacity does;
 * the library has no camstream-wide budget to pass it to.
 */
export function cameraConfigs(settings: Pick<Settings, 'cameras' | 'encodeBudgetMs'>): CameraConfig[] {
  const budget = settings.encodeBudgetMs;
  if (budget === undefined) return settings.cameras;
  return settings.cameras.map((camera) => (camera.encodeBudgetMs === undefined ? { ...camera, encodeBudgetMs: budget } : camera));
}

function corsOrigins([value, name]: [string, string]): CorsOptions {
  if (value.trim() === '*') return { origins: '*' };
  const origins = value.split(',').map((origin) => origin.trim()).filter((origin) => origin !== '');
  for (const origin of origins) {
    if (!isOrigin(origin)) throw new UsageError(`${name}: expected origins such as https://example.com (scheme and host, comma-separated) or *, got '${origin}'`);
  }
  if (origins.length === 0) throw new UsageError(`${name}: expected at least one origin, or *`);
  return { origins };
}

/** Both PEM files, from flags or environment over the config file's; one without the other is an error. */
function tlsFiles(cert: [string, string] | undefined, key: [string, string] | undefined, fromFile: TlsFiles | undefined): TlsFiles | undefined {
  if (cert === undefined && key === undefined) return fromFile;
  const certFile = cert?.[0] ?? fromFile?.certFile;
  const keyFile = key?.[0] ?? fromFile?.keyFile;
  if (certFile === undefined) throw new UsageError(`${key?.[1] ?? '--tls-key'} needs a certificate too: --tls-cert <file.pem>`);
  if (keyFile === undefined) throw new UsageError(`${cert?.[1] ?? '--tls-cert'} needs its private key too: --tls-key <file.pem>`);
  return { certFile, keyFile };
}

/** CAMSTREAM_USERS ('alice:<hash>,bob:<hash>') and CAMSTREAM_TOKENS ('<t1>,<t2>') replace the file's. */
function readAuthFromEnv(env: NodeJS.ProcessEnv, auth: AuthOptions): void {
  const users = env.CAMSTREAM_USERS;
  if (users !== undefined && users.trim() !== '') {
    const parsed: Record<string, string> = {};
    for (const entry of users.split(',')) {
      const colon = entry.indexOf(':');
      if (colon <= 0) throw new UsageError(`CAMSTREAM_USERS: expected 'name:<hash>' entries separated by commas (hashes from camstream --hash-password), got '${entry.slice(0, 20)}…'`);
      parsed[entry.slice(0, colon).trim()] = entry.slice(colon + 1).trim();
    }
    auth.users = parsed;
  }
  const tokens = env.CAMSTREAM_TOKENS;
  if (tokens !== undefined && tokens.trim() !== '') auth.tokens = tokens.split(',').map((token) => token.trim()).filter((token) => token !== '');
  try {
    new Authenticator(auth);
  } catch (error) {
    if (error instanceof AuthConfigError) throw new UsageError(`${users !== undefined ? 'CAMSTREAM_USERS' : 'CAMSTREAM_TOKENS'}: ${error.message}`);
    throw error;
  }
}
