import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../app.js';
import { instant } from '../../schema/dates.js';
import { idSchema } from '../../schema/ids.js';
import { clientOf, principalOf } from '../auth.js';
import { problemResponse } from '../problem.js';
import { passwordField } from './accounts.js';

/** What a login and a refresh answer with; login (accounts routes) uses the same shape. */
export const tokenResponseSchema = z.object({
  tokenType: z.literal('Bearer'),
  accessToken: z.string().describe('Send as `Authorization: Bearer <accessToken>`.'),
  expiresIn: z.number().int().describe('Seconds until the access token expires.'),
  refreshToken: z
    .string()
    .describe('Single use: each refresh returns a new one. Reusing an old one ends the session.'),
  refreshExpiresAt: z.date().describe('The absolute end of this session; refreshing does not extend it.'),
  sessionId: idSchema,
});

const sessionSchema = z.object({
  id: idSchema,
  current: z.boolean().describe('Whether this is the session making the request.'),
  createdAt: z.date(),
  lastUsedAt: z.date(),
  expiresAt: z.date(),
  userAgent: z.string().nullable(),
  ip: z.string().nullable(),
});

const sessionListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  before: instant
    .optional()
    .describe("Return sessions created before this time (the previous page's `next`)."),
});

const unauthorised = problemResponse('No valid access token.');

export const sessionRoutes: FastifyPluginAsyncZod<Pick<Services, 'sessions' | 'accounts'>> = async (
  app,
  { sessions, accounts },
) => {
  app.post(
    '/v1/sessions/refresh',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Trade a refresh token for new tokens',
        tags: ['sessions'],
        body: z.object({ refreshToken: z.string().min(1).max(200) }),
        response: {
          200: tokenResponseSchema,
          401: problemResponse('The refresh token is not valid or was reused.'),
        },
      },
    },
    async (request) => sessions.refresh(request.body.refreshToken, clientOf(request)),
  );

  app.get(
    '/v1/sessions',
    {
      config: { access: 'user' },
      schema: {
        summary: 'List my live sessions, newest first',
        tags: ['sessions'],
        querystring: sessionListQuery,
        response: {
          200: z.object({ items: z.array(sessionSchema), next: z.date().nullable() }),
          401: unauthorised,
        },
      },
    },
    async (request) => {
      const { userId, sessionId } = principalOf(request);
      const { limit, before } = request.query;
      const rows = await sessions.list(userId, { limit: limit + 1, ...(before ? { before } : {}) });
      const items = rows.slice(0, limit).map((row) => ({ ...row, current: row.id === sessionId }));
      return { items, next: rows.length > limit ? (items.at(-1)?.createdAt ?? null) : null };
    },
  );

  app.delete(
    '/v1/sessions/current',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Log out: end this session',
        tags: ['sessions'],
        response: { 204: z.null(), 401: unauthorised },
      },
    },
    async (request, reply) => {
      const { userId, sessionId } = principalOf(request);
      await sessions.end(userId, sessionId, 'logout');
      return reply.code(204).send(null);
    },
  );

  app.delete(
    '/v1/sessions/:sessionId',
    {
      config: { access: 'user' },
      schema: {
        summary: 'End one of my sessions',
        tags: ['sessions'],
        params: z.object({ sessionId: idSchema }),
        response: { 204: z.null(), 401: unauthorised, 404: problemResponse('You have no such session.') },
      },
    },
    async (request, reply) => {
      const { userId } = principalOf(request);
      await sessions.end(userId, request.params.sessionId, 'ended-by-user');
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/sessions/end-others',
    {
      config: { access: 'user' },
      schema: {
        summary: 'End every other session of mine (needs my password)',
        tags: ['sessions'],
        body: z.object({ password: passwordField }),
        response: {
          204: z.null(),
          400: problemResponse('The password is wrong.'),
          401: unauthorised,
          429: problemResponse('Too many password attempts; retry after the Retry-After header.'),
        },
      },
    },
    async (request, reply) => {
      await accounts.endOtherSessions(principalOf(request), request.body.password);
      return reply.code(204).send(null);
    },
  );
};
