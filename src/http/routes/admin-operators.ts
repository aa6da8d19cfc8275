import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AuditLog } from '../../audit/log.js';
import { OPERATOR_ROLES } from '../../operators/roles.js';
import type { OperatorService } from '../../operators/service.js';
import { idSchema } from '../../schema/ids.js';
import { operatorOf } from '../operator-auth.js';
import { problemResponse } from '../problem.js';

const operatorSchema = z.object({
  id: idSchema,
  email: z.string(),
  role: z.enum(OPERATOR_ROLES),
  createdAt: z.date(),
  disabledAt: z.date().nullable().describe('When the operator was disabled; null while active.'),
});

/** `hearth operators list` and `hearth audit verify` over HTTP, for the operator console. */
export const adminOperatorRoutes: FastifyPluginAsyncZod<{
  operators: Pick<OperatorService, 'list'>;
  audit: Pick<AuditLog, 'verify'>;
}> = async (app, { operators, audit }) => {
  app.get(
    '/v1/admin/operators',
    {
      config: { access: 'operator' },
      // No automatic HEAD route: HEAD would run the handler (an audit entry, a walk of the database) for no answer.
      exposeHeadRoute: false,
      schema: {
        summary: 'List every operator with role and status (hearth operators list)',
        description:
          'Admins only. Passwords, TOTP secrets and sessions are never shown. Each listing is written to the ' +
          'audit chain, as the CLI’s is.',
        tags: ['admin'],
        response: {
          200: z.object({ items: z.array(operatorSchema) }),
          401: problemResponse('No valid operator session.'),
          403: problemResponse('My operator role does not allow this.'),
        },
      },
    },
    async (request) => ({ items: await operators.list(operatorOf(request)) }),
  );

  app.get(
    '/v1/admin/audit/verify',
    {
      config: { access: 'operator' },
      exposeHeadRoute: false,
      schema: {
        summary: 'Check the whole audit chain (hearth audit verify)',
        description:
          'Any operator role. Walks the hash chain from its first entry and names the first one that was ' +
          'altered, removed or reordered; the walk reads every entry, so it may take seconds on a large log.',
        tags: ['admin'],
        response: {
          200: z.object({
            ok: z.boolean().describe('Whether every entry follows from the one before.'),
            entries: z.number().describe('Entries verified (before the first bad one, when not ok).'),
            lastHash: z.string().nullable().describe('The hash of the last entry, when ok.'),
            firstBadSeq: z.number().nullable().describe('The first entry that does not verify.'),
            problem: z.string().nullable().describe('What is wrong with it.'),
          }),
          401: problemResponse('No valid operator session.'),
        },
      },
    },
    async (request) => {
      operatorOf(request);
      const result = await audit.verify();
      return result.ok
        ? { ok: true, entries: result.count, lastHash: result.lastHash, firstBadSeq: null, problem: null }
        : {
            ok: false,
            entries: result.count,
            lastHash: null,
            firstBadSeq: result.firstBadSeq,
            problem: result.problem,
          };
    },
  );
};
