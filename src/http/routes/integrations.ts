import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../app.js';
import { PROVIDERS } from '../../integrations/clients.js';
import { idSchema } from '../../schema/ids.js';
import { principalOf } from '../auth.js';
import { problemResponse } from '../problem.js';
import { pageOf, pageQuery } from './paging.js';

const linkSchema = z.object({
  id: idSchema,
  provider: z.enum(PROVIDERS),
  clientName: z.string().describe('The name the operator gave this assistant, e.g. "Hearth for Alexa".'),
  home: z.object({
    id: idSchema,
    name: z.string().nullable().describe('Null once you are no longer a member.'),
  }),
  exposedDevices: z
    .array(z.object({ id: idSchema, name: z.string(), room: z.string().nullable() }))
    .describe('What the assistant may see and control: names, rooms and states, nothing else.'),
  includeNewDevices: z
    .boolean()
    .describe('Devices paired into the home later are added to exposedDevices (never a scale).'),
  linkedAt: z.date(),
  lastUsedAt: z.date().nullable().describe('When the assistant last used the link (to the minute).'),
});

const grantParams = z.object({ grantId: idSchema });
const unauthorised = problemResponse('No valid access token.');
const notFound = problemResponse('You have no such linked assistant.');

/** The signed-in person's linked assistants (Alexa, Google Home, IFTTT): see, narrow, unlink. */
export const integrationRoutes: FastifyPluginAsyncZod<Pick<Services, 'grants'>> = async (app, { grants }) => {
  app.get(
    '/v1/me/integrations',
    {
      config: { access: 'user' },
      schema: {
        summary: 'My linked assistants, newest first',
        tags: ['integrations'],
        querystring: pageQuery,
        response: {
          200: pageOf(linkSchema),
          400: problemResponse('The cursor is not one this list gave out.'),
          401: unauthorised,
        },
      },
    },
    async (request) => grants.listForUser(principalOf(request).userId, request.query),
  );

  app.patch(
    '/v1/me/integrations/:grantId',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Change which devices a linked assistant may see, now and when paired later',
        description:
          'Only devices of the link’s home that I may see myself; never a scale. The assistant is told. ' +
          'Send exposedDeviceIds, includeNewDevices or both.',
        tags: ['integrations'],
        params: grantParams,
        body: z
          .strictObject({
            exposedDeviceIds: z
              .array(idSchema)
              .max(1000)
              .optional()
              .describe('The complete new list; an empty list hides every device.'),
            includeNewDevices: z
              .boolean()
              .optional()
              .describe('Whether devices paired into the home later are shown to the assistant too.'),
          })
          .refine((body) => body.exposedDeviceIds !== undefined || body.includeNewDevices !== undefined, {
            message: 'must name exposedDeviceIds, includeNewDevices or both',
          }),
        response: {
          200: z.object({
            id: idSchema,
            exposedDeviceIds: z.array(idSchema),
            includeNewDevices: z.boolean(),
          }),
          400: problemResponse(
            'A device is not one of this home that I may expose, or a field has the wrong type; see errors.',
          ),
          401: unauthorised,
          404: notFound,
        },
      },
    },
    async (request) => {
      const grant = await grants.change(principalOf(request).userId, request.params.grantId, request.body);
      return {
        id: grant.id,
        exposedDeviceIds: [...grant.exposedDeviceIds],
        includeNewDevices: grant.includeNewDevices,
      };
    },
  );

  app.delete(
    '/v1/me/integrations/:grantId',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Unlink an assistant: every token it holds stops working at once',
        tags: ['integrations'],
        params: grantParams,
        response: { 204: z.null(), 401: unauthorised, 404: notFound },
      },
    },
    async (request, reply) => {
      await grants.revoke(principalOf(request).userId, request.params.grantId);
      return reply.code(204).send(null);
    },
  );
};
