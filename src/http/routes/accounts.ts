import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../app.js';
import { clientOf } from '../auth.js';
import { problemResponse } from '../problem.js';
import { tokenResponseSchema } from './sessions.js';

/**
 * Bounds the input, not the policy: the password rules answer with their own clear message. `format:
 * password` makes the docs page mask it, and lets tests find every route that takes a password.
 */
export const passwordField = z.string().min(1).max(1024).meta({ format: 'password' });
export const emailField = z.email().max(254);
export const nameField = z.string().trim().min(1).max(100);
const tokenField = z.string().min(1).max(200).describe('The token from the link (after `#token=`).');

/** Log-in's body, shared with the console's log-in (console-sessions.ts). */
export const logInBody = z.object({
  email: emailField,
  password: passwordField,
  totpCode: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .describe('A code from the authenticator app, or a recovery code.'),
});

/** The one answer for requests that must not tell whether an address has an account. */
const acceptedSchema = z.object({ message: z.string() });

const SIGN_UP_ACCEPTED =
  'Check your inbox: we have sent a message to this address. Follow it to verify your address.';
const RESET_ACCEPTED =
  'If this address belongs to an account, we have sent it a link to choose a new password. It works for 30 minutes.';

const invalid = problemResponse('A field is missing or not acceptable (e.g. a weak password); see errors.');
const tooMany = problemResponse('Too many attempts; retry after the Retry-After header.');
const linkGone = problemResponse('The link has expired or was already used.');

/** Sign-up, e-mail verification, password reset and login: everything a person does before a session. */
export const accountRoutes: FastifyPluginAsyncZod<
  Pick<Services, 'accounts' | 'passwordResets' | 'logins'>
> = async (app, { accounts, passwordResets, logins }) => {
  app.post(
    '/v1/accounts',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Sign up',
        description:
          'Always answers 202 with the same body, whether or not the address already has an account; a ' +
          'verification link (valid 24 hours) is mailed to a new one, a notice to an existing one.',
        tags: ['accounts'],
        body: z.object({ name: nameField, email: emailField, password: passwordField }),
        response: { 202: acceptedSchema, 400: invalid, 429: tooMany },
      },
    },
    async (request, reply) => {
      await accounts.signUp(request.body, clientOf(request));
      return reply.code(202).send({ message: SIGN_UP_ACCEPTED });
    },
  );

  app.post(
    '/v1/email-verifications',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Verify an e-mail address with the token from a mailed link',
        description: 'Confirms the sign-up address, or completes a change of address.',
        tags: ['accounts'],
        body: z.object({ token: tokenField }),
        response: {
          200: z.object({ result: z.enum(['email-verified', 'email-changed']) }),
          400: invalid,
          409: problemResponse('The new address is now used by another account.'),
          410: linkGone,
        },
      },
    },
    async (request) => ({ result: await accounts.verifyEmail(request.body.token) }),
  );

  app.post(
    '/v1/password-resets',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Ask for a password reset link',
        description: 'Always answers 202 with the same body, whether or not the address has an account.',
        tags: ['accounts'],
        body: z.object({ email: emailField }),
        response: { 202: acceptedSchema, 400: invalid, 429: tooMany },
      },
    },
    async (request, reply) => {
      await passwordResets.request(request.body.email, clientOf(request));
      return reply.code(202).send({ message: RESET_ACCEPTED });
    },
  );

  app.post(
    '/v1/password-resets/complete',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Choose a new password with the token from a reset link',
        description: 'Ends every session of the account and mails a confirmation.',
        tags: ['accounts'],
        body: z.object({ token: tokenField, password: passwordField }),
        response: { 204: z.null(), 400: invalid, 410: linkGone },
      },
    },
    async (request, reply) => {
      await passwordResets.complete(request.body.token, request.body.password, clientOf(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/sessions',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Log in',
        description:
          'With two-step verification on, a first attempt without `totpCode` answers 401 with the problem ' +
          'type /problems/totp-required. A password an operator has expired answers 403 ' +
          '/problems/password-reset-required and mails a reset link.',
        tags: ['sessions'],
        body: logInBody,
        response: {
          200: tokenResponseSchema,
          400: invalid,
          401: problemResponse(
            'The address or password is not right, or the second factor is missing or wrong.',
          ),
          403: problemResponse('A new password must be chosen first; a link was mailed.'),
          429: tooMany,
        },
      },
    },
    async (request) => logins.logIn(request.body, clientOf(request)),
  );
};
