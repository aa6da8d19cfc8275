import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type Db, pingDatabase } from '../../store/database.js';
import { describeError, HttpProblem, problemResponse } from '../problem.js';

export interface HealthOptions {
  db: Db;
  /** How long the database may take to answer before the service counts as unhealthy. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 2_000;

/** Fails after `ms`; a database that hangs must make the check fail, not hang the prober with it. */
function timeout(ms: number): { promise: Promise<never>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`database did not answer within ${ms} ms`)), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** Liveness and readiness for load balancers and orchestrators: up only while the database answers. */
export const healthRoutes: FastifyPluginAsyncZod<HealthOptions> = async (app, { db, timeoutMs }) => {
  app.get(
    '/healthz',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Whether the service and its database answer',
        tags: ['health'],
        response: {
          200: z.object({ status: z.literal('ok') }),
          503: problemResponse('The database does not answer.'),
        },
      },
    },
    async (request) => {
      const deadline = timeout(timeoutMs ?? DEFAULT_TIMEOUT_MS);
      try {
        await Promise.race([pingDatabase(db), deadline.promise]);
      } catch (error) {
        request.log.warn({ error: describeError(error) }, 'health check: database unavailable');
        throw new HttpProblem(503, 'The database does not answer.', { headers: { 'retry-after': '5' } });
      } finally {
        deadline.cancel();
      }
      return { status: 'ok' as const };
    },
  );
};
