#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --v8-pool-size=1
// camstream sets glibc's malloc itself when it first re-encodes (src/stream/native-memory.ts),
// so plain `node` holds its memory too. These two act earlier than code can, before any
// thread starts: MALLOC_ARENA_MAX=2 caps the malloc arenas V8's and libuv's threads
// create before any JavaScript runs (libvips' threads then share them), and
// --v8-pool-size=1 starts one V8 background thread instead of four. Measured (1080p60,
// 2 of 10 viewers re-encoded at third size): RSS peak 104 MB on average as plain node,
// 97 MB with MALLOC_ARENA_MAX=2, 92 MB with both; no difference with full-size re-encodes.
// `npm start` runs with the same settings, and the bench reads them from this line.
// First, before any other module allocates: V8's young generation stays small (see there).
import './young-generation.js';
import { readFileSync } from 'node:fs';
import { CamstreamError } from '../frame/index.js';
import { createCamstream } from '../camstream.js';
import { hashPassword } from '../http/index.js';
import { VERSION } from '../version.js';
import { cameraConfigs, ConfigError, resolveSettings, USAGE, UsageError, type Settings } from './args.js';
import { printConfig } from './print-config.js';

/** How long a graceful shutdown may take before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 1500;

async function main(): Promise<void> {
  let options;
  try {
    options = await resolveSettings(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      process.stderr.write(`camstream: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (options.version) {
    process.stdout.write(`camstream ${VERSION}\n`);
    return;
  }
  if (options.hashPassword) {
    const password = await readStdin();
    if (password === '') {
      process.stderr.write('camstream: --hash-password reads the password on stdin, e.g.: printf %s "$PASSWORD" | camstream --hash-password\n');
      process.exit(2);
    }
    process.stdout.write(`${await hashPassword(password)}\n`);
    return;
  }
  if (options.printConfig) {
    process.stdout.write(await printConfig(options));
    return;
  }
  let tls: { key: Buffer; cert: Buffer } | undefined;
  try {
    tls = readTls(options);
  } catch (error) {
    process.stderr.write(`camstream: ${(error as Error).message}\n`);
    process.exit(2);
  }

  const camstream = createCamstream({
    cameras: cameraConfigs(options),
    host: options.host,
    port: options.port,
    logLevel: options.logLevel,
    queueCapacity: options.queueCapacity,
    snapshotTimeoutMs: options.snapshotTimeoutSeconds * 1000,
    sendQueueBytes: options.sendQueueBytes,
    workers: options.workers,
    auth: options.auth,
    tls,
    cors: options.cors,
    limits: options.limits,
    trustProxy: options.trustProxy,
  });

  const shutdown = (signal: NodeJS.Signals): void => {
    camstream.log.info({ signal }, 'shutting down');
    // Whatever happens, exit within the grace period.
    setTimeout(() => {
      camstream.log.warn('shutdown took too long; exiting anyway');
      process.exit(0);
    }, SHUTDOWN_GRACE_MS).unref();
    camstream.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        camstream.log.error({ err: error }, 'error while shutting down');
        process.exit(0);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);

  try {
    await camstream.start();
  } catch (error) {
    const message = error instanceof CamstreamError ? error.message : String((error as Error)?.stack ?? error);
    process.stderr.write(`camstream: ${message}\n`);
    process.exit(1);
  }
}

/** The PEM files, read now so that a wrong path is an error at start naming the file. */
function readTls(settings: Settings): { key: Buffer; cert: Buffer } | undefined {
  if (settings.tls === undefined) return undefined;
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new UsageError(`cannot read the TLS ${what} ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
    }
  };
  return { cert: read(settings.tls.certFile, 'certificate (--tls-cert)'), key: read(settings.tls.keyFile, 'private key (--tls-key)') };
}

/** Everything on stdin, without a trailing line break (the password for --hash-password). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

void main();
