import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { HttpProblem } from './problem.js';
import { isListedPublic, PUBLIC_ROUTES } from './public-routes.js';

/**
 * Who may call a route (STYLE.md guideline 6). Every route states it in `config.access`; a route without
 * one stops start-up, so no route is reachable by accident. `scraper` is a metrics scraper: a client on
 * this machine, or one holding an operator-issued scrape token.
 */
export const ACCESS_LEVELS = ['public', 'user', 'device', 'operator', 'scraper'] as const;
export type Access = (typeof ACCESS_LEVELS)[number];
export type ProtectedAccess = Exclude<Access, 'public'>;

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
}

/**
 * Decides whether a request may reach a route of one access level. It reads credentials from the headers
 * (it runs before the body is read) and returns true to let the request through, having attached whatever
 * identity it established to the request; false answers 401. Throwing an HttpProblem (e.g. 403) answers
 * with that problem.
 */
export type Authenticator = (request: FastifyRequest, reply: FastifyReply) => Promise<boolean>;

/** One authenticator per protected level; a level without one denies every request. */
export type Authenticators = Partial<Record<ProtectedAccess, Authenticator>>;

const scopeAccess = Symbol('hearth.scopeAccess');

/**
 * Declares the access of every route registered inside `scope` (and the plugins it registers). Only for
 * third-party plugins whose routes cannot carry a config, such as the API docs; our own routes declare
 * their access one by one. Fastify scopes inherit from their parent's object, so the mark reaches them.
 */
export function declareScopeAccess(scope: FastifyInstance, access: Access): void {
  Object.defineProperty(scope, scopeAccess, { value: access, enumerable: false });
}

function isAccess(value: unknown): value is Access {
  return typeof value === 'string' && (ACCESS_LEVELS as readonly string[]).includes(value);
}

function denyingGuard(
  access: ProtectedAccess,
  authenticate: Authenticator | undefined,
): onRequestHookHandler {
  return async function guard(request, reply) {
    if (authenticate && (await authenticate(request, reply))) return;
    throw new HttpProblem(401, `This address needs ${access} credentials.`, {
      headers: { 'www-authenticate': 'Bearer realm="hearth"' },
    });
  };
}

/**
 * Checks each route's declaration as it is registered, and puts the authenticator for its level in front of
 * every protected route. The guard is an onRequest hook rather than a preHandler so that a caller without
 * credentials is turned away before its body is read and before validation could describe the schema.
 */
/** One row of the route table as the access check saw it. */
export interface RouteAccess {
  method: string;
  url: string;
  access: Access;
  /** The route's body schema as declared, for tests that walk every route taking some field. */
  body?: unknown;
}

/**
 * Returns the table of every route and its access level, filled in as routes are registered; the route
 * guard test walks it.
 */
export function enforceRouteAccess(
  app: FastifyInstance,
  authenticators: Authenticators = {},
  publicRoutes: readonly string[] = PUBLIC_ROUTES,
): RouteAccess[] {
  const table: RouteAccess[] = [];
  app.addHook('onRoute', function checkAccess(route) {
    const declared = route.config?.access ?? (this as unknown as Record<symbol, unknown>)[scopeAccess];
    if (!isAccess(declared)) {
      throw new Error(
        `Route ${String(route.method)} ${route.url} must declare config.access as one of ${ACCESS_LEVELS.join(', ')}`,
      );
    }
    const methods = [route.method].flat().map(String);
    for (const method of methods) {
      if (declared === 'public' && !isListedPublic(method, route.url, publicRoutes)) {
        throw new Error(
          `Route ${method} ${route.url} declares public access but is not on the list in src/http/public-routes.ts`,
        );
      }
      const body = route.schema?.body;
      table.push({ method, url: route.url, access: declared, ...(body ? { body } : {}) });
    }
    route.config = { ...route.config, access: declared };
    if (declared === 'public') return;
    const own = route.onRequest ? [route.onRequest].flat() : [];
    route.onRequest = [denyingGuard(declared, authenticators[declared]), ...own];
  });
  return table;
}
