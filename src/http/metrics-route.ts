import type { FastifyInstance } from 'fastify';
import type { PrometheusExporter, Scrape } from './prometheus-exporter.js';

/**
 * `GET /metrics`: camstream's figures for Prometheus. prom-client is loaded by a
 * dynamic import on the first request, not at start: it and its default process
 * metrics (a GC observer, an event-loop delay monitor) cost memory and a little
 * CPU that a server nobody scrapes should not pay.
 */
export function addMetricsRoute(app: FastifyInstance, scrape: () => Promise<Scrape>): void {
  let exporter: Promise<PrometheusExporter> | undefined;
  const load = (): Promise<PrometheusExporter> => {
    exporter ??= import('./prometheus-exporter.js').then(
      (module) => new module.PrometheusExporter(),
      (error: unknown) => {
        // A failed load is tried again by the next scrape.
        exporter = undefined;
        throw error;
      },
    );
    return exporter;
  };
  app.get('/metrics', async (_request, reply) => {
    const ready = await load();
    const text = await ready.render(await scrape());
    return reply.header('content-type', ready.contentType).header('cache-control', 'no-store').send(text);
  });
}
