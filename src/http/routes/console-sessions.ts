import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { IssuedTokens } from '../../accounts/sessions.js';
import type { Services } from '../../app.js';
import { clientOf, principalOf } from '../auth.js';
import { HttpProblem, problemResponse } from '../problem.js';
import { logInBody } from './accounts.js';
import { tokenResponseSchema } from './sessions.js';

/**
 * The console's sessions (README "Console security"): the access token goes to the page, which keeps it in
 * memory only; the refresh token goes into an HttpOnly cookie that only these addresses receive, so no
 * script can read it and no other route accepts it. Other clients keep using /v1/sessions with tokens in
 * bodies and headers, which no browser sends on its own.
 */
export const REFRESH_COOKIE = 'hearth_console_refresh';
export const REFRESH_COOKIE_PATH = '/v1/console/sessions';

const consoleTokenSchema = tokenResponseSchema.omit({ refreshToken: true });

const crossSite = problemResponse('The request did not come from the console on this origin.');
const CROSS_SITE_DETAIL = 'This address answers the Hearth console on its own origin only.';

export interface ConsoleSessionRouteOptions extends Pick<Services, 'sessions' | 'logins'> {
  /** PUBLIC_URL: its origin is the console's, and https there makes the cookie Secure. */
  publicUrl: string;
}

function readCookie(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=') || undefined;
  }
  return undefined;
}

/**
 * A cookie rides along on any request the browser makes, so the routes that read it (and log-in, which
 * sets it) take only same-origin requests: SameSite=Strict keeps the cookie off cross-site requests, and
 * the Origin check refuses them outright, also in browsers that ignore SameSite.
 */
function requireSameOrigin(request: FastifyRequest, publicOrigin: string): void {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') throw new HttpProblem(403, CROSS_SITE_DETAIL);
  const origin = request.headers.origin;
  const ownOrigin = `${request.protocol}://${request.host}`;
  if (origin !== publicOrigin && origin !== ownOrigin) throw new HttpProblem(403, CROSS_SITE_DETAIL);
}

export const consoleSessionRoutes: FastifyPluginAsyncZod<ConsoleSessionRouteOptions> = async (
  app,
  { sessions, logins, publicUrl },
) => {
  const publicOrigin = new URL(publicUrl).origin;

  function cookie(request: FastifyRequest, value: string, maxAgeSeconds: number): string {
    const secure = request.protocol === 'https' || publicOrigin.startsWith('https:');
    return [
      `${REFRESH_COOKIE}=${value}`,
      `Path=${REFRESH_COOKIE_PATH}`,
      `Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`,
      'HttpOnly',
      'SameSite=Strict',
      ...(secure ? ['Secure'] : []),
    ].join('; ');
  }

  function answer(request: FastifyRequest, reply: FastifyReply, tokens: IssuedTokens) {
    const { refreshToken, ...rest } = tokens;
    const maxAge = (tokens.refreshExpiresAt.getTime() - Date.now()) / 1000;
    return reply.header('set-cookie', cookie(request, refreshToken, maxAge)).send(rest);
  }

  app.post(
    '/v1/console/sessions',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Log in from the console',
        description:
          'As POST /v1/sessions, but the refresh token is set as an HttpOnly, SameSite=Strict cookie scoped ' +
          'to /v1/console/sessions instead of being returned. Same-origin requests only.',
        tags: ['sessions'],
        body: logInBody,
        response: {
          200: consoleTokenSchema,
          400: problemResponse('A field is missing or not acceptable; see errors.'),
          401: problemResponse(
            'The address or password is not right, or the second factor is missing or wrong.',
          ),
          403: problemResponse('Cross-site request, or a new password must be chosen first.'),
          429: problemResponse('Too many attempts; retry after the Retry-After header.'),
        },
      },
    },
    async (request, reply) => {
      requireSameOrigin(request, publicOrigin);
      return answer(request, reply, await logins.logIn(request.body, clientOf(request)));
    },
  );

  app.post(
    '/v1/console/sessions/refresh',
    {
      config: { access: 'public' },
      schema: {
        summary: "Trade the console's refresh cookie for a new access token",
        description: 'The cookie is replaced by a new one: each refresh token is single use.',
        tags: ['sessions'],
        response: {
          200: consoleTokenSchema,
          401: problemResponse('No refresh cookie, or it is not valid or was reused.'),
          403: crossSite,
        },
      },
    },
    async (request, reply) => {
      requireSameOrigin(request, publicOrigin);
      const refreshToken = readCookie(request, REFRESH_COOKIE);
      if (!refreshToken || refreshToken.length > 200) {
        throw new HttpProblem(401, 'You are not signed in.');
      }
      try {
        return answer(request, reply, await sessions.refresh(refreshToken, clientOf(request)));
      } catch (error) {
        // A dead cookie is dropped, so the next page load does not try it again.
        reply.header('set-cookie', cookie(request, '', 0));
        throw error;
      }
    },
  );

  app.delete(
    '/v1/console/sessions/current',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Sign out of the console: end this session and drop its cookie',
        tags: ['sessions'],
        response: { 204: z.null(), 401: problemResponse('No valid access token.') },
      },
    },
    async (request, reply) => {
      const { userId, sessionId } = principalOf(request);
      await sessions.end(userId, sessionId, 'logout');
      return reply
        .header('set-cookie', cookie(request, '', 0))
        .code(204)
        .send(null);
    },
  );
};
