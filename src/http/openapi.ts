import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { declareScopeAccess } from './access.js';

export const DOCS_PREFIX = '/docs';

/**
 * The docs page loads its scripts, styles and spec from this server. Swagger UI sets inline style
 * attributes and shows a data: logo; `upgrade-insecure-requests` is left out so the page also works over
 * plain http on a developer's machine.
 */
export const DOCS_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "base-uri 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "object-src 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Collects every route's zod schemas into an OpenAPI document. Must be registered before the routes it
 * describes, since it learns about them as they are added.
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Hearth API',
        description: 'Errors are RFC 9457 problem details (application/problem+json).',
        version: '0.1.0',
      },
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
}

/** Serves the document at /openapi.json and Swagger UI at /docs, both public. */
export async function registerApiDocs(app: FastifyInstance): Promise<void> {
  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, () => app.swagger());

  await app.register(async (docs) => {
    // Swagger UI's routes cannot carry a config of their own.
    declareScopeAccess(docs, 'public');
    await docs.register(swaggerUi, { routePrefix: DOCS_PREFIX, staticCSP: DOCS_CONTENT_SECURITY_POLICY });
  });
}
