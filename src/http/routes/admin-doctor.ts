import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AuditLog } from '../../audit/log.js';
import { type DoctorReport, SEVERITIES } from '../../doctor/model.js';
import { operatorOf } from '../operator-auth.js';
import { problemResponse } from '../problem.js';

const findingSchema = z.object({
  id: z.string().describe('Stable for scripts: `<check>.<what>`.'),
  severity: z.enum(SEVERITIES),
  title: z.string(),
  evidence: z
    .string()
    .describe('Settings, addresses, counts and modes; never a stored value, password or key.'),
  fix: z.string(),
});

const reportSchema = z.object({
  ok: z.boolean().describe('No high finding (what makes `hearth doctor` exit 0).'),
  checks: z.array(z.object({ id: z.string(), title: z.string(), findings: z.array(findingSchema) })),
  counts: z.object({ high: z.number(), medium: z.number(), low: z.number(), info: z.number() }),
});

/** `hearth doctor` for operators over HTTP: the same checks, run on this node. */
export const adminDoctorRoutes: FastifyPluginAsyncZod<{
  doctor: () => Promise<DoctorReport>;
  audit: AuditLog;
}> = async (app, { doctor, audit }) => {
  app.get(
    '/v1/admin/doctor',
    {
      config: { access: 'operator' },
      // No automatic HEAD route: HEAD would run the handler (an audit entry, a walk of the database) for no answer.
      exposeHeadRoute: false,
      schema: {
        summary: 'Check the deployment for exposure and weak settings (hearth doctor)',
        description:
          'Any operator role. Each run is written to the audit chain with its counts, since the report maps ' +
          'where the deployment is weak. The database is walked (sealed columns, the audit chain), so a run ' +
          'may take seconds on a large one.',
        tags: ['admin'],
        response: { 200: reportSchema, 401: problemResponse('No valid operator token.') },
      },
    },
    async (request) => {
      const operator = operatorOf(request);
      const report = await doctor();
      await audit.append({ actor: operator.actor, action: 'doctor.run', details: { ...report.counts } });
      return report;
    },
  );
};
