import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';

/**
 * The API answers JSON only, so its policy allows nothing to load or frame it; the docs page sets its own,
 * looser policy (see openapi.ts).
 */
const API_CONTENT_SECURITY_POLICY = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'none'"],
    frameAncestors: ["'none'"],
  },
};

export async function registerSecurityHeaders(app: FastifyInstance): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: API_CONTENT_SECURITY_POLICY,
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
    frameguard: { action: 'deny' },
  });

  // Answers carry personal data: no browser or proxy cache may keep them. Routes that set their own
  // Cache-Control (the docs' static files) keep it.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });
}
