import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Document, LineCounter } from 'yaml';
import { CAMERA_ID, MAX_WORKERS, type CameraConfig, type Limits } from '../camstream.js';
import { AuthConfigError, Authenticator, ClientAddress, isOrigin, type AuthOptions, type CorsOptions, type TrustProxy } from '../http/index.js';
import { CamstreamError } from '../frame/index.js';
import { parseSource, SourceSpecError } from '../source/index.js';
import { DEFAULT_PROFILES, SOURCE_PROFILE } from '../stream/index.js';

/** A config file that cannot be used; the message names the file, line, key and what is accepted. */
export class ConfigError extends CamstreamError {
  constructor(message: string) {
    super('CAMSTREAM_CONFIG', message);
  }
}

/** What a config file may set; every field optional (flags and env override them). */
export interface FileConfig {
  host?: string;
  port?: number;
  logLevel?: string;
  snapshotTimeoutSeconds?: number;
  queueCapacity?: number;
  /** Every camera's encoding budget (CPU ms per second) unless the camera sets its own. */
  encodeBudgetMs?: number;
  sendQueueBytes?: number;
  workers?: number;
  cameras?: CameraConfig[];
  auth?: AuthOptions;
  /** PEM files for HTTPS. */
  tls?: TlsFiles;
  cors?: CorsOptions;
  limits?: Limits;
  trustProxy?: TrustProxy;
}

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

type Path = (string | number)[];

const TOP_KEYS = ['host', 'port', 'log-level', 'snapshot-timeout', 'queue-capacity', 'encode-budget', 'send-queue', 'workers', 'cameras', 'auth', 'tls', 'cors', 'limits', 'trust-proxy'];
const AUTH_KEYS = ['users', 'tokens', 'public'];
const TLS_KEYS = ['cert', 'key'];
const CORS_KEYS = ['origins'];
const LIMIT_KEYS = ['max-viewers', 'max-viewers-per-client', 'max-header-bytes', 'request-timeout'];
const CAMERA_KEYS = [
  'id', 'source', 'always-on', 'idle-timeout', 'stall-timeout', 'no-signal-after', 'quality', 'rtsp-transport', 'queue-capacity',
  'encode-budget', 'viewer-stall-timeout', 'drop-same-frames', 'adaptive', 'profiles', 'ladder',
];
const ADAPTIVE_KEYS = ['lag-high', 'lag-low', 'recover-after', 'step-down-cooldown'];
const PROFILE_KEYS = ['scale', 'quality'];
const LEVEL_KEYS = ['fps', 'profile'];
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/**
 * The largest encoding budget that means anything here: every core busy encoding the
 * whole second. More cannot be spent, so a bigger number is a typo (seconds for ms?).
 */
export function maxEncodeBudgetMs(): number {
  return 1000 * availableParallelism();
}

/** What `encode-budget` / `--encode-budget` accepts, for error messages. */
export function encodeBudgetAccepted(): string {
  const cores = availableParallelism();
  return `CPU milliseconds per second, a whole number from 1 to ${maxEncodeBudgetMs()} (1000 × the ${cores} core${cores === 1 ? '' : 's'} here)`;
}

/**
 * Reads and validates a YAML config file such as
 *
 *   cameras:
 *     - id: door
 *       source: rtsp://user:pass@192.0.2.10/stream1
 *
 * Every error says where: `cams.yaml:4:13: cameras[1].source: …`.
 */
