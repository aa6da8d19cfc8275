import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../app.js';
import { DATA_CATEGORY_IDS } from '../../incidents/categories.js';
import { incidentAmendmentSchema, incidentInputSchema } from '../../incidents/input.js';
import { RESPONSE_ACTIONS } from '../../incidents/model.js';
import { idSchema } from '../../schema/ids.js';
import { operatorOf } from '../operator-auth.js';
import { HttpProblem, problemResponse } from '../problem.js';
import { pageOf, pageQuery } from './paging.js';

const counts = z.record(z.string(), z.number());

const incidentSchema = z.object({
  id: idSchema,
  title: z.string(),
  description: z.string(),
  detectedAt: z.date(),
  windowFrom: z.date(),
  windowTo: z.date(),
  stores: z.array(z.string()),
  categories: z.array(z.enum(DATA_CATEGORY_IDS)),
  scope: z.record(z.string(), z.unknown()),
  status: z.enum(['declared', 'contained', 'notifying', 'closed']),
  declaredBy: z.string(),
  createdAt: z.date(),
  updatedAt: z.date(),
  resolvedAt: z.date().nullable(),
  affectedCount: z.number().nullable().describe('People affected; null until the affected set is resolved.'),
  categoryCounts: counts.nullable().describe('People affected per data category.'),
  recordCounts: counts.nullable().describe('Approximate records exposed per data category.'),
});

const actionSchema = z.object({
  action: z.enum(RESPONSE_ACTIONS),
  params: z.object({
    scope: z.enum(['affected', 'everyone']).optional(),
    mode: z.enum(['revoke', 'deliver']).optional(),
  }),
  status: z.enum(['running', 'done', 'failed']),
  total: z.number(),
  done: z.number(),
  startedBy: z.string(),
  startedAt: z.date(),
  finishedAt: z.date().nullable(),
  error: z.string().nullable(),
});

const noticeCounts = z.object({
  pending: z.number(),
  queued: z.number(),
  sent: z.number(),
  failed: z.number(),
  skipped: z.number(),
});
const noticeStatus = z.enum(['pending', 'queued', 'sent', 'failed', 'skipped']);
const renderedSchema = z.object({ subject: z.string(), text: z.string(), html: z.string() });

const actionRequest = z.discriminatedUnion('action', [
  z.strictObject({
    action: z.literal('end-sessions'),
    params: z.strictObject({ scope: z.enum(['affected', 'everyone']).optional() }).optional(),
  }),
  z.strictObject({
    action: z.literal('force-reset'),
    params: z.strictObject({ scope: z.enum(['affected', 'everyone']).optional() }).optional(),
  }),
  z.strictObject({ action: z.literal('revoke-integrations') }),
  z.strictObject({
    action: z.literal('rotate-device-credentials'),
    params: z.strictObject({ mode: z.enum(['revoke', 'deliver']).optional() }).optional(),
  }),
  z.strictObject({ action: z.literal('rotate-kek') }),
]);

const incidentParams = z.object({ incidentId: idSchema });
const lateCustomers = {
  createdAfterWindow: z
    .number()
    .describe("Customers created after the window's end, who cannot be affected by the incident."),
  warnings: z
    .array(z.string())
    .describe('What the operator should check, e.g. a window that ends too early.'),
};
const invalid = problemResponse('A field is not acceptable; see errors.');
const unauthorised = problemResponse('No valid operator session.');
const forbidden = problemResponse('My operator role does not allow this.');
const notFound = problemResponse('There is no such incident.');
const conflict = problemResponse(
  'The incident is not in a state that allows this now, or its work is running already (`action-running-elsewhere`: another node or the CLI holds the action, until `leaseExpiresAt` unless renewed).',
);
const startedResponses = {
  202: z.object({ started: z.boolean() }),
  400: invalid,
  401: unauthorised,
  403: forbidden,
  404: notFound,
  409: conflict,
};
// Several nodes sit behind one address, so the operator is told what runs, not where.
const busy = () =>
  new HttpProblem(
    409,
    'Work for this incident started by an earlier request is still running; watch its progress in the incident.',
  );

/**
 * The operator API for breach response. Everything here needs an operator session (password + TOTP);
 * long work answers 202 and runs on, its progress visible in GET /v1/admin/incidents/{id}.
 */
export const adminIncidentRoutes: FastifyPluginAsyncZod<
  Pick<Services, 'incidents' | 'incidentJobs'>
