import formBody from '@fastify/formbody';
import type { FastifyError, FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../app.js';
import type { EndpointAnswer } from '../../integrations/oauth-server.js';
import { toProblem } from '../problem.js';

/**
 * A form the authorization server checks itself: every field optional here, so that a missing or repeated
 * one gets the RFC 6749 error the providers parse rather than a problem document.
 */
const formOf = (fields: Record<string, string>) =>
  z.looseObject(
    Object.fromEntries(
      Object.entries(fields).map(([name, description]) => [
        name,
        z.unknown().optional().describe(description),
      ]),
    ),
  );

const oauthError = z
  .object({ error: z.string(), error_description: z.string().optional() })
  .describe('An RFC 6749 §5.2 error, which is what assistants parse.');

function send(reply: FastifyReply, answer: EndpointAnswer) {
  reply.code(answer.status).headers(answer.headers);
  return reply.send(answer.body ?? {});
}

/**
 * The authorization server's machine endpoints for Alexa, Google and IFTTT: token, revocation (RFC 7009)
 * and metadata (RFC 8414). Form bodies are parsed in this scope only: the rest of the API stays JSON-only,
 * so no other route can be posted to by a plain cross-site form. The bodies are handed to the OAuth library
 * unvalidated, because its RFC 6749 errors (not problem documents) are what the providers read.
 */
export const oauthRoutes: FastifyPluginAsyncZod<Pick<Services, 'authorizationServer'>> = async (
  app,
  { authorizationServer },
) => {
  await app.register(formBody);

  // What is refused before a handler runs (media type, JSON, size, NUL) still gets the RFC 6749 error the
  // providers parse; a problem document would be unreadable to them. Anything else goes to the app's handler.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const problem = toProblem(error, request);
    if (problem.status >= 500) throw error;
    request.log.info({ status: problem.status, errorCode: error.code }, 'request refused');
    const description =
      problem.status === 415 || error.validation
        ? 'Send the parameters as a form: application/x-www-form-urlencoded.'
        : problem.detail.replace(/; see errors\.$/, '.');
    return reply
      .code(problem.status)
      .headers({ ...problem.headers, 'cache-control': 'no-store' })
      .send({ error: 'invalid_request', error_description: description });
  });

  app.post(
    '/oauth/token',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Exchange an authorization code (with its PKCE verifier) or a refresh token for tokens',
        description:
          'Client authentication by HTTP Basic or `client_id` and `client_secret` in the body. Access tokens ' +
          'last an hour. Refresh tokens rotate: a retry with the previous one within 30 seconds gets the same ' +
          'new pair; a reuse after that ends the link.',
        tags: ['oauth'],
        body: formOf({
          grant_type: 'authorization_code or refresh_token',
          code: 'The code from the redirect (authorization_code)',
          redirect_uri: 'The same redirect URI as in the authorization request',
          code_verifier: 'The PKCE verifier whose S256 challenge was sent',
          refresh_token: 'The current refresh token (refresh_token)',
          client_id: 'Unless sent by HTTP Basic',
          client_secret: 'Unless sent by HTTP Basic',
        }),
        response: {
          200: z.object({
            access_token: z.string(),
            token_type: z.literal('Bearer'),
            expires_in: z.number().int().describe('Seconds: 3600.'),
            refresh_token: z.string(),
            scope: z.string().optional(),
          }),
          400: oauthError,
          401: oauthError,
        },
      },
    },
    async (request, reply) =>
      send(
        reply,
        await authorizationServer.token(
          request.body ?? {},
          request.headers as Record<string, string | undefined>,
        ),
      ),
  );

  app.post(
    '/oauth/revoke',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Revoke a token (RFC 7009): the whole link it belongs to ends',
        tags: ['oauth'],
        body: formOf({
          token: 'An access or refresh token',
          token_type_hint: 'access_token or refresh_token (optional; either is found)',
          client_id: 'Unless sent by HTTP Basic',
          client_secret: 'Unless sent by HTTP Basic',
        }),
        response: {
          200: z.object({}).describe('Revoked, or the token was unknown (the RFC answers both alike).'),
          400: oauthError,
          401: oauthError,
        },
      },
    },
    async (request, reply) =>
      send(reply, await authorizationServer.revoke(request.body ?? {}, request.headers.authorization)),
  );

  app.get(
    '/.well-known/oauth-authorization-server',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Authorization server metadata (RFC 8414)',
        tags: ['oauth'],
        response: { 200: z.looseObject({ issuer: z.string() }) },
      },
    },
    async (_request, reply) =>
      reply.header('cache-control', 'public, max-age=3600').send(authorizationServer.metadata()),
  );
};