export async function loadConfigFile(file: string): Promise<FileConfig> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(`cannot read config file ${file}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  // Loaded only when a config file is used: the YAML parser is ~9 MB of RSS.
  const yaml = await import('yaml');
  const lines = new yaml.LineCounter();
  const doc = yaml.parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const { line, col } = lines.linePos(syntax.pos[0]);
    throw new ConfigError(`${file}:${line}:${col}: not valid YAML: ${syntax.message.split('\n')[0]}`);
  }
  return new ConfigReader(file, doc, lines, yaml.isMap, yaml.isSeq).read();
}

class ConfigReader {
  constructor(
    private readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly isMap: (node: unknown) => boolean,
    private readonly isSeq: (node: unknown) => boolean,
  ) {}

  read(): FileConfig {
    const root: unknown = this.doc.toJS();
    if (root === null || root === undefined) return {};
    if (!isPlainObject(root)) this.fail([], 'expected a mapping with keys such as host, port and cameras');
    this.checkKeys(root, [], TOP_KEYS);
    const config: FileConfig = {};
    if ('host' in root) config.host = this.string(root.host, ['host']);
    if ('port' in root) config.port = this.integer(root.port, ['port'], 0, 65535);
    if ('log-level' in root) config.logLevel = this.choice(root['log-level'], ['log-level'], LOG_LEVELS);
    if ('snapshot-timeout' in root) config.snapshotTimeoutSeconds = this.seconds(root['snapshot-timeout'], ['snapshot-timeout']);
    if ('queue-capacity' in root) config.queueCapacity = this.queueCapacity(root['queue-capacity'], ['queue-capacity']);
    if ('encode-budget' in root) config.encodeBudgetMs = this.encodeBudget(root['encode-budget'], ['encode-budget']);
    if ('send-queue' in root) config.sendQueueBytes = this.integer(root['send-queue'], ['send-queue'], 0, 16 * 1024 * 1024);
    if ('workers' in root) config.workers = this.integer(root.workers, ['workers'], 0, MAX_WORKERS);
    if ('cameras' in root) config.cameras = this.cameras(root.cameras);
    if ('auth' in root) config.auth = this.auth(root.auth);
    if ('tls' in root) config.tls = this.tls(root.tls);
    if ('cors' in root) config.cors = this.cors(root.cors);
    if ('limits' in root) config.limits = this.limits(root.limits);
    if ('trust-proxy' in root) config.trustProxy = this.trustProxy(root['trust-proxy']);
    return config;
  }

  /** `trust-proxy: true`, or the proxies' addresses: `[loopback, 10.0.0.0/8]`. */
  private trustProxy(value: unknown): TrustProxy {
    const at: Path = ['trust-proxy'];
    const trust = typeof value === 'boolean' ? value : typeof value === 'string' ? value : this.strings(value, at);
    try {
      new ClientAddress(trust);
    } catch (error) {
      this.fail(at, `${(error as Error).message}; expected true, or addresses and CIDR ranges of your proxies such as [loopback, 10.0.0.0/8]`);
    }
    return trust;
  }

  /** `auth: { users: { alice: scrypt$… }, tokens: [ … ], public: [/healthz] }`. */
  private auth(value: unknown): AuthOptions {
    const at: Path = ['auth'];
    if (!isPlainObject(value)) this.fail(at, `expected a mapping with ${AUTH_KEYS.join(', ')}`);
    this.checkKeys(value, at, AUTH_KEYS);
    const auth: AuthOptions = {};
    if ('users' in value) {
      if (!isPlainObject(value.users)) this.fail([...at, 'users'], 'expected a mapping of user names to password hashes (camstream --hash-password)');
      const users: Record<string, string> = {};
      for (const [user, hash] of Object.entries(value.users)) users[user] = this.string(hash, [...at, 'users', user]);
      auth.users = users;
    }
    if ('tokens' in value) auth.tokens = this.strings(value.tokens, [...at, 'tokens']);
    if ('public' in value) {
      auth.publicPaths = this.strings(value.public, [...at, 'public'], true);
      auth.publicPaths.forEach((path, index) => path.startsWith('/') || this.fail([...at, 'public', index], `expected a path such as /healthz, got '${path}'`));
    }
    try {
      new Authenticator(auth);
    } catch (error) {
      if (error instanceof AuthConfigError) this.fail(at, error.message);
      throw error;
    }
    return auth;
  }

  private tls(value: unknown): TlsFiles {
    if (!isPlainObject(value)) this.fail(['tls'], 'expected { cert: /path/cert.pem, key: /path/key.pem }');
    this.checkKeys(value, ['tls'], TLS_KEYS);
    if (!('cert' in value) || !('key' in value)) this.fail(['tls'], 'needs both cert and key (PEM files)');
    return { certFile: this.string(value.cert, ['tls', 'cert']), keyFile: this.string(value.key, ['tls', 'key']) };
  }

  private cors(value: unknown): CorsOptions {
    if (!isPlainObject(value)) this.fail(['cors'], "expected { origins: ['https://example.com'] } or { origins: '*' }");
    this.checkKeys(value, ['cors'], CORS_KEYS);
    if (value.origins === '*') return { origins: '*' };
    const origins = this.strings(value.origins, ['cors', 'origins']);
    origins.forEach((origin, index) => isOrigin(origin) || this.fail(['cors', 'origins', index], `expected an origin such as https://example.com (scheme and host, no path), got '${origin}'`));
    return { origins };
  }

  private limits(value: unknown): Limits {
    const at: Path = ['limits'];
    if (!isPlainObject(value)) this.fail(at, `expected a mapping with ${LIMIT_KEYS.join(', ')}`);
    this.checkKeys(value, at, LIMIT_KEYS);
    const limits: Limits = {};
    if ('max-viewers' in value) limits.maxViewers = this.integer(value['max-viewers'], [...at, 'max-viewers'], 1, 1_000_000);
    if ('max-viewers-per-client' in value) limits.maxViewersPerClient = this.integer(value['max-viewers-per-client'], [...at, 'max-viewers-per-client'], 1, 1_000_000);
    if ('max-header-bytes' in value) limits.maxHeaderBytes = this.integer(value['max-header-bytes'], [...at, 'max-header-bytes'], 1024, 65_536);
    if ('request-timeout' in value) limits.requestTimeoutSeconds = this.seconds(value['request-timeout'], [...at, 'request-timeout']);
    return limits;
  }

  private strings(value: unknown, at: Path, allowEmpty = false): string[] {
    if (!Array.isArray(value) || (!allowEmpty && value.length === 0)) this.fail(at, 'expected a list of text values');
    return value.map((entry: unknown, index) => this.string(entry, [...at, index]));
  }

  private cameras(value: unknown): CameraConfig[] {
    if (!Array.isArray(value) || value.length === 0) this.fail(['cameras'], 'expected a list of cameras, each with an id and a source');
    const ids = new Set<string>();
    return value.map((entry: unknown, index) => {
      const at: Path = ['cameras', index];
      if (!isPlainObject(entry)) this.fail(at, 'expected a camera: a mapping with id and source');
      this.checkKeys(entry, at, CAMERA_KEYS);
      if (!('id' in entry)) this.fail(at, 'missing id (letters, digits, - and _, used in /cam/<id>/stream)');
      if (!('source' in entry)) this.fail(at, `missing source, e.g. source: rtsp://camera.local/stream1`);
      const id = this.string(entry.id, [...at, 'id']);
      if (!CAMERA_ID.test(id)) this.fail([...at, 'id'], `'${id}' is not usable in a URL; use letters, digits, '-' and '_' (up to 64)`);
      if (ids.has(id)) this.fail([...at, 'id'], `a camera with id '${id}' is already defined; ids must be unique`);
      ids.add(id);
      const camera: CameraConfig = { id, source: this.string(entry.source, [...at, 'source']) };
      if ('always-on' in entry) camera.alwaysOn = this.boolean(entry['always-on'], [...at, 'always-on']);
      if ('idle-timeout' in entry) camera.idleTimeoutSeconds = this.seconds(entry['idle-timeout'], [...at, 'idle-timeout']);
      if ('stall-timeout' in entry) camera.stallTimeoutSeconds = this.seconds(entry['stall-timeout'], [...at, 'stall-timeout']);
      if ('no-signal-after' in entry) camera.noSignalAfterSeconds = this.seconds(entry['no-signal-after'], [...at, 'no-signal-after']);
      if ('quality' in entry) camera.quality = this.integer(entry.quality, [...at, 'quality'], 1, 100);
      if ('rtsp-transport' in entry) camera.rtspTransport = this.choice(entry['rtsp-transport'], [...at, 'rtsp-transport'], ['tcp', 'udp'] as const);
      if ('queue-capacity' in entry) camera.queueCapacity = this.queueCapacity(entry['queue-capacity'], [...at, 'queue-capacity']);
      if ('encode-budget' in entry) camera.encodeBudgetMs = this.encodeBudget(entry['encode-budget'], [...at, 'encode-budget']);
      if ('viewer-stall-timeout' in entry) camera.viewerStallTimeoutSeconds = this.seconds(entry['viewer-stall-timeout'], [...at, 'viewer-stall-timeout']);
      if ('drop-same-frames' in entry) camera.dropSameFrames = this.boolean(entry['drop-same-frames'], [...at, 'drop-same-frames']);
      if ('adaptive' in entry) camera.adaptive = this.adaptive(entry.adaptive, [...at, 'adaptive']);
      if ('profiles' in entry) camera.profiles = this.profiles(entry.profiles, [...at, 'profiles']);
      if ('ladder' in entry) camera.ladder = this.ladder(entry.ladder, [...at, 'ladder'], Object.keys(camera.profiles ?? {}));
      try {
        parseSource(camera.source as string, { quality: camera.quality, rtspTransport: camera.rtspTransport });
      } catch (error) {
        if (error instanceof SourceSpecError) this.fail([...at, 'source'], error.message);
        throw error;
      }
      return camera;
    });
  }

  /** `adaptive: false`, or thresholds in seconds. */
  private adaptive(value: unknown, at: Path): CameraConfig['adaptive'] {
    if (value === false) return false;
    if (value === true) return {};
    if (!isPlainObject(value)) this.fail(at, `expected false, or a mapping with ${ADAPTIVE_KEYS.join(', ')} (seconds)`);
    this.checkKeys(value, at, ADAPTIVE_KEYS);
    // Lag thresholds are tens of ms (lag-low defaults to 0.08 s), below the 0.1 s other durations start at.
    const ms = (key: string): number | undefined => (key in value ? this.seconds(value[key], [...at, key], 0.01) * 1000 : undefined);
    const options: Exclude<CameraConfig['adaptive'], false | undefined> = {};
    const lagHighMs = ms('lag-high');
    const lagLowMs = ms('lag-low');
    const recoverAfterMs = ms('recover-after');
    const stepDownCooldownMs = ms('step-down-cooldown');
    if (lagHighMs !== undefined) options.lagHighMs = lagHighMs;
    if (lagLowMs !== undefined) options.lagLowMs = lagLowMs;
    if (recoverAfterMs !== undefined) options.recoverAfterMs = recoverAfterMs;
    if (stepDownCooldownMs !== undefined) options.stepDownCooldownMs = stepDownCooldownMs;
    if ((options.lagLowMs ?? 80) >= (options.lagHighMs ?? 250)) this.fail(at, 'lag-low must be below lag-high');
    return options;
  }

  private profiles(value: unknown, at: Path): Record<string, { scale: number; quality: number }> {
    if (!isPlainObject(value)) this.fail(at, 'expected a mapping of profile names to { scale, quality }');
    const profiles: Record<string, { scale: number; quality: number }> = {};
    for (const [name, profile] of Object.entries(value)) {
      if (name === 'source') this.fail([...at, name], "'source' is the camera's own frames and cannot be redefined");
      if (!isPlainObject(profile)) this.fail([...at, name], 'expected { scale: 0.5, quality: 60 }');
      this.checkKeys(profile, [...at, name], PROFILE_KEYS);
      const scale = 'scale' in profile ? profile.scale : 1;
      if (typeof scale !== 'number' || !(scale > 0 && scale <= 1)) this.fail([...at, name, 'scale'], `expected a share of the source width, above 0 and at most 1, got ${describe(scale)}`);
      profiles[name] = { scale, quality: 'quality' in profile ? this.integer(profile.quality, [...at, name, 'quality'], 1, 100) : 60 };
    }
    return profiles;
  }

  private ladder(value: unknown, at: Path, extraProfiles: string[]): { maxFps: number | undefined; profile: string }[] {
    // An empty ladder leaves a viewer no rung to stand on, not even the source's own frames.
    if (!Array.isArray(value) || value.length === 0) this.fail(at, 'expected a list of at least one level, best first, each { fps, profile } such as { profile: source }');
    const known = [SOURCE_PROFILE, ...Object.keys(DEFAULT_PROFILES), ...extraProfiles];
    return value.map((level: unknown, index) => {
      const here: Path = [...at, index];
      if (!isPlainObject(level)) this.fail(here, 'expected { fps: 15, profile: half-q60 }');
      this.checkKeys(level, here, LEVEL_KEYS);
      const profile = 'profile' in level ? this.choice(level.profile, [...here, 'profile'], known) : 'source';
      const maxFps = 'fps' in level ? this.fps(level.fps, [...here, 'fps']) : undefined;
      return { maxFps, profile };
    });
  }

  /** A rung's frame-rate cap; 0 would starve the rung's viewers, and leaving fps out means the camera's own rate. */
  private fps(value: unknown, at: Path): number {
    if (typeof value !== 'number' || !(value >= 0.1 && value <= 240)) this.fail(at, `expected frames per second from 0.1 to 240 (leave fps out for the camera's own rate), got ${describe(value)}`);
    return value;
  }

  private checkKeys(object: Record<string, unknown>, at: Path, allowed: string[]): void {
    for (const key of Object.keys(object)) {
      if (!allowed.includes(key)) this.fail([...at, key], `unknown key '${key}'; accepted: ${allowed.join(', ')}`, true);
    }
  }

  private string(value: unknown, at: Path): string {
    if (typeof value !== 'string' || value.trim() === '') this.fail(at, `expected text, got ${describe(value)}`);
    return value;
  }

  private boolean(value: unknown, at: Path): boolean {
    if (typeof value !== 'boolean') this.fail(at, `expected true or false, got ${describe(value)}`);
    return value;
  }

  private integer(value: unknown, at: Path, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) this.fail(at, `expected a whole number from ${min} to ${max}, got ${describe(value)}`);
    return value;
  }

  private seconds(value: unknown, at: Path, min = 0.1): number {
    if (typeof value !== 'number' || !(value >= min && value <= 86_400)) this.fail(at, `expected seconds from ${min} to 86400, got ${describe(value)}`);
    return value;
  }

  private queueCapacity(value: unknown, at: Path): number {
    const capacity = this.integer(value, at, 1, 64);
    if ((capacity & (capacity - 1)) !== 0) this.fail(at, `expected a power of two from 1 to 64, got ${capacity}`);
    return capacity;
  }

  /**
   * A plain number of CPU ms per second, like the file's other durations (plain
   * seconds), never a string with a unit. 0 would starve every re-encoded viewer.
   */
  private encodeBudget(value: unknown, at: Path): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > maxEncodeBudgetMs()) this.fail(at, `expected ${encodeBudgetAccepted()}, got ${describe(value)}`);
    return value;
  }

  private choice<T extends string>(value: unknown, at: Path, choices: readonly T[]): T {
    if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) this.fail(at, `expected one of ${choices.join(', ')}, got ${describe(value)}`);
    return value as T;
  }

  /** Throws a ConfigError pointing at the value (or the key) at `at`. */
  private fail(at: Path, message: string, pointAtKey = false): never {
    let offset: number | undefined;
    const node = this.doc.getIn(at, true) as { range?: [number, number, number] } | undefined;
    if (pointAtKey && at.length > 0) {
      const parent = this.doc.getIn(at.slice(0, -1), true);
      if (this.isMap(parent)) offset = ((parent as { items: { key: unknown }[] }).items.find((pair) => (pair.key as { value?: unknown })?.value === at.at(-1))?.key as { range?: number[] })?.range?.[0];
    }
    offset ??= node?.range?.[0];
    if (offset === undefined && at.length > 0) {
      const parent = this.doc.getIn(at.slice(0, -1), true) as { range?: number[] } | undefined;
      if (this.isMap(parent) || this.isSeq(parent)) offset = parent?.range?.[0];
    }
    const where = offset === undefined ? this.file : `${this.file}:${this.lines.linePos(offset).line}:${this.lines.linePos(offset).col}`;
    const key = at.map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? part : `.${part}`)).join('');
    throw new ConfigError(`${where}: ${key === '' ? '' : `${key}: `}${message}`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}
