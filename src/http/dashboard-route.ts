import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** The package's root, from dist/src/http/. */
const ROOT = new URL('../../../', import.meta.url);

interface Asset {
  /** Where the file is, resolved on first use. */
  path: () => string;
  type: string;
  /** uPlot is versioned by its package and may be cached; our own files are revalidated. */
  cacheControl: string;
}

const OURS = 'no-cache';
const inRoot = (relative: string) => (): string => fileURLToPath(new URL(relative, ROOT));
const inUplot = (file: string) => (): string => createRequire(import.meta.url).resolve(`uplot/dist/${file}`);

/** Every file the dashboard is made of: a fixed list, so no request path ever reaches the file system. */
const ASSETS: Record<string, Asset> = {
  '/': { path: inRoot('web/index.html'), type: 'text/html; charset=utf-8', cacheControl: OURS },
  '/dashboard/dashboard.css': { path: inRoot('web/dashboard.css'), type: 'text/css; charset=utf-8', cacheControl: OURS },
  '/dashboard/dashboard.js': { path: inRoot('dist/web/dashboard.js'), type: 'text/javascript; charset=utf-8', cacheControl: OURS },
  '/dashboard/live-frames.js': { path: inRoot('dist/web/live-frames.js'), type: 'text/javascript; charset=utf-8', cacheControl: OURS },
  '/dashboard/icon.svg': { path: inRoot('web/icon.svg'), type: 'image/svg+xml', cacheControl: OURS },
  '/dashboard/uplot.js': { path: inUplot('uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8', cacheControl: 'public, max-age=86400' },
  '/dashboard/uplot.css': { path: inUplot('uPlot.min.css'), type: 'text/css; charset=utf-8', cacheControl: 'public, max-age=86400' },
};

/**
 * The page may load only its own scripts, styles and streams, and talk only to this
 * server: a camera id or a user agent shown in it can never run as code.
 */
const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/** Answers a `GET /` that is another endpoint's, e.g. mjpg-streamer's `/?action=stream`. */
export type RootHandler = (request: FastifyRequest, reply: FastifyReply) => unknown;

/**
 * `GET /`: the live web dashboard (web/index.html, its script compiled from
 * web/dashboard.ts, and uPlot straight from node_modules). Files are read on first
 * request and kept: together they are under 100 KB. `rootFor` may claim a `/`
 * request (by its query) for another handler; the dashboard gets the rest.
 */
export function addDashboardRoutes(app: FastifyInstance, rootFor?: (request: FastifyRequest) => RootHandler | undefined): void {
  const loaded = new Map<string, Promise<Buffer>>();
  const load = (url: string, asset: Asset): Promise<Buffer> => {
    let body = loaded.get(url);
    if (body === undefined) {
      body = readFile(asset.path());
      // A missing file (an unbuilt checkout) is looked for again next time.
      body.catch(() => loaded.delete(url));
      loaded.set(url, body);
    }
    return body;
  };
  for (const [url, asset] of Object.entries(ASSETS)) {
    app.get(url, async (request, reply) => {
      const other = url === '/' ? rootFor?.(request) : undefined;
      if (other !== undefined) return other(request, reply);
      let body: Buffer;
      try {
        body = await load(url, asset);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw Object.assign(new Error(`dashboard file for ${url} is missing (${code ?? 'unreadable'}); run npm install (it builds) in camstream's directory`), { statusCode: 500, code: 'dashboard_missing' });
      }
      return reply
        .header('content-type', asset.type)
        .header('cache-control', asset.cacheControl)
        .header('content-security-policy', CONTENT_SECURITY_POLICY)
        .header('x-content-type-options', 'nosniff')
        .send(body);
    });
  }
}
