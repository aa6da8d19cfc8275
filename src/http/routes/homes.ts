import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../app.js';
import { HOME_ROLES } from '../../homes/access.js';
import { idSchema } from '../../schema/ids.js';
import { principalOf } from '../auth.js';
import { problemResponse } from '../problem.js';
import { pageOf, pageQuery } from './paging.js';

const role = z.enum(HOME_ROLES as ['guest', 'member', 'admin', 'owner']);
const invitedRole = z.enum(['admin', 'member', 'guest']);
const homeName = z.string().max(400).describe('1 to 100 characters after trimming.');
const timeZone = z.string().min(1).max(64).describe('An IANA time zone, e.g. Europe/Berlin.');

const homeSchema = z.object({
  id: idSchema,
  name: z.string(),
  timeZone: z.string(),
  role: role.describe('My role in this home.'),
  createdAt: z.date(),
  updatedAt: z.date(),
});

const memberSchema = z.object({
  userId: idSchema,
  name: z.string().nullable(),
  email: z.string().optional().describe("Shown to the home's admins and owners only."),
  role,
  joinedAt: z.date(),
});

const invitationSchema = z.object({
  id: idSchema,
  email: z.string(),
  role: invitedRole,
  invitedBy: idSchema.nullable(),
  createdAt: z.date(),
  expiresAt: z.date(),
});

const homeParams = z.object({ homeId: idSchema });
const memberParams = homeParams.extend({ userId: idSchema });
const invitationParams = homeParams.extend({ invitationId: idSchema });

const invalid = problemResponse('A field is not acceptable; see errors.');
const unauthorised = problemResponse('No valid access token.');
const notFound = problemResponse('There is no such home, or I am not a member of it.');
const roleTooLow = problemResponse('My role in this home does not allow this.');
const lastOwner = problemResponse('This would leave the home without an owner (code last-owner).');

