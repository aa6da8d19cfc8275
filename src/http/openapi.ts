import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { type Access, declareScopeAccess } from './access.js';

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

/** How each protected access level proves itself; the docs page's Authorize dialog offers each one. */
export const SECURITY_SCHEMES = {
  userAccessToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'hth_at_…',
    description: "A customer's access token from POST /v1/sessions or /v1/sessions/refresh.",
  },
  operatorSessionToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'hth_op_…',
    description: 'An operator session token from POST /v1/admin/sessions (password and authenticator code).',
  },
  metricsScrapeToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'hth_scr_…',
    description:
      'A scrape token from `hearth metrics token create`; not needed by a client on the same machine (loopback).',
  },
  deviceClaimToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'hth_ct_…',
    description:
      'The claim token from POST /v1/homes/{homeId}/claim-tokens, which the device presents to get its ' +
      'MQTT credentials.',
  },
} as const;

/** Each operation's `security`, from its route's declared access; a public route needs none (`[]`). */
export const ACCESS_SECURITY: Record<Access, Array<Partial<Record<keyof typeof SECURITY_SCHEMES, []>>>> = {
  public: [],
  user: [{ userAccessToken: [] }],
  operator: [{ operatorSessionToken: [] }],
  device: [{ deviceClaimToken: [] }],
  // `{}` first: a loopback client needs no token.
  scraper: [{}, { metricsScrapeToken: [] }],
};

/** The zod transform, plus the security of the route's declared access (set by enforceRouteAccess). */
const transform: typeof jsonSchemaTransform = (input) => {
  const result = jsonSchemaTransform(input);
  const access = input.route.config?.access;
  if (!access) return result;
  return { ...result, schema: { ...result.schema, security: ACCESS_SECURITY[access] } };
};

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
      components: { securitySchemes: SECURITY_SCHEMES },
    },
    transform,
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
