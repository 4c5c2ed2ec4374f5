import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';

/**
 * Serving camstream's endpoints from someone else's server (node:http, express,
 * fastify) instead of its own: `createCamstream({ listen: false })`, `start()`,
 * then hand requests to `camstream.handler`. A stream takes the host's socket
 * over exactly as it does camstream's own, so nothing on the frame path changes.
 */

/** A node:http request listener: `http.createServer(handler)`, `app.use('/cams', handler)`. */
export type RequestHandler = (request: IncomingMessage, response: ServerResponse) => void;

/** A node:http 'upgrade' listener: `server.on('upgrade', handler)` (camstream's /ws). */
export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** What a host needs of a Camstream to mount it. */
export interface Mountable {
  readonly handler: RequestHandler;
}

/**
 * Dispatches requests into the routes of the app `serving()` returns (fastify's
 * `routing`, usable once `app.ready()` resolved); while it returns undefined (not
 * started, or stopping), a JSON 503.
 */
export function routeInto(serving: () => FastifyInstance | undefined): RequestHandler {
  return (request, response) => {
    const app = serving();
    if (app !== undefined) return app.routing(request, response);
    response.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '1' });
    response.end(JSON.stringify({ error: 'not_serving', message: 'camstream is not started (await start() first) or is stopping' }));
  };
}

/**
 * Removes `prefix` (e.g. '/cams') from the request's URL, as express does for a
 * mounted handler, so camstream sees its own paths ('/cams/stream' → '/stream',
 * '/cams' → '/'). Returns false, leaving the URL alone, when the URL is not under it.
 */
export function stripPrefix(request: IncomingMessage, prefix: string): boolean {
  const base = prefix.replace(/\/+$/, '');
  const url = request.url ?? '/';
  if (base === '') return true;
  if (!url.startsWith(base)) return false;
  const rest = url.slice(base.length);
  // '/camsfoo' is not under '/cams'.
  if (rest !== '' && rest[0] !== '/' && rest[0] !== '?') return false;
  request.url = rest === '' || rest[0] === '?' ? `/${rest}` : rest;
  return true;
}

export interface RegisterCamstreamOptions {
  /** Where camstream's endpoints appear in the host app, e.g. '/cams'. Default '' (the root). */
  prefix?: string;
}

/**
 * Serves camstream's endpoints from a fastify app under `prefix`: GET, HEAD and
 * OPTIONS on `prefix` and everything below are handed over whole (`reply.hijack()`,
 * then camstream answers on the raw request and response), so streams, snapshots and
 * stats behave as on camstream's own server. Call before the host's `listen()`.
 */
export function registerCamstream(app: FastifyInstance, camstream: Mountable, options: RegisterCamstreamOptions = {}): void {
  const prefix = (options.prefix ?? '').replace(/\/+$/, '');
  const forward = (request: { raw: IncomingMessage }, reply: { hijack(): void; raw: ServerResponse }): void => {
    reply.hijack();
    stripPrefix(request.raw, prefix);
    camstream.handler(request.raw, reply.raw);
  };
  const route = { method: ['GET', 'HEAD', 'OPTIONS'], handler: forward };
  if (prefix !== '') app.route({ ...route, url: prefix });
  app.route({ ...route, url: `${prefix}/*` });
}
