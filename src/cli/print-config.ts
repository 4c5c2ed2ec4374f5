import type { CameraConfig } from '../camstream.js';
import { maskPassword } from '../source/index.js';
import { DEFAULT_ENCODE_BUDGET_MS } from '../stream/index.js';
import type { Settings } from './args.js';

const MASK = '***';

/**
 * The settings in effect as YAML, in the config file's own keys, so the output can
 * be saved as a config file once the masked secrets are filled back in. Password
 * hashes, tokens and passwords inside source URLs are masked.
 */
export async function printConfig(settings: Settings): Promise<string> {
  const yaml = await import('yaml');
  const config = {
    host: settings.host,
    port: settings.port,
    'log-level': settings.logLevel,
    'snapshot-timeout': settings.snapshotTimeoutSeconds,
    'queue-capacity': settings.queueCapacity,
    // The default is shown too: it is in effect, and a saved file keeps it.
    'encode-budget': settings.encodeBudgetMs ?? DEFAULT_ENCODE_BUDGET_MS,
    'send-queue': settings.sendQueueBytes,
    workers: settings.workers,
    cameras: settings.cameras.map(cameraEntry),
    auth: {
      users: settings.auth.users === undefined ? undefined : Object.fromEntries(Object.keys(settings.auth.users).map((user) => [user, MASK])),
      tokens: settings.auth.tokens?.map(() => MASK),
      public: settings.auth.publicPaths ?? ['/healthz'],
    },
    ...(settings.tls === undefined ? {} : { tls: { cert: settings.tls.certFile, key: settings.tls.keyFile } }),
    ...(settings.cors === undefined ? {} : { cors: settings.cors }),
    'trust-proxy': settings.trustProxy,
    limits: {
      'max-viewers': settings.limits.maxViewers,
      'max-viewers-per-client': settings.limits.maxViewersPerClient,
      'max-header-bytes': settings.limits.maxHeaderBytes ?? 8192,
      'request-timeout': settings.limits.requestTimeoutSeconds ?? 10,
    },
  };
  const origin = settings.configFile === undefined ? 'flags, environment and defaults' : `${settings.configFile}, then environment and flags`;
  // Unset values are left out (JSON drops undefined), so the output loads back as a config file.
  const defined = JSON.parse(JSON.stringify(config)) as typeof config;
  return `# camstream settings in effect (from ${origin}); secrets masked as ${MASK}\n${yaml.stringify(defined)}`;
}

/** A camera as the config file writes it (kebab-case keys, seconds). */
function cameraEntry(camera: CameraConfig): Record<string, unknown> {
  const { adaptive, ladder } = camera;
  const entry: Record<string, unknown> = {
    id: camera.id,
    source: typeof camera.source === 'string' ? maskPassword(camera.source) : camera.source.url,
    'always-on': camera.alwaysOn,
    'idle-timeout': camera.idleTimeoutSeconds,
    'stall-timeout': camera.stallTimeoutSeconds,
    'no-signal-after': camera.noSignalAfterSeconds,
    quality: camera.quality,
    'rtsp-transport': camera.rtspTransport,
    'queue-capacity': camera.queueCapacity,
    'encode-budget': camera.encodeBudgetMs,
    'viewer-stall-timeout': camera.viewerStallTimeoutSeconds,
    'drop-same-frames': camera.dropSameFrames,
    adaptive:
      adaptive === undefined || adaptive === false
        ? adaptive
        : {
            'lag-high': seconds(adaptive.lagHighMs),
            'lag-low': seconds(adaptive.lagLowMs),
            'recover-after': seconds(adaptive.recoverAfterMs),
            'step-down-cooldown': seconds(adaptive.stepDownCooldownMs),
          },
    profiles: camera.profiles,
    ladder: ladder?.map((level) => ({ fps: level.maxFps, profile: level.profile })),
  };
  return entry;
}

const seconds = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms / 1000);
