import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { BuildOptions } from '../../src/app.js';
import { buildHttpServer, type HttpServerOptions } from '../../src/http/server.js';
import { buildTestServices, type TestServices } from '../helpers/services.js';

export interface TestHttp {
  app: FastifyInstance;
  services: TestServices;
  close(): Promise<void>;
}

export interface BuildTestHttpOptions extends HttpServerOptions {
  services?: BuildOptions & { env?: Record<string, string> };
  /** Adds routes the tests need before the app becomes ready. */
  routes?: (app: FastifyInstance) => void;
}

/** The production HTTP server over fresh test services, ready for `inject`. */
export async function buildTestHttp(options: BuildTestHttpOptions = {}): Promise<TestHttp> {
  const services = await buildTestServices(options.services);
  const app = await buildHttpServer(services, {
    ...options,
    // Tests add their own routes under /test/; production's public list stays as it is.
    extraPublicRoutes: ['GET /test/*', 'POST /test/*', ...(options.extraPublicRoutes ?? [])],
  });
  options.routes?.(app);
  await app.ready();
  return {
    app,
    services,
    close: async () => {
      await app.close();
      await services.close();
    },
  };
}

export const signUpBody = z.object({
  email: z.email(),
  password: z.string().min(12),
  name: z.string().min(1),
});

/** A test-only endpoint with a JSON body, standing in for the sign-up route a later issue adds. */
export function addSignUpRoute(app: FastifyInstance, handler?: (body: unknown) => void): void {
  app
    .withTypeProvider<ZodTypeProvider>()
    .post(
      '/test/sign-up',
      { config: { access: 'public' }, schema: { body: signUpBody } },
      async (request, reply) => {
        handler?.(request.body);
        return reply.code(201).send({ created: true });
      },
    );
}

export function parseJson(body: string): Record<string, unknown> {
  return JSON.parse(body) as Record<string, unknown>;
}
