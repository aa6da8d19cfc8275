import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { MfaService } from '../../accounts/mfa.js';
import { principalOf } from '../auth.js';
import { problemResponse } from '../problem.js';
import { passwordField } from './accounts.js';

// Generous bounds: a TOTP code is 6 digits and a recovery code 19 characters, but people paste spaces.
const code = z
  .string()
  .min(1)
  .max(64)
  .describe('A current code from the authenticator app, or a recovery code.');

const enrolmentSchema = z.object({
  secret: z.string().describe('Base32; for typing into an app that cannot scan a QR code.'),
  otpauthUri: z.string().describe('The otpauth:// URI to show as a QR code.'),
});

const recoveryCodesSchema = z.object({
  recoveryCodes: z
    .array(z.string())
    .describe('Each works once in place of a code. Shown only now: store them somewhere safe.'),
});

const statusSchema = z.object({
  enabled: z.boolean(),
  pending: z.boolean().describe('Enrolled but not yet confirmed with a code.'),
  enabledAt: z.date().nullable(),
  recoveryCodesLeft: z.number().int(),
});

const unauthorised = problemResponse('No valid access token.');
const wrongCode = problemResponse('The code is not correct, or was already used.');
const tooMany = problemResponse('Too many attempts; see Retry-After.');

/** Two-step sign-in of the caller's own account. */
export const mfaRoutes: FastifyPluginAsyncZod<{ mfa: MfaService }> = async (app, { mfa }) => {
  app.get(
    '/v1/me/mfa',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Whether two-step sign-in is on, and how many recovery codes are left',
        tags: ['mfa'],
        response: { 200: statusSchema, 401: unauthorised },
      },
    },
    async (request) => mfa.status(principalOf(request).userId),
  );

  app.post(
    '/v1/me/mfa/totp',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Start enrolling an authenticator app (replaces an unconfirmed enrolment)',
        tags: ['mfa'],
        response: {
          201: enrolmentSchema,
          401: unauthorised,
          409: problemResponse('Two-step sign-in is already on.'),
        },
      },
    },
    async (request, reply) => reply.code(201).send(await mfa.enrol(principalOf(request).userId)),
  );

  app.post(
    '/v1/me/mfa/totp/confirm',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Turn two-step sign-in on with a first code from the app',
        tags: ['mfa'],
        body: z.object({ code }),
        response: {
          200: recoveryCodesSchema,
          400: wrongCode,
          401: unauthorised,
          409: problemResponse('Nothing is enrolled, or two-step sign-in is already on.'),
          429: tooMany,
        },
      },
    },
    async (request) => mfa.confirm(principalOf(request).userId, request.body.code),
  );

  app.delete(
    '/v1/me/mfa/totp',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Turn two-step sign-in off (needs the password and a code)',
        tags: ['mfa'],
        body: z.object({ password: passwordField, code }),
        response: {
          204: z.null(),
          400: problemResponse('The password or the code is not correct.'),
          401: unauthorised,
          409: problemResponse('Two-step sign-in is not on.'),
          429: tooMany,
        },
      },
    },
    async (request, reply) => {
      const { password, code } = request.body;
      await mfa.disable(principalOf(request).userId, password, code);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/me/mfa/recovery-codes',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Replace all recovery codes with ten new ones',
        tags: ['mfa'],
        body: z.object({ code }),
        response: {
          200: recoveryCodesSchema,
          400: wrongCode,
          401: unauthorised,
          409: problemResponse('Two-step sign-in is not on.'),
          429: tooMany,
        },
      },
    },
    async (request) => mfa.regenerateRecoveryCodes(principalOf(request).userId, request.body.code),
  );
};
