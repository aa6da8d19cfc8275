import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Services } from '../app.js';

/** The HTTP adapter: a Fastify app over the services. (Skeleton; routes, errors and docs follow.) */
export async function buildHttpServer(services: Services): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: services.logger as FastifyBaseLogger, bodyLimit: services.config.bodyLimitBytes });
  app.get('/healthz', async () => ({ status: 'ok' }));
  return app;
}
