/** Which other sites' pages may read camstream's answers (CORS). Off by default. */
export interface CorsOptions {
  /** Allowed origins (`https://example.com`), or '*' for any site. */
  origins: readonly string[] | '*';
}

/**
 * Cross-origin reads: a page on another site may embed `<img src=/stream>` without
 * CORS, but needs it to read pixels, fetch /api/stats or a snapshot. Only listed
 * origins get `Access-Control-Allow-Origin`; with a list (not '*'), credentials may
 * be sent too, so an authenticated dashboard elsewhere works.
 */
export class CorsPolicy {
  private readonly any: boolean;
  private readonly allowed: Set<string>;

  constructor(options: CorsOptions) {
    this.any = options.origins === '*';
    this.allowed = new Set(options.origins === '*' ? [] : options.origins.map((origin) => origin.replace(/\/+$/, '')));
  }

  /** The headers that let a page from `origin` read the answer, or undefined (not allowed, or no Origin). */
  headersFor(origin: string | undefined): Record<string, string> | undefined {
    if (origin === undefined) return undefined;
    if (this.any) return { 'access-control-allow-origin': '*' };
    if (!this.allowed.has(origin)) return undefined;
    return { 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true', vary: 'Origin' };
  }

  /** What a preflight (OPTIONS) answer adds for an allowed origin. */
  static readonly PREFLIGHT: Readonly<Record<string, string>> = {
    'access-control-allow-methods': 'GET, HEAD, OPTIONS',
    'access-control-allow-headers': 'Authorization',
    'access-control-max-age': '600',
  };
}

/** An origin as a browser sends it: scheme and host (and port), no path. */
export function isOrigin(text: string): boolean {
  return /^https?:\/\/[^/\s]+\/?$/.test(text);
}

/** Header lines for a response head written by hand (the MJPEG stream), from headersFor's result. */
export function headLines(headers: Record<string, string> | undefined): string {
  if (headers === undefined) return '';
  return Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
}
