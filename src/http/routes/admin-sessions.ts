import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { OPERATOR_ROLES } from '../../operators/roles.js';
import type { OperatorService } from '../../operators/service.js';
import { idSchema } from '../../schema/ids.js';
import { clientOf } from '../auth.js';
import { operatorTokenOf } from '../operator-auth.js';
import { problemResponse } from '../problem.js';

const operatorSessionSchema = z.object({
  token: z.string().describe('Send as `Authorization: Bearer <token>` to the /v1/admin routes.'),
  expiresAt: z.date().describe('One hour after the login; there is no refresh, log in again.'),
  operator: z.object({ id: idSchema, role: z.enum(OPERATOR_ROLES) }),
});

/** Operator log-in and log-out. Staff sessions are separate from customers' and never accepted by them. */
export const adminSessionRoutes: FastifyPluginAsyncZod<{ operators: OperatorService }> = async (
  app,
  { operators },
) => {
  app.post(
    '/v1/admin/sessions',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Operator log-in: e-mail, password and a current authenticator code',
        description:
          'Every failure (unknown address, wrong password, missing, wrong or already used code, disabled ' +
          'operator) answers the same 401. Each code is accepted once.',
        tags: ['admin'],
        // Bounds only: a missing code is a failed login like any other, not a malformed request.
        body: z.object({
          email: z.string().max(254),
          password: z.string().max(1024),
          code: z.string().max(16).optional(),
        }),
        response: {
          201: operatorSessionSchema,
          401: problemResponse('The e-mail address, password or code is not right.'),
          429: problemResponse('Too many attempts; retry after the Retry-After header.'),
        },
      },
    },
    async (request, reply) => {
      const { email, password, code } = request.body;
      const { ip } = clientOf(request);
      const session = await operators.login({ email, password, code: code ?? '', ...(ip ? { ip } : {}) });
      return reply.code(201).send({
        token: session.token,
        expiresAt: session.expiresAt,
        operator: { id: session.operator.operatorId, role: session.operator.role },
      });
    },
  );

  app.delete(
    '/v1/admin/sessions/current',
    {
      config: { access: 'operator' },
      schema: {
        summary: 'Operator log-out: end this session',
        tags: ['admin'],
        response: { 204: z.null(), 401: problemResponse('No valid operator token.') },
      },
    },
    async (request, reply) => {
      await operators.logout(operatorTokenOf(request));
      return reply.code(204).send(null);
    },
  );
};
