import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { HearthMetrics } from '../../metrics/metrics.js';
import { problemResponse } from '../problem.js';

/** Stands for every address no route matched, so a scan of random URLs cannot grow the label set. */
const UNMATCHED_ROUTE = 'unmatched';

/**
 * Counts every answered request by its route's template (`/v1/homes/:homeId`), never the URL asked for,
 * which would carry ids. Added before the routes, so it sees them all.
 */
export function recordHttpMetrics(app: FastifyInstance, metrics: HearthMetrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
    metrics.httpRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
  });
}

export const metricsRoutes: FastifyPluginAsyncZod<{ metrics: HearthMetrics }> = async (app, { metrics }) => {
  app.get(
    '/metrics',
    {
      config: { access: 'scraper' },
      schema: {
        summary: 'Service metrics in the Prometheus text format',
        description:
          'Open to clients on the same machine; from elsewhere it needs a scrape token from `hearth metrics token create`. ' +
          'Labels carry route templates, methods, status codes, model names and fixed reason words only.',
        tags: ['operations'],
        response: {
          200: z.string().describe('Prometheus exposition format 0.0.4.'),
          401: problemResponse('Not on this machine and no valid scrape token.'),
        },
      },
    },
    async (_request, reply) => {
      const { contentType, body } = await metrics.scrape();
      return reply.type(contentType).send(body);
    },
  );
};
