import type { FastifyInstance } from 'fastify';

/** How often /api/events sends the figures. */
export const EVENTS_INTERVAL_MS = 1000;
/** What an EventSource waits before reconnecting after the server went away. */
const RETRY_MS = 2000;

/**
 * `GET /api/events`: the same JSON as /api/stats as Server-Sent Events, one event
 * at once and then one a second, for a dashboard that wants to follow along
 * without polling. One timer per subscriber; a snapshot still being gathered (the
 * viewer loops answer asynchronously) makes the next tick wait rather than pile up.
 */
export function addEventsRoute(app: FastifyInstance, snapshot: () => Promise<unknown>, intervalMs = EVENTS_INTERVAL_MS): void {
  app.get('/api/events', (request, reply) => {
    reply.hijack();
    const response = reply.raw;
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Tells nginx not to buffer the events when it proxies them.
      'x-accel-buffering': 'no',
    });
    // HEAD: the headers, and no body ever (Node sends the head only with a body write or end()).
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    response.write(`retry: ${RETRY_MS}\n\n`);
    let busy = false;
    let closed = false;
    const send = (): void => {
      if (busy || closed) return;
      busy = true;
      snapshot().then(
        (figures) => {
          busy = false;
          if (!closed) response.write(`data: ${JSON.stringify(figures)}\n\n`);
        },
        (error: unknown) => {
          busy = false;
          request.log.warn({ err: error }, 'could not gather the figures for /api/events');
        },
      );
    };
    const timer = setInterval(send, intervalMs);
    timer.unref();
    response.once('close', () => {
      closed = true;
      clearInterval(timer);
    });
    send();
  });
}