> = async (app, { incidents, incidentJobs: jobs }) => {
  const startJob = (incidentId: string, kind: string, work: (signal: AbortSignal) => Promise<unknown>) => {
    if (!jobs.start(incidentId, kind, work)) throw busy();
  };

  app.get(
    '/v1/admin/incidents',
    {
      config: { access: 'operator' },
      // No automatic HEAD route: HEAD would run the handler (an audit entry, a walk of the database) for no answer.
      exposeHeadRoute: false,
      schema: {
        summary: 'List incidents, newest first',
        tags: ['incidents'],
        querystring: pageQuery,
        response: { 200: pageOf(incidentSchema), 400: invalid, 401: unauthorised, 403: forbidden },
      },
    },
    async (request) => incidents.list(operatorOf(request), request.query),
  );

  app.post(
    '/v1/admin/incidents',
    {
      config: { access: 'operator' },
      schema: {
        summary: 'Declare an incident',
        tags: ['incidents'],
        body: incidentInputSchema,
        response: { 201: incidentSchema, 400: invalid, 401: unauthorised, 403: forbidden },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await incidents.declare(request.body, operatorOf(request))),
  );

  app.post(
    '/v1/admin/incidents/drill',
    {
      config: { access: 'operator' },
      schema: {
        summary:
          'Dry-run an incident: affected counts, a sample notice, a time estimate; nothing is stored or sent',
        tags: ['incidents'],
        body: incidentInputSchema,
        response: {
          200: z.object({
            affected: z.number(),
            categoryCounts: counts,
            recordCounts: counts,
            sampleNotice: renderedSchema.nullable(),
            estimate: z.record(z.string(), z.number()).describe('Seconds per stage.'),
            listedUnmatched: z.number(),
            ...lateCustomers,
          }),
          400: invalid,
          401: unauthorised,
          403: forbidden,
        },
      },
    },
    async (request) => incidents.drill(request.body, operatorOf(request)),
  );

  app.get(
    '/v1/admin/incidents/:incidentId',
    {
      config: { access: 'operator' },
      exposeHeadRoute: false,
      schema: {
        summary: 'An incident with its timeline, action progress and notice counts',
        tags: ['incidents'],
        params: incidentParams,
        response: {
          200: z.object({
            incident: incidentSchema,
            timeline: z.array(
              z.object({
                seq: z.number(),
                at: z.date(),
                actor: z.string(),
                kind: z.string(),
                summary: z.string(),
                details: z.record(z.string(), z.unknown()),
              }),
            ),
            actions: z.array(actionSchema),
            notices: noticeCounts,
            working: z.boolean().describe('Whether actions or notices are being processed on this node now.'),
          }),
          400: invalid,
          401: unauthorised,
          403: forbidden,
          404: notFound,
        },
      },
    },
    async (request) => ({
      ...(await incidents.show(request.params.incidentId, operatorOf(request))),
      working: jobs.isRunning(request.params.incidentId),
    }),
  );

  app.patch(
    '/v1/admin/incidents/:incidentId',
    {
      config: { access: 'operator' },
      schema: {
        summary:
          'Amend a declared incident (any field of the declaration) until its affected set is frozen; a resolved set is discarded',
        tags: ['incidents'],
        params: incidentParams,
        body: incidentAmendmentSchema,
        response: {
          200: incidentSchema,
          400: invalid,
          401: unauthorised,
          403: forbidden,
          404: notFound,
          409: conflict,
        },
      },
    },
    async (request) => incidents.amend(request.params.incidentId, request.body, operatorOf(request)),
  );

  app.post(
    '/v1/admin/incidents/:incidentId/resolve',
    {
      config: { access: 'operator' },
      schema: {
        summary: 'Compute who was affected and which of their data, as the incident snapshot',
        tags: ['incidents'],
        params: incidentParams,
        response: {
          200: z.object({
            affected: z.number(),
            categoryCounts: counts,
            recordCounts: counts,
            ...lateCustomers,
          }),
          401: unauthorised,
          403: forbidden,
          404: notFound,
          409: conflict,
        },
      },
    },
    async (request) => incidents.resolve(request.params.incidentId, operatorOf(request)),
  );

  app.post(
    '/v1/admin/incidents/:incidentId/actions',
    {
      config: { access: 'operator' },
      schema: {
        summary: 'Start response actions; they run on and report progress in the incident',
        tags: ['incidents'],
        params: incidentParams,
        body: z.strictObject({ actions: z.array(actionRequest).min(1).max(RESPONSE_ACTIONS.length) }),
        response: startedResponses,
      },
    },
    async (request, reply) => {
      const operator = operatorOf(request);
      const { incidentId } = request.params;
      // Checked before answering, so a bad request is refused now rather than failing in the background.
      await incidents.checkRespond(incidentId, request.body.actions, operator);
      if (jobs.isRunning(incidentId)) throw busy();
      // Refused now with a 409, not in the background after a 202: another node or the CLI holds the lease.
      await incidents.requireActionsIdle(incidentId, request.body.actions);
      startJob(incidentId, 'actions', (signal) =>
        incidents.respond(incidentId, request.body.actions, operator, { signal }),
      );
      return reply.code(202).send({ started: true });
    },
  );

  app.post(
    '/v1/admin/incidents/:incidentId/notices',
    {
      config: { access: 'operator' },
      schema: {
        summary: 'Queue one notice per affected person and hand them to the mail outbox at the given rate',
        tags: ['incidents'],
        params: incidentParams,
        body: z.strictObject({ ratePerSecond: z.number().positive().max(10_000).optional() }).default({}),
        response: startedResponses,
      },
    },
    async (request, reply) => {
      const operator = operatorOf(request);
      const { incidentId } = request.params;
      await incidents.checkNotify(incidentId, operator);
      const rate = request.body.ratePerSecond;
      startJob(incidentId, 'notices', (signal) =>
        incidents.notify(incidentId, operator, { signal, ...(rate ? { ratePerSecond: rate } : {}) }),
      );
      return reply.code(202).send({ started: true });
    },
  );

  app.get(
    '/v1/admin/incidents/:incidentId/notices',
    {
      config: { access: 'operator' },
      exposeHeadRoute: false,
      schema: {
        summary: 'Delivery status per person (queued, sent, failed), with counts',
        tags: ['incidents'],
        params: incidentParams,
        querystring: z.object({
          status: noticeStatus.optional(),
          limit: pageQuery.shape.limit,
          after: idSchema.optional().describe("The previous page's `next`."),
        }),
        response: {
          200: z.object({
            counts: noticeCounts,
            items: z.array(
              z.object({
                userId: idSchema,
                status: noticeStatus,
                attempt: z.number(),
                queuedAt: z.date().nullable(),
              }),
            ),
            next: z.string().nullable(),
          }),
          400: invalid,
          401: unauthorised,
          403: forbidden,
          404: notFound,
        },
      },
    },
    async (request) =>
      incidents.noticeStatus(request.params.incidentId, operatorOf(request), {
        limit: request.query.limit,
        ...(request.query.status ? { status: request.query.status } : {}),
        ...(request.query.after ? { after: request.query.after } : {}),
      }),
  );

  app.post(
    '/v1/admin/incidents/:incidentId/notices/resend',
    {
      config: { access: 'operator' },
      schema: {
        summary: 'Queue failed notices again',
        tags: ['incidents'],
        params: incidentParams,
        response: {
          200: z.object({ resent: z.number() }),
          401: unauthorised,
          403: forbidden,
          404: notFound,
          409: conflict,
        },
      },
    },
    async (request) => ({
      resent: await incidents.resendFailed(request.params.incidentId, operatorOf(request)),
    }),
  );

  app.post(
    '/v1/admin/incidents/:incidentId/notices/preview',
    {
      config: { access: 'operator' },
      schema: {
        summary:
          "Render the notice one affected person would get (the first one, or userId's), from the current template",
        tags: ['incidents'],
        params: incidentParams,
        body: z.strictObject({ userId: idSchema.optional() }).default({}),
        response: { 200: renderedSchema, 400: invalid, 401: unauthorised, 403: forbidden, 404: notFound },
      },
    },
    async (request) =>
      incidents.previewNotice(request.params.incidentId, operatorOf(request), request.body.userId),
  );

  app.get(
    '/v1/admin/incidents/:incidentId/report',
    {
      config: { access: 'operator' },
      exposeHeadRoute: false,
      schema: {
        summary: 'The GDPR Art. 33 report for the supervisory authority, as JSON or Markdown',
        tags: ['incidents'],
        params: incidentParams,
        querystring: z.object({ format: z.enum(['json', 'markdown']).default('json') }),
        response: { 200: z.unknown(), 400: invalid, 401: unauthorised, 403: forbidden, 404: notFound },
      },
    },
    async (request, reply) => {
      const report = await incidents.report(request.params.incidentId, operatorOf(request));
      if (request.query.format === 'markdown') {
        return reply.type('text/markdown; charset=utf-8').send(report.markdown);
      }
      return report.json;
    },
  );

  app.post(
    '/v1/admin/incidents/:incidentId/close',
    {
      config: { access: 'operator' },
      schema: {
        summary: 'Close the incident once every notice is delivered or failed',
        tags: ['incidents'],
        params: incidentParams,
        response: { 200: incidentSchema, 401: unauthorised, 403: forbidden, 404: notFound, 409: conflict },
      },
    },
    async (request) => incidents.close(request.params.incidentId, operatorOf(request)),
  );
};
