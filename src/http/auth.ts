import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { CamstreamError } from '../frame/index.js';

/** Who may watch: HTTP basic users and bearer tokens. None of either: no authentication. */
export interface AuthOptions {
  /** User name → password hash, as `camstream --hash-password` prints it (`scrypt$…`). */
  users?: Record<string, string> | undefined;
  /** Bearer tokens (`Authorization: Bearer <token>`, or `?access_token=<token>` where a header cannot be set, as in `<img src>`). */
  tokens?: readonly string[] | undefined;
  /** Paths served without credentials. Default: `/healthz`, for load balancers and probes. */
  publicPaths?: readonly string[] | undefined;
}

/** A password hash or token that cannot be used; the message says what is expected. */
export class AuthConfigError extends CamstreamError {
  constructor(message: string) {
    super('CAMSTREAM_CONFIG', message);
  }
}

// scrypt's cost: 16 MiB and ~50 ms per check, so guessing is slow; a successful
// check is remembered (see VERIFIED_TTL_MS), so a dashboard's requests pay it once.
const SCRYPT = { N: 16384, r: 8, p: 1, keyLength: 32 };
const VERIFIED_TTL_MS = 5 * 60_000;
const VERIFIED_MAX = 1024;
/**
 * The dashboard's script, styles and icon: code, no camera data, and loaded by the
 * page without its `?access_token=` (a module's imports drop the query). The page
 * itself, its figures and its pictures need credentials.
 */
const DASHBOARD_ASSET = /^\/dashboard\/[\w-]+\.(?:js|css|svg)$/;

export type AuthVerdict = 'public' | 'ok' | 'missing' | 'invalid';

/** A password hash in camstream's format: `scrypt$N$r$p$<salt base64>$<hash base64>`. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await derive(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p, SCRYPT.keyLength);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function parseHash(user: string, text: string): ParsedHash {
  const parts = text.split('$');
  const [kind, N, r, p, salt, hash] = parts;
  const numbers = [N, r, p].map(Number);
  if (parts.length !== 6 || kind !== 'scrypt' || numbers.some((n) => !Number.isInteger(n) || n < 1) || salt === '' || hash === '' || salt === undefined || hash === undefined) {
    throw new AuthConfigError(`the password hash of user '${user}' is not one camstream made; create one with: camstream --hash-password`);
  }
  return { N: numbers[0] as number, r: numbers[1] as number, p: numbers[2] as number, salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
}

function derive(password: string, salt: Buffer, N: number, r: number, p: number, keyLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxmem: N = 16384 needs 16 MiB, just above Node's 32 MiB default for larger r.
    scrypt(password, salt, keyLength, { N, r, p, maxmem: 256 * N * r }, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * Checks requests against the configured users and tokens. Every comparison of a
 * secret is constant-time (timingSafeEqual on equal-length digests); an unknown user
 * costs the same scrypt as a known one, so timing tells nothing about who exists.
 */
export class Authenticator {
  private readonly users = new Map<string, ParsedHash>();
  private readonly tokenDigests: Buffer[];
  private readonly publicPaths: Set<string>;
  /** sha256 of an Authorization header that passed → when that stops counting. */
  private readonly verified = new Map<string, number>();
  private readonly decoy: ParsedHash;

  constructor(options: AuthOptions = {}) {
    for (const [user, hash] of Object.entries(options.users ?? {})) {
      if (user === '' || user.includes(':')) throw new AuthConfigError(`user name '${user}' cannot be used in HTTP basic auth: it must be non-empty and contain no ':'`);
      this.users.set(user, parseHash(user, hash));
    }
    for (const token of options.tokens ?? []) {
      if (token.length < 16) throw new AuthConfigError(`a bearer token must be at least 16 characters (got ${token.length}); make one with: openssl rand -hex 32`);
    }
    this.tokenDigests = (options.tokens ?? []).map(sha256);
    this.publicPaths = new Set(options.publicPaths ?? ['/healthz']);
    this.decoy = { ...SCRYPT, salt: Buffer.alloc(16), hash: Buffer.alloc(SCRYPT.keyLength) };
  }

  /** Whether any credentials are configured (else every request passes). */
  get enabled(): boolean {
    return this.users.size > 0 || this.tokenDigests.length > 0;
  }

  /** What the 401 answer offers (`WWW-Authenticate`). */
  get challenge(): string {
    const schemes: string[] = [];
    if (this.users.size > 0) schemes.push('Basic realm="camstream", charset="UTF-8"');
    if (this.tokenDigests.length > 0) schemes.push('Bearer realm="camstream"');
    return schemes.join(', ');
  }

  /** Whether a request for `url` with `headers` may proceed. */
  async check(url: string, headers: IncomingHttpHeaders): Promise<AuthVerdict> {
    const [path = '/', query = ''] = url.split('?', 2);
    if (!this.enabled || this.publicPaths.has(path) || DASHBOARD_ASSET.test(path)) return 'public';
    const header = headers.authorization;
    const queryToken = new URLSearchParams(query).get('access_token');
    if (header === undefined && queryToken === null) return 'missing';
    if (queryToken !== null && this.tokenMatches(queryToken)) return 'ok';
    if (header === undefined) return 'invalid';
    const [scheme = '', credentials = ''] = header.trim().split(/\s+/, 2);
    if (scheme.toLowerCase() === 'bearer') return this.tokenMatches(credentials) ? 'ok' : 'invalid';
    if (scheme.toLowerCase() === 'basic') return (await this.basicMatches(header, credentials)) ? 'ok' : 'invalid';
    return 'invalid';
  }

  private tokenMatches(token: string): boolean {
    const digest = sha256(token);
    let match = false;
    // Every token is compared, so the time taken does not say which one came close.
    for (const expected of this.tokenDigests) if (timingSafeEqual(digest, expected)) match = true;
    return match;
  }

  private async basicMatches(header: string, credentials: string): Promise<boolean> {
    if (this.users.size === 0) return false;
    const key = sha256(header).toString('base64');
    const now = Date.now();
    const until = this.verified.get(key);
    if (until !== undefined && until > now) return true;
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = colon < 0 ? '' : decoded.slice(0, colon);
    const password = colon < 0 ? '' : decoded.slice(colon + 1);
    const known = this.users.get(user);
    const expected = known ?? this.decoy;
    const actual = await derive(password, expected.salt, expected.N, expected.r, expected.p, expected.hash.length);
    const match = known !== undefined && timingSafeEqual(actual, expected.hash);
    if (match) this.remember(key, now);
    return match;
  }

  private remember(key: string, now: number): void {
    if (this.verified.size >= VERIFIED_MAX) {
      for (const [stored, until] of this.verified) if (until <= now || this.verified.size >= VERIFIED_MAX) this.verified.delete(stored);
    }
    this.verified.set(key, now + VERIFIED_TTL_MS);
  }
}