/** Homes, their members and roles, and invitations. */
export const homeRoutes: FastifyPluginAsyncZod<Pick<Services, 'homes'>> = async (app, { homes }) => {
  app.post(
    '/v1/homes',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Create a home; I become its owner',
        tags: ['homes'],
        body: z.strictObject({ name: homeName, timeZone }),
        response: { 201: homeSchema, 400: invalid, 401: unauthorised },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await homes.create(principalOf(request).userId, request.body)),
  );

  app.get(
    '/v1/homes',
    {
      config: { access: 'user' },
      schema: {
        summary: 'List the homes I belong to, with my role',
        tags: ['homes'],
        querystring: pageQuery,
        response: { 200: pageOf(homeSchema), 400: invalid, 401: unauthorised },
      },
    },
    async (request) => homes.listMine(principalOf(request).userId, request.query),
  );

  app.get(
    '/v1/homes/:homeId',
    {
      config: { access: 'user' },
      schema: {
        summary: 'One of my homes',
        tags: ['homes'],
        params: homeParams,
        response: { 200: homeSchema, 401: unauthorised, 404: notFound },
      },
    },
    async (request) => homes.get(principalOf(request).userId, request.params.homeId),
  );

  app.patch(
    '/v1/homes/:homeId',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Rename a home or change its time zone (admins and owners)',
        tags: ['homes'],
        params: homeParams,
        body: z
          .strictObject({ name: homeName.optional(), timeZone: timeZone.optional() })
          .refine((body) => body.name !== undefined || body.timeZone !== undefined, {
            message: 'Give a name, a time zone or both',
          }),
        response: { 200: homeSchema, 400: invalid, 401: unauthorised, 403: roleTooLow, 404: notFound },
      },
    },
    async (request) => homes.update(principalOf(request).userId, request.params.homeId, request.body),
  );

  app.delete(
    '/v1/homes/:homeId',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Delete a home and everything recorded about it (owners)',
        description:
          "Unpairs its devices, deletes its members, invitations, devices, events and readings, and destroys the home's key.",
        tags: ['homes'],
        params: homeParams,
        response: { 204: z.null(), 401: unauthorised, 403: roleTooLow, 404: notFound },
      },
    },
    async (request, reply) => {
      await homes.delete(principalOf(request).userId, request.params.homeId);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/homes/:homeId/members',
    {
      config: { access: 'user' },
      schema: {
        summary: "A home's members and their roles",
        tags: ['homes'],
        params: homeParams,
        querystring: pageQuery,
        response: { 200: pageOf(memberSchema), 400: invalid, 401: unauthorised, 404: notFound },
      },
    },
    async (request) => homes.listMembers(principalOf(request).userId, request.params.homeId, request.query),
  );

  app.patch(
    '/v1/homes/:homeId/members/:userId',
    {
      config: { access: 'user' },
      schema: {
        summary: "Change a member's role",
        description:
          'Owners may give any role, owner included; admins may move members and guests between those two roles.',
        tags: ['homes'],
        params: memberParams,
        body: z.strictObject({ role }),
        response: {
          200: memberSchema,
          401: unauthorised,
          403: roleTooLow,
          404: notFound,
          409: lastOwner,
        },
      },
    },
    async (request) =>
      homes.changeRole(
        principalOf(request).userId,
        request.params.homeId,
        request.params.userId,
        request.body.role,
      ),
  );

  app.delete(
    '/v1/homes/:homeId/members/:userId',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Remove a member, or leave the home (my own id)',
        description:
          'Admins remove members and guests, owners anyone. The last owner cannot leave: delete the home or make someone else an owner first.',
        tags: ['homes'],
        params: memberParams,
        response: { 204: z.null(), 401: unauthorised, 403: roleTooLow, 404: notFound, 409: lastOwner },
      },
    },
    async (request, reply) => {
      await homes.removeMember(principalOf(request).userId, request.params.homeId, request.params.userId);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/homes/:homeId/invitations',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Invite someone by e-mail (admins and owners)',
        description:
          'Mails a single-use invitation valid 7 days; only owners may invite admins. My own address must be verified.',
        tags: ['homes'],
        params: homeParams,
        body: z.strictObject({ email: z.email().max(254), role: invitedRole }),
        response: {
          201: invitationSchema,
          400: invalid,
          401: unauthorised,
          403: roleTooLow,
          404: notFound,
          409: problemResponse('This person is already a member.'),
        },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(await homes.invite(principalOf(request).userId, request.params.homeId, request.body)),
  );

  app.get(
    '/v1/homes/:homeId/invitations',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Pending invitations of a home (admins and owners)',
        tags: ['homes'],
        params: homeParams,
        querystring: pageQuery,
        response: {
          200: pageOf(invitationSchema),
          400: invalid,
          401: unauthorised,
          403: roleTooLow,
          404: notFound,
        },
      },
    },
    async (request) =>
      homes.listInvitations(principalOf(request).userId, request.params.homeId, request.query),
  );

  app.delete(
    '/v1/homes/:homeId/invitations/:invitationId',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Withdraw a pending invitation (admins and owners)',
        tags: ['homes'],
        params: invitationParams,
        response: { 204: z.null(), 401: unauthorised, 403: roleTooLow, 404: notFound },
      },
    },
    async (request, reply) => {
      const { homeId, invitationId } = request.params;
      await homes.revokeInvitation(principalOf(request).userId, homeId, invitationId);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/invitations/accept',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Accept an invitation to a home',
        description: 'I must be logged in with the verified address the invitation was sent to.',
        tags: ['homes'],
        body: z.strictObject({ token: z.string().min(1).max(200) }),
        response: {
          200: homeSchema,
          401: unauthorised,
          403: problemResponse('The invitation is for another address, or mine is not verified.'),
          409: problemResponse('I am already a member of this home.'),
          410: problemResponse('The invitation has expired, was used or was withdrawn.'),
        },
      },
    },
    async (request) => homes.acceptInvitation(principalOf(request).userId, request.body.token),
  );
};
