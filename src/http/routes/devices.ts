import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../app.js';
import { DEVICE_MODELS } from '../../devices/catalog.js';
import { provisioningSchema } from '../../devices/pairing.js';
import { deviceTopic } from '../../devices/topics.js';
import { idSchema } from '../../schema/ids.js';
import { principalOf } from '../auth.js';
import { claimTokenOf } from '../device-auth.js';
import { problemResponse } from '../problem.js';

const deviceSchema = z.object({
  id: idSchema,
  homeId: idSchema,
  model: z.enum(DEVICE_MODELS),
  firmware: z.string(),
  nickname: z.string().nullable(),
  room: z.string().nullable(),
  ssid: z.string().nullable().optional().describe('Only for the home’s admins and owners.'),
  mac: z.string().optional().describe('Only for the home’s admins and owners.'),
  serial: z.string().optional().describe('Only for the home’s admins and owners.'),
  pairedAt: z.date(),
  online: z.object({ connected: z.boolean(), lastSeenAt: z.date().nullable() }),
  shadow: z.object({
    reported: z.record(z.string(), z.unknown()),
    reportedVersion: z.number().int(),
    reportedAt: z.date().nullable(),
    desired: z.record(z.string(), z.unknown()),
    desiredVersion: z.number().int(),
  }),
});

type View = Awaited<ReturnType<Services['devices']['get']>>;

function toWire(device: View): z.infer<typeof deviceSchema> {
  return {
    id: device.id,
    homeId: device.homeId,
    model: device.model,
    firmware: device.firmware,
    nickname: device.nickname,
    room: device.room,
    ...(device.mac === undefined ? {} : { ssid: device.ssid, mac: device.mac, serial: device.serial }),
    pairedAt: device.pairedAt,
    online: { connected: device.connected, lastSeenAt: device.lastSeenAt },
    shadow: {
      reported: device.reported,
      reportedVersion: device.reportedVersion,
      reportedAt: device.reportedAt,
      desired: device.desired,
      desiredVersion: device.desiredVersion,
    },
  };
}

const nameField = z.string().trim().min(1, 'must not be empty').max(64, 'must be at most 64 characters');
const shareSchema = z.object({ userId: idSchema, sharedAt: z.date() });

const deviceParams = z.object({ deviceId: idSchema });
const shareParams = z.object({ deviceId: idSchema, userId: idSchema });
const unauthorised = problemResponse('No valid access token.');
const noDevice = problemResponse('No such device, or not one of mine.');
const notManager = problemResponse('Only the home’s admins and owners may do this.');

