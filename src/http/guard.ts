import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Authenticator, AuthVerdict } from './auth.js';
import { CorsPolicy } from './cors.js';

/** The 401 answer's body: what is wrong and how to send credentials. */
export function unauthorized(verdict: AuthVerdict): { error: string; message: string } {
  return {
    error: 'unauthorized',
    message:
      verdict === 'missing'
        ? 'credentials required: HTTP basic auth (a user from the config) or a bearer token (Authorization: Bearer …, or ?access_token=… where no header can be set)'
        : 'these credentials are not accepted: check the user name and password, or the token',
  };
}

/**
 * What every request passes before its route: CORS headers for allowed origins
 * (and preflight answers), then authentication. A preflight carries no
 * credentials by design, so it is answered before authentication.
 */
export function addGuards(app: FastifyInstance, auth: Authenticator | undefined, cors: CorsPolicy | undefined): void {
  if (cors !== undefined) {
    app.addHook('onRequest', async (request, reply) => {
      const headers = cors.headersFor(request.headers.origin);
      if (headers !== undefined) void reply.headers(headers);
    });
    app.options('/*', (request, reply) => {
      const allowed = cors.headersFor(request.headers.origin) !== undefined;
      void reply.code(204).headers(allowed ? CorsPolicy.PREFLIGHT : {}).send();
    });
  }
  if (auth?.enabled === true) {
    app.addHook('onRequest', async (request, reply): Promise<FastifyReply | undefined> => {
      if (cors !== undefined && request.method === 'OPTIONS') return undefined;
      const verdict = await auth.check(request.url, request.headers);
      if (verdict === 'ok' || verdict === 'public') return undefined;
      return reply.code(401).header('www-authenticate', auth.challenge).header('cache-control', 'no-store').send(unauthorized(verdict));
    });
  }
}
