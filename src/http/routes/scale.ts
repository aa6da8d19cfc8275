import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../app.js';
import { bodyProfileFields, SEXES } from '../../scale/schema.js';
import { instant } from '../../schema/dates.js';
import { idSchema } from '../../schema/ids.js';
import { principalOf } from '../auth.js';
import { problemResponse } from '../problem.js';

const profileSchema = z.object({
  id: idSchema,
  homeId: idSchema,
  userId: idSchema.nullable().describe('The account this profile describes; only that person sees it then.'),
  createdBy: idSchema.nullable(),
  name: z.string(),
  heightCm: z.number(),
  birthDate: z.string().describe('YYYY-MM-DD'),
  sex: z.enum(SEXES),
  consentGivenAt: z.date().nullable().describe('Readings are stored only while consent is on record.'),
  consentGivenBy: idSchema.nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

const readingSchema = z.object({
  id: idSchema,
  profileId: idSchema,
  deviceId: idSchema.nullable().describe('The scale that measured it; null once that scale is removed.'),
  measuredAt: z.date(),
  weightKg: z.number(),
  bmi: z.number().describe('As the scale sent it, or computed from the weight and the profile’s height.'),
  bodyFatPct: z.number().optional(),
  muscleMassKg: z.number().optional(),
  waterPct: z.number().optional(),
  boneMassKg: z.number().optional(),
  metabolicAge: z.number().optional(),
  impedanceOhm: z.number().optional(),
});

const page = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    next: z.string().nullable().describe('Pass as `cursor` for the next page.'),
  });

const limit = z.coerce.number().int().min(1).max(100).default(20);
const cursor = z.string().min(1).max(200).optional().describe("The previous page's `next`.");
const profileParams = z.object({ profileId: idSchema });

const unauthorised = problemResponse('No valid access token.');
const invalid = problemResponse('A field is not acceptable; see errors.');
const profileNotFound = problemResponse('No such body profile, or it is not yours to see.');
const homeNotFound = problemResponse('No such home, or you are not a member.');

/** Body profiles of a home's household, their consent, and the readings the home's scale takes for them. */
export const scaleRoutes: FastifyPluginAsyncZod<Pick<Services, 'scale'>> = async (app, { scale }) => {
  app.post(
    '/v1/homes/:homeId/body-profiles',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Add a body profile to a home',
        description:
          'Members, admins and owners may add profiles; guests may not. With `userId` the profile describes ' +
          'that member of the home, and only they will see it and its readings.',
        tags: ['scale'],
        params: z.object({ homeId: idSchema }),
        body: bodyProfileFields.extend({ userId: idSchema.nullable().optional() }),
        response: {
          201: profileSchema,
          400: invalid,
          401: unauthorised,
          403: problemResponse('Guests cannot add body profiles.'),
          404: homeNotFound,
        },
      },
    },
    async (request, reply) => {
      const profile = await scale.createProfile(
        principalOf(request).userId,
        request.params.homeId,
        request.body,
      );
      return reply.code(201).send(profile);
    },
  );

  app.get(
    '/v1/homes/:homeId/body-profiles',
    {
      config: { access: 'user' },
      schema: {
        summary: "List the home's body profiles I may see",
        description:
          'Profiles linked to me, profiles I created that describe no account, and, for admins and owners, ' +
          'every profile of the home that describes no account. Oldest first.',
        tags: ['scale'],
        params: z.object({ homeId: idSchema }),
        querystring: z.object({ limit, cursor }),
        response: { 200: page(profileSchema), 400: invalid, 401: unauthorised, 404: homeNotFound },
      },
    },
    async (request) => scale.listProfiles(principalOf(request).userId, request.params.homeId, request.query),
  );

  app.get(
    '/v1/body-profiles/:profileId',
    {
      config: { access: 'user' },
      schema: {
        summary: 'A body profile',
        tags: ['scale'],
        params: profileParams,
        response: { 200: profileSchema, 401: unauthorised, 404: profileNotFound },
      },
    },
    async (request) => scale.getProfile(principalOf(request).userId, request.params.profileId),
  );

  app.patch(
    '/v1/body-profiles/:profileId',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Change a body profile',
        tags: ['scale'],
        params: profileParams,
        body: bodyProfileFields.partial(),
        response: { 200: profileSchema, 400: invalid, 401: unauthorised, 404: profileNotFound },
      },
    },
    async (request) =>
      scale.updateProfile(principalOf(request).userId, request.params.profileId, request.body),
  );

  app.delete(
    '/v1/body-profiles/:profileId',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Delete a body profile and all its readings',
        tags: ['scale'],
        params: profileParams,
        response: { 204: z.null(), 401: unauthorised, 404: profileNotFound },
      },
    },
    async (request, reply) => {
      await scale.deleteProfile(principalOf(request).userId, request.params.profileId);
      return reply.code(204).send(null);
    },
  );

  app.put(
    '/v1/body-profiles/:profileId/consent',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Consent to storing scale readings for this profile',
        description:
          'Given by the person the profile describes, or, for a profile without an account, by its creator ' +
          'or an admin or owner acting for that person. Until then the scale’s readings are dropped.',
        tags: ['scale'],
        params: profileParams,
        body: z.strictObject({ consent: z.literal(true) }),
        response: { 200: profileSchema, 400: invalid, 401: unauthorised, 404: profileNotFound },
      },
    },
    async (request) => scale.giveConsent(principalOf(request).userId, request.params.profileId),
  );

  app.delete(
    '/v1/body-profiles/:profileId/consent',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Withdraw consent and delete every reading of this profile',
        tags: ['scale'],
        params: profileParams,
        response: { 200: profileSchema, 401: unauthorised, 404: profileNotFound },
      },
    },
    async (request) => scale.withdrawConsent(principalOf(request).userId, request.params.profileId),
  );

  app.get(
    '/v1/body-profiles/:profileId/readings',
    {
      config: { access: 'user' },
      schema: {
        summary: "A body profile's readings, newest first",
        tags: ['scale'],
        params: profileParams,
        querystring: z.object({
          from: instant.optional().describe('Measured at or after this time.'),
          to: instant.optional().describe('Measured before this time.'),
          limit,
          cursor,
        }),
        response: { 200: page(readingSchema), 400: invalid, 401: unauthorised, 404: profileNotFound },
      },
    },
    async (request) =>
      scale.listReadings(principalOf(request).userId, request.params.profileId, request.query),
  );

  app.delete(
    '/v1/body-profiles/:profileId/readings',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Delete every reading of a body profile',
        description: 'The profile and its consent stay.',
        tags: ['scale'],
        params: profileParams,
        response: { 204: z.null(), 401: unauthorised, 404: profileNotFound },
      },
    },
    async (request, reply) => {
      await scale.deleteReadings(principalOf(request).userId, request.params.profileId);
      return reply.code(204).send(null);
    },
  );

  app.delete(
    '/v1/body-profiles/:profileId/readings/:readingId',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Delete one reading',
        tags: ['scale'],
        params: profileParams.extend({ readingId: idSchema }),
        response: {
          204: z.null(),
          401: unauthorised,
          404: problemResponse('No such body profile or reading, or it is not yours to see.'),
        },
      },
    },
    async (request, reply) => {
      const { profileId, readingId } = request.params;
      await scale.deleteReading(principalOf(request).userId, profileId, readingId);
      return reply.code(204).send(null);
    },
  );
};
