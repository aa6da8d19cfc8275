import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_ROUTES } from '../../src/http/public-routes.js';
import { createUser } from '../helpers/accounts.js';
import { buildTestHttp, parseJson, type TestHttp } from './build.js';

/**
 * Default deny, proved over the whole route table rather than route by route: every address that is not on
 * the public list refuses a caller with no token, a made-up token, and a token whose session was revoked.
 */
describe('route guard', () => {
  let http: TestHttp;
  let revokedToken: string;

  beforeAll(async () => {
    http = await buildTestHttp();
    const user = await createUser(http.services);
    revokedToken = (await http.services.sessions.issue(user.id, {})).accessToken;
    await http.services.sessions.endAllForUser(user.id, 'test');
  });
  afterAll(async () => {
    await http.close();
  });

  /** A concrete URL for a route pattern: every path parameter gets a well-formed id. */
  const concrete = (url: string) => url.replace(/:[A-Za-z]+/g, () => randomUUID()).replace(/\*$/, 'x');

  it('walks a route table that has protected routes in it', () => {
    const protectedRoutes = http.app.routeAccess.filter((route) => route.access !== 'public');
    expect(protectedRoutes.length).toBeGreaterThan(10);
    expect(protectedRoutes).toContainEqual({ method: 'GET', url: '/v1/me', access: 'user' });
  });

  it('start-up refuses a public route that is not on the explicit public list', async () => {
    const attempt = buildTestHttp({
      routes: (app) => {
        app.get('/v1/forgotten', { config: { access: 'public' } }, async () => ({}));
      },
    });
    await expect(attempt).rejects.toThrow(
      'Route GET /v1/forgotten declares public access but is not on the list in src/http/public-routes.ts',
    );
  });

  it('the public list holds only sign-up, log-in, recovery, health, docs, the console page, OAuth and the assistants’ endpoints', () => {
    const publicPaths = new Set(
      http.app.routeAccess.filter((route) => route.access === 'public').map((route) => route.url),
    );
    for (const path of publicPaths) {
      expect(path).toMatch(
        /^\/($|assets\/|healthz|openapi\.json|docs|accept-invitation|account-pages\/|dev\/mail|oauth\/(authorize|token|revoke)$|\.well-known\/oauth-authorization-server$|v1\/(accounts|sessions|admin\/sessions|sessions\/refresh|console\/sessions(\/refresh)?|email-verifications|password-resets(\/complete)?|alexa\/directives|google\/fulfillment)$|ifttt\/v1\/)/,
      );
    }
    // Account linking added five (the page, token, revocation, metadata) and the assistants five (Alexa's
    // directives, Google's fulfillment, IFTTT's service API): the providers call them without a user session.
    expect(PUBLIC_ROUTES.length).toBeLessThan(28);
  });

  for (const [label, header] of [
    ['no token', undefined],
    ['a made-up token', 'Bearer hth_at_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['a malformed header', 'Basic dXNlcjpwYXNz'],
    ['a revoked token', 'revoked'],
  ] as const) {
    it(`every non-public route answers 401 problem+json to ${label}`, async () => {
      const failures: string[] = [];
      for (const route of http.app.routeAccess) {
        if (route.access === 'public') continue;
        const authorization = header === 'revoked' ? `Bearer ${revokedToken}` : header;
        const response = await http.app.inject({
          method: route.method as 'GET',
          url: concrete(route.url),
          // From another machine: a metrics scraper on this one needs no token (access 'scraper').
          remoteAddress: '203.0.113.9',
          headers: authorization ? { authorization } : {},
          ...(route.method === 'GET' || route.method === 'HEAD' ? {} : { payload: {} }),
        });
        const type = String(response.headers['content-type']);
        if (
          response.statusCode !== 401 ||
          (route.method !== 'HEAD' && !type.startsWith('application/problem+json'))
        ) {
          failures.push(`${route.method} ${route.url} → ${response.statusCode} ${type}`);
        } else if (route.method !== 'HEAD') {
          expect(parseJson(response.body)).toMatchObject({ status: 401, title: 'Unauthorized' });
        }
      }
      expect(failures).toEqual([]);
    });
  }
});
