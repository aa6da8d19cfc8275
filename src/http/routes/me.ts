import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { EXPORT_FORMAT } from '../../accounts/export.js';
import type { Services } from '../../app.js';
import { idSchema } from '../../schema/ids.js';
import { clientOf, principalOf } from '../auth.js';
import { problemResponse } from '../problem.js';
import { emailField, nameField, passwordField } from './accounts.js';

const profileSchema = z.object({
  id: idSchema,
  name: z.string(),
  email: z.string(),
  emailVerified: z.boolean().describe('Until true, devices cannot be paired nor assistants linked.'),
  mfaEnabled: z.boolean(),
  createdAt: z.date(),
});

const exportSchema = z.object({
  format: z.literal(EXPORT_FORMAT),
  exportedAt: z.date(),
  sections: z
    .record(z.string(), z.unknown())
    .describe('One entry per domain holding data about me: profile, security, sessions, and more as added.'),
});

const unauthorised = problemResponse('No valid access token.');
const wrongPassword = problemResponse('The password is wrong, or a field is not acceptable; see errors.');
const tooMany = problemResponse('Too many password attempts; retry after the Retry-After header.');

/** The signed-in person's own account: profile, address, password, export and deletion. */
export const meRoutes: FastifyPluginAsyncZod<
  Pick<Services, 'accounts' | 'personalData' | 'accountDeletion'>
> = async (app, { accounts, personalData, accountDeletion }) => {
  app.get(
    '/v1/me',
    {
      config: { access: 'user' },
      schema: {
        summary: 'My profile',
        tags: ['me'],
        response: { 200: profileSchema, 401: unauthorised },
      },
    },
    async (request) => accounts.getProfile(principalOf(request).userId),
  );

  app.patch(
    '/v1/me',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Change my name',
        description: 'The e-mail address changes through POST /v1/me/email, which verifies the new one.',
        tags: ['me'],
        body: z.strictObject({ name: nameField }),
        response: { 200: profileSchema, 400: wrongPassword, 401: unauthorised },
      },
    },
    async (request) => accounts.rename(principalOf(request).userId, request.body.name),
  );

  app.delete(
    '/v1/me',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Delete my account and all my data',
        description:
          'Needs my password. Destroys my data key (crypto-shredding what is sealed under it), deletes my ' +
          'rows, cancels mail still queued for me and mails a confirmation to my address.',
        tags: ['me'],
        body: z.object({ password: passwordField }),
        response: { 204: z.null(), 400: wrongPassword, 401: unauthorised, 429: tooMany },
      },
    },
    async (request, reply) => {
      await accountDeletion.delete(principalOf(request).userId, request.body.password);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/me/email',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Change my e-mail address',
        description:
          'Needs my password. Mails a link (valid 24 hours) to the new address; the change happens when it ' +
          'is opened, and the old address is then told.',
        tags: ['me'],
        body: z.object({ password: passwordField, newEmail: emailField }),
        response: {
          202: z.object({ message: z.string() }),
          400: wrongPassword,
          401: unauthorised,
          429: tooMany,
        },
      },
    },
    async (request, reply) => {
      await accounts.requestEmailChange(principalOf(request).userId, request.body, clientOf(request));
      return reply
        .code(202)
        .send({ message: 'We have sent a link to the new address. Open it to complete the change.' });
    },
  );

  app.post(
    '/v1/me/email-verification',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Send me a new verification link',
        description: 'Earlier links stop working.',
        tags: ['me'],
        response: {
          202: z.object({ message: z.string() }),
          401: unauthorised,
          409: problemResponse('The address is already verified.'),
        },
      },
    },
    async (request, reply) => {
      await accounts.resendVerification(principalOf(request).userId);
      return reply.code(202).send({ message: 'We have sent a new verification link to your address.' });
    },
  );

  app.post(
    '/v1/me/password',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Change my password',
        description: 'Ends every other session of mine and mails a notice.',
        tags: ['me'],
        body: z.object({ current: passwordField, new: passwordField }),
        response: { 204: z.null(), 400: wrongPassword, 401: unauthorised, 429: tooMany },
      },
    },
    async (request, reply) => {
      await accounts.changePassword(principalOf(request), request.body, clientOf(request));
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/me/export',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Download all my data, decrypted',
        tags: ['me'],
        response: { 200: exportSchema, 401: unauthorised },
      },
    },
    async (request, reply) => {
      const exported = await personalData.exportFor(principalOf(request).userId);
      return reply.header('content-disposition', 'attachment; filename="hearth-export.json"').send(exported);
    },
  );
};
