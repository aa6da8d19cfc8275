import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../app.js';
import { EVENT_TYPES } from '../../devices/catalog.js';
import { instant } from '../../schema/dates.js';
import { idSchema } from '../../schema/ids.js';
import { principalOf } from '../auth.js';
import { problemResponse } from '../problem.js';

const commandSchema = z.object({
  id: idSchema,
  name: z.string(),
  params: z.record(z.string(), z.unknown()),
  status: z
    .enum(['pending', 'acknowledged', 'failed', 'timed-out'])
    .describe('`failed`: the device refused the command; `error` says why in its own words.'),
  error: z.string().nullable(),
  createdAt: z.date(),
  completedAt: z.date().nullable(),
});

const eventSchema = z.object({
  id: idSchema,
  deviceId: idSchema,
  type: z.enum(EVENT_TYPES),
  occurredAt: z.date(),
  receivedAt: z.date(),
  details: z
    .record(z.string(), z.unknown())
    .describe('What the device said about the event; depends on type.'),
});

const pageQuery = {
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional().describe("The previous page's `next`."),
};

/** A filter given by repeating the parameter or separating values with commas. */
const listParam = <T extends z.ZodType<unknown, string>>(item: T) =>
  z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((value) =>
      value === undefined
        ? undefined
        : (Array.isArray(value) ? value : [value]).flatMap((part) => part.split(',')).map((t) => t.trim()),
    )
    .pipe(z.array(item).max(100).optional());

const eventQueryFields = z.object({
  type: listParam(z.enum(EVENT_TYPES)).describe(
    `Only these types; repeat the parameter or separate with commas (${EVENT_TYPES.join(', ')}).`,
  ),
  from: instant.optional().describe('Only events that happened at or after this time (ISO 8601).'),
  to: instant.optional().describe('Only events that happened at or before this time (ISO 8601).'),
  ...pageQuery,
});

const checkRange = (query: { from?: Date | undefined; to?: Date | undefined }, context: z.RefinementCtx) => {
  if (query.from && query.to && query.from > query.to) {
    context.addIssue({ code: 'custom', path: ['from'], message: 'must not be after to' });
  }
};

const eventQuery = eventQueryFields.superRefine(checkRange);
const homeEventQuery = eventQueryFields
  .extend({
    device: listParam(idSchema).describe(
      'Only events of these devices of the home; repeat the parameter or separate with commas.',
    ),
  })
  .superRefine(checkRange);

const deviceParams = z.object({ deviceId: idSchema });
const unauthorised = problemResponse('No valid access token.');
const noDevice = problemResponse('No such device, or not one of mine.');
const badQuery = problemResponse('A filter or the cursor is not valid; see errors.');

/** Commands to devices and the events they reported. */
export const telemetryRoutes: FastifyPluginAsyncZod<
  Pick<Services['telemetry'], 'commands' | 'events'>
> = async (app, { commands, events }) => {
  app.post(
    '/v1/devices/:deviceId/commands',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Send a command to a device and wait for its answer',
        description:
          'Answers once the device acknowledges: `acknowledged`, or `failed` with its reason when it refused. ' +
          'The command’s effect is also applied to the desired state. An offline device answers 409 at once; ' +
          'no answer in time gives 504 naming the command, whose status is then `timed-out`.',
        tags: ['devices'],
        params: deviceParams,
        body: z.strictObject({
          name: z.string().min(1).max(64),
          params: z.record(z.string(), z.unknown()).optional(),
        }),
        response: {
          200: commandSchema,
          400: problemResponse('The model does not take this command, or a parameter is out of range.'),
          401: unauthorised,
          404: noDevice,
          409: problemResponse('The device is offline.'),
          503: problemResponse('The MQTT broker did not take the command; retry later.'),
          504: problemResponse('The device did not answer in time; `commandId` names the command.'),
        },
      },
    },
    async (request) =>
      commands.send(
        principalOf(request).userId,
        request.params.deviceId,
        request.body.name,
        request.body.params ?? {},
      ),
  );

  app.get(
    '/v1/devices/:deviceId/commands',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Commands sent to a device, newest first',
        tags: ['devices'],
        params: deviceParams,
        querystring: z.object(pageQuery),
        response: {
          200: z.object({ items: z.array(commandSchema), next: z.string().nullable() }),
          400: badQuery,
          401: unauthorised,
          404: noDevice,
        },
      },
    },
    async (request) => commands.list(principalOf(request).userId, request.params.deviceId, request.query),
  );

  app.get(
    '/v1/devices/:deviceId/commands/:commandId',
    {
      config: { access: 'user' },
      schema: {
        summary: 'One command sent to a device',
        tags: ['devices'],
        params: z.object({ deviceId: idSchema, commandId: idSchema }),
        response: {
          200: commandSchema,
          401: unauthorised,
          404: problemResponse('No such device or command.'),
        },
      },
    },
    async (request) =>
      commands.get(principalOf(request).userId, request.params.deviceId, request.params.commandId),
  );

  app.get(
    '/v1/devices/:deviceId/events',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Events of a device, newest first',
        tags: ['devices'],
        params: deviceParams,
        querystring: eventQuery,
        response: {
          200: z.object({ items: z.array(eventSchema), next: z.string().nullable() }),
          400: badQuery,
          401: unauthorised,
          404: noDevice,
        },
      },
    },
    async (request) => {
      const { cursor, limit, type, from, to } = request.query;
      return events.listForDevice(
        principalOf(request).userId,
        request.params.deviceId,
        { types: type, from, to },
        { cursor, limit },
      );
    },
  );

  app.get(
    '/v1/homes/:homeId/events',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Events of every device in a home, newest first',
        description: 'A guest sees the events of the devices shared with them only.',
        tags: ['devices'],
        params: z.object({ homeId: idSchema }),
        querystring: homeEventQuery,
        response: {
          200: z.object({ items: z.array(eventSchema), next: z.string().nullable() }),
          400: badQuery,
          401: unauthorised,
          404: problemResponse('No such home, or not one of mine.'),
        },
      },
    },
    async (request) => {
      const { cursor, limit, type, device, from, to } = request.query;
      return events.listForHome(
        principalOf(request).userId,
        request.params.homeId,
        { types: type, deviceIds: device, from, to },
        { cursor, limit },
      );
    },
  );
};