/** The device registry: claim tokens, provisioning, viewing, naming, sharing, removal and reset. */
export const deviceRoutes: FastifyPluginAsyncZod<Pick<Services, 'devices' | 'broker'>> = async (
  app,
  { devices, broker },
) => {
  app.post(
    '/v1/homes/:homeId/claim-tokens',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Get a claim token to pair a device with this home',
        description:
          'Single use, valid 10 minutes. Hand it to the device, which presents it to POST /v1/provisioning. ' +
          'Needs an admin or owner of the home with a confirmed e-mail address.',
        tags: ['devices'],
        params: z.object({ homeId: idSchema }),
        response: {
          201: z.object({ claimToken: z.string(), expiresAt: z.date() }),
          401: unauthorised,
          403: problemResponse('My e-mail address is not confirmed, or I am not an admin of the home.'),
          404: problemResponse('No such home, or not one of mine.'),
        },
      },
    },
    async (request, reply) => {
      const token = await devices.pairing.issueClaimToken(principalOf(request).userId, request.params.homeId);
      return reply.code(201).send(token);
    },
  );

  app.post(
    '/v1/provisioning',
    {
      config: { access: 'device' },
      schema: {
        summary: 'A device trades a claim token for its MQTT credentials',
        description:
          'Called by the device with `Authorization: Bearer <claim token>`. The password appears only in ' +
          'this answer. A device already paired in the same home is paired again: new credentials, the old ' +
          'ones refused from now on.',
        tags: ['devices'],
        body: provisioningSchema,
        response: {
          201: z.object({
            deviceId: idSchema,
            mqtt: z.object({ url: z.string(), username: z.string(), password: z.string() }),
            topics: z.object({
              state: z.string(),
              events: z.string(),
              acks: z.string(),
              status: z.string(),
              commands: z.string(),
            }),
          }),
          400: problemResponse('A field is not acceptable; see errors.'),
          401: problemResponse('No claim token, or one that was never issued.'),
          409: problemResponse('The device belongs to another home, or its identity is inconsistent.'),
          410: problemResponse('The claim token has expired or was already used.'),
        },
      },
    },
    async (request, reply) => {
      const { deviceId, password } = await devices.pairing.provision(
        claimTokenOf(request),
        request.body,
        request.ip,
      );
      return reply.code(201).send({
        deviceId,
        mqtt: { url: broker.deviceUrl(), username: deviceId, password },
        topics: {
          state: deviceTopic(deviceId, 'state'),
          events: deviceTopic(deviceId, 'events'),
          acks: deviceTopic(deviceId, 'acks'),
          status: deviceTopic(deviceId, 'status'),
          commands: deviceTopic(deviceId, 'commands'),
        },
      });
    },
  );

  app.get(
    '/v1/homes/:homeId/devices',
    {
      config: { access: 'user' },
      schema: {
        summary: 'List the devices of a home',
        description: 'Oldest pairing first. A guest sees only the devices shared with them.',
        tags: ['devices'],
        params: z.object({ homeId: idSchema }),
        querystring: z.object({
          limit: z.coerce.number().int().min(1).max(100).default(20),
          cursor: z.string().max(200).optional().describe("The previous page's `next`."),
        }),
        response: {
          200: z.object({ items: z.array(deviceSchema), next: z.string().nullable() }),
          400: problemResponse('The cursor is not one this list gave out.'),
          401: unauthorised,
          404: problemResponse('No such home, or not one of mine.'),
        },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      const page = await devices.list(principalOf(request).userId, request.params.homeId, { limit, cursor });
      return { items: page.items.map(toWire), next: page.next };
    },
  );

  app.get(
    '/v1/devices/:deviceId',
    {
      config: { access: 'user' },
      schema: {
        summary: 'A device, its shadow and whether it is online',
        tags: ['devices'],
        params: deviceParams,
        response: { 200: deviceSchema, 401: unauthorised, 404: noDevice },
      },
    },
    async (request) => toWire(await devices.get(principalOf(request).userId, request.params.deviceId)),
  );

  app.patch(
    '/v1/devices/:deviceId',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Name a device or put it in a room',
        description: 'A string sets the field, null clears it, an absent field stays as it is.',
        tags: ['devices'],
        params: deviceParams,
        body: z.strictObject({
          nickname: nameField.nullable().optional(),
          room: nameField.nullable().optional(),
        }),
        response: {
          200: deviceSchema,
          400: problemResponse('A field is not acceptable; see errors.'),
          401: unauthorised,
          403: notManager,
          404: noDevice,
        },
      },
    },
    async (request) =>
      toWire(await devices.rename(principalOf(request).userId, request.params.deviceId, request.body)),
  );

  app.delete(
    '/v1/devices/:deviceId',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Remove a device',
        description:
          'Its MQTT credentials are refused at once and its live connection dropped; third-party links ' +
          'forget it; its events and commands are deleted. It must be paired again to come back.',
        tags: ['devices'],
        params: deviceParams,
        response: { 204: z.null(), 401: unauthorised, 403: notManager, 404: noDevice },
      },
    },
    async (request, reply) => {
      await devices.remove(principalOf(request).userId, request.params.deviceId);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/devices/:deviceId/factory-reset',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Factory-reset a device',
        description:
          'Unpairs it like a removal. No command is sent: the device resets itself when the broker refuses ' +
          'its credentials.',
        tags: ['devices'],
        params: deviceParams,
        response: { 204: z.null(), 401: unauthorised, 403: notManager, 404: noDevice },
      },
    },
    async (request, reply) => {
      await devices.factoryResetBy(principalOf(request).userId, request.params.deviceId);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/devices/:deviceId/shares',
    {
      config: { access: 'user' },
      schema: {
        summary: 'The guests a device is shared with',
        tags: ['devices'],
        params: deviceParams,
        response: {
          200: z.object({ items: z.array(shareSchema) }),
          401: unauthorised,
          403: notManager,
          404: noDevice,
        },
      },
    },
    async (request) => ({
      items: await devices.listShares(principalOf(request).userId, request.params.deviceId),
    }),
  );

  app.put(
    '/v1/devices/:deviceId/shares/:userId',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Share a device with a guest of its home',
        tags: ['devices'],
        params: shareParams,
        response: {
          200: shareSchema,
          401: unauthorised,
          403: notManager,
          404: problemResponse('No such device, or that person is not a member of its home.'),
          409: problemResponse('That person is a member, not a guest: they already see every device.'),
        },
      },
    },
    async (request) =>
      devices.share(principalOf(request).userId, request.params.deviceId, request.params.userId),
  );

  app.delete(
    '/v1/devices/:deviceId/shares/:userId',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Stop sharing a device with a guest',
        tags: ['devices'],
        params: shareParams,
        response: {
          204: z.null(),
          401: unauthorised,
          403: notManager,
          404: problemResponse('No such device, or it is not shared with that person.'),
        },
      },
    },
    async (request, reply) => {
      await devices.unshare(principalOf(request).userId, request.params.deviceId, request.params.userId);
      return reply.code(204).send(null);
    },
  );
};
